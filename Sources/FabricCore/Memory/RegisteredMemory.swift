import Foundation

/// Page-aligned memory, faulted in and registered with a transport once, then reused for
/// every iteration and size (registration is expensive; first touch must not be timed).
/// Dropping it deregisters the memory, then frees it.
public final class RegisteredMemory {
    public let bytes: UnsafeMutableRawBufferPointer
    public let region: MemoryRegion
    /// Weak: memory must not keep a transport open; a transport that is gone has released
    /// every registration in its close.
    private weak var transport: (any Transport)?

    /// At least 64 bytes, so even empty buffers have a valid address.
    public init(count: Int, transport: Transport) throws {
        let size = max(count, 64)
        // Buffers of a huge page or more are asked to be backed by huge pages (where the
        // kernel's transparent huge pages are "madvise" or "always"): each copy the kernel
        // makes into or out of them then walks one page table entry per 2 MiB, not 512.
        let huge = size >= Self.hugePageBytes
        var pointer: UnsafeMutableRawPointer?
        guard posix_memalign(&pointer, huge ? Self.hugePageBytes : 4096, size) == 0, let pointer else {
            throw FabricError.configuration("rank \(transport.rank): cannot allocate a \(size)-byte buffer: lower -e")
        }
        if huge { _ = madvise(pointer, size, MADV_HUGEPAGE) }  // advice: refused, the buffer still works
        memset(pointer, 0, size)
        bytes = UnsafeMutableRawBufferPointer(start: pointer, count: size)
        do {
            region = try transport.register(bytes)
        } catch {
            free(pointer)
            throw error
        }
        self.transport = transport
    }

    static let hugePageBytes = 2 << 20

    // Deregister first: a NIC must never hold a registration of memory given back to malloc.
    deinit {
        transport?.deregister(region)
        free(bytes.baseAddress)
    }
}
