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
        var pointer: UnsafeMutableRawPointer?
        guard posix_memalign(&pointer, 4096, size) == 0, let pointer else {
            throw FabricError.configuration("rank \(transport.rank): cannot allocate a \(size)-byte buffer: lower -e")
        }
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

    // Deregister first: a NIC must never hold a registration of memory given back to malloc.
    deinit {
        transport?.deregister(region)
        free(bytes.baseAddress)
    }
}
