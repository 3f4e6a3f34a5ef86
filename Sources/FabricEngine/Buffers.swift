import FabricCore
import Foundation

/// The engines' test patterns and control words on registered memory.
extension RegisteredMemory {
    /// A pattern that differs per byte and per iteration, so misplaced or stale data shows.
    func fill(count: Int, seed: UInt64) {
        let p = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let s = UInt8(truncatingIfNeeded: seed &* 7 &+ 1)
        for i in 0..<count { p[i] = UInt8(truncatingIfNeeded: i &* 131) &+ s }
    }

    /// Bytes in the first `count` that differ from `other`.
    func mismatches(against other: RegisteredMemory, count: Int) -> Int {
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
