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
    /// A huge buffer's own mapping (to unmap); nil for malloc'd ones.
    private let mapping: UnsafeMutableRawBufferPointer?

    /// At least 64 bytes, so even empty buffers have a valid address.
    public init(count: Int, transport: Transport) throws {
        let size = max(count, 64)
        let (pointer, mapping) = try Self.allocate(size, rank: transport.rank)
        memset(pointer, 0, size)
        bytes = UnsafeMutableRawBufferPointer(start: pointer, count: size)
        self.mapping = mapping
        do {
            region = try transport.register(bytes)
        } catch {
            Self.release(pointer, mapping)
            throw error
        }
        self.transport = transport
    }

    /// Buffers of a huge page or more get a mapping of their own, aligned to a huge page and
    /// advised MADV_HUGEPAGE (transparent huge pages "madvise" or "always"): each copy the
    /// kernel makes into or out of them then walks one page-table entry per huge page, not
    /// 512. Their own mapping, not malloc's heap: the advice must not outlive the buffer on
    /// memory malloc hands out again. Smaller buffers come from malloc, page-aligned.
    private static func allocate(_ size: Int, rank: Int) throws -> (UnsafeMutableRawPointer, UnsafeMutableRawBufferPointer?) {
        let failed = FabricError.configuration("rank \(rank): cannot allocate a \(size)-byte buffer: lower -e")
        guard size >= hugePageBytes else {
            var pointer: UnsafeMutableRawPointer?
            guard posix_memalign(&pointer, 4096, size) == 0, let pointer else { throw failed }
            return (pointer, nil)
        }
        let span = size + hugePageBytes
        guard let base = mmap(nil, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), base != MAP_FAILED else { throw failed }
        let aligned = base + (hugePageBytes - Int(bitPattern: base) % hugePageBytes) % hugePageBytes
        _ = madvise(aligned, size, MADV_HUGEPAGE)  // advice: where refused, the buffer still works
        return (aligned, UnsafeMutableRawBufferPointer(start: base, count: span))
    }

    private static func release(_ pointer: UnsafeMutableRawPointer, _ mapping: UnsafeMutableRawBufferPointer?) {
        if let mapping { munmap(mapping.baseAddress, mapping.count) } else { free(pointer) }
    }

    /// The kernel's transparent huge page size (2 MiB on x86-64; 512 MiB on arm64 with 64 KiB pages).
    static let hugePageBytes: Int = {
        let text = try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", encoding: .utf8)
        return text.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }.flatMap { $0 > 0 ? $0 : nil } ?? 2 << 20
    }()

    // Deregister first: a NIC must never hold a registration of memory given back.
    deinit {
        transport?.deregister(region)
        Self.release(bytes.baseAddress!, mapping)
    }
}
