import FabricTransport
import Foundation

/// A page-aligned, pre-touched buffer registered with the transport once and reused for
/// every iteration and size.
final class RegisteredBuffer {
    let bytes: UnsafeMutableRawBufferPointer
    let region: MemoryRegion

    init(count: Int, transport: Transport) throws {
        let size = max(count, 64)
        var pointer: UnsafeMutableRawPointer?
        guard posix_memalign(&pointer, 4096, size) == 0, let pointer else {
            throw FabricError.configuration("cannot allocate a \(size)-byte buffer: lower -e")
        }
        memset(pointer, 0, size)  // fault the pages in before timing
        bytes = UnsafeMutableRawBufferPointer(start: pointer, count: size)
        region = try transport.register(bytes)
    }

    deinit { free(bytes.baseAddress) }

    /// A pattern that differs per byte and per iteration, so misplaced or stale data shows.
    func fill(count: Int, seed: UInt64) {
        let p = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let s = UInt8(truncatingIfNeeded: seed &* 7 &+ 1)
        for i in 0..<count { p[i] = UInt8(truncatingIfNeeded: i &* 131) &+ s }
    }

    /// Bytes in the first `count` that differ from `other`.
    func mismatches(against other: RegisteredBuffer, count: Int) -> Int {
        if memcmp(bytes.baseAddress!, other.bytes.baseAddress!, count) == 0 { return 0 }
        let a = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let b = other.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var n = 0
        for i in 0..<count where a[i] != b[i] { n += 1 }
        return n
    }

    /// The 8-byte control word at the start (batch sizes, acknowledgements).
    var word: UInt64 {
        get { bytes.load(as: UInt64.self) }
        set { bytes.storeBytes(of: newValue, as: UInt64.self) }
    }
}
