import CFabricSystem
import FabricCore
import Foundation
import Synchronization

/// One direction between two ranks: a byte stream in shared memory with one producer and one
/// consumer. `head` and `tail` count bytes ever produced and consumed; each has one writer,
/// which publishes with a release store after copying, and the other side reads it with an
/// acquire load before touching the bytes it covers.
struct Ring {
    /// Bytes ever produced; written by the producer only.
    let head: UnsafeMutablePointer<Atomic<UInt64>>
    /// Bytes ever consumed; written by the consumer only.
    let tail: UnsafeMutablePointer<Atomic<UInt64>>
    let data: UnsafeMutableRawPointer
    /// A power of two.
    let capacity: Int

    @inline(__always)
    func copyIn(at position: UInt64, from source: UnsafeRawPointer, count: Int) {
        let offset = Int(truncatingIfNeeded: position) & (capacity - 1)
        let first = min(count, capacity - offset)
        memcpy(data + offset, source, first)
        if first < count { memcpy(data, source + first, count - first) }
    }

    @inline(__always)
    func copyOut(at position: UInt64, into destination: UnsafeMutableRawPointer, count: Int) {
        let offset = Int(truncatingIfNeeded: position) & (capacity - 1)
        let first = min(count, capacity - offset)
        memcpy(destination, data + offset, first)
        if first < count { memcpy(destination + first, data, count - first) }
    }

    /// Words sit at multiples of 8 and the capacity is one, so a word never wraps.
    @inline(__always)
    func storeWord(_ value: UInt64, at position: UInt64) {
        (data + (Int(truncatingIfNeeded: position) & (capacity - 1))).storeBytes(of: value, as: UInt64.self)
    }

    @inline(__always)
    func loadWord(at position: UInt64) -> UInt64 {
        (data + (Int(truncatingIfNeeded: position) & (capacity - 1))).load(as: UInt64.self)
    }
}

/// Messages in a ring: an 8-byte header (a tag and the length), the payload, padding to 8.
/// Both sides advance through a frame in steps of at most a chunk, always by multiples of 8,
/// so a header never straddles the ring's end.
enum Frame {
    static let tag: UInt64 = 0x5348 << 48  // "SH"
    static let lengthMask: UInt64 = (1 << 48) - 1
    static let maxLength = Int(lengthMask)

    @inline(__always)
    static func bytes(length: Int) -> Int { 8 + (length + 7) & ~7 }
}

/// The shared memory of two ranks, created by the lower rank: a header, then one ring per
/// direction. Counters written by different sides sit 128 bytes apart (no false sharing,
/// also not with the adjacent-line prefetcher).
///
///     0     magic, ring capacity
///     64    attached: the higher rank has mapped the segment
///     128   closed by the lower rank     192   closed by the higher rank
///     256   ring 0 head   384 ring 0 tail     (lower rank -> higher rank)
///     512   ring 1 head   640 ring 1 tail     (higher rank -> lower rank)
///     4096  ring 0 data, then ring 1 data
enum PairLayout {
    static let magic: UInt64 = 0x3130_304D_4853_4246  // "FBSHM001"
    static let dataOffset = 4096

    static func size(capacity: Int) -> Int { dataOffset + 2 * capacity }

    static func initialize(_ base: UnsafeMutableRawPointer, capacity: Int) {
        base.storeBytes(of: magic, as: UInt64.self)
        (base + 8).storeBytes(of: UInt64(capacity), as: UInt64.self)
        for offset in [64, 128, 192] { _ = (base + offset).bindMemory(to: Atomic<UInt32>.self, capacity: 1) }
        for offset in [256, 384, 512, 640] { _ = (base + offset).bindMemory(to: Atomic<UInt64>.self, capacity: 1) }
    }

    /// The ring capacity the creator chose, after checking the segment is one of ours.
    static func capacity(of segment: SharedSegment, peer: String) throws -> Int {
        guard segment.size >= dataOffset, segment.base.load(as: UInt64.self) == magic else {
            throw FabricError.protocolViolation(peer: peer, detail: "/dev/shm\(segment.name) is not a fabricbench ring segment (another version?)")
        }
        let capacity = Int((segment.base + 8).load(as: UInt64.self))
        guard capacity >= 4096, capacity & (capacity - 1) == 0, segment.size >= size(capacity: capacity) else {
            throw FabricError.protocolViolation(peer: peer, detail: "ring capacity \(capacity) does not fit /dev/shm\(segment.name) of \(segment.size) bytes")
        }
        return capacity
    }

    static func attached(_ base: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (base + 64).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// Set by `side` (0 lower, 1 higher) when it closes.
    static func closed(_ base: UnsafeMutableRawPointer, side: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (base + 128 + 64 * side).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// Ring 0 carries lower to higher, ring 1 higher to lower.
    static func ring(_ index: Int, of base: UnsafeMutableRawPointer, capacity: Int) -> Ring {
        Ring(head: (base + 256 + 256 * index).assumingMemoryBound(to: Atomic<UInt64>.self),
             tail: (base + 384 + 256 * index).assumingMemoryBound(to: Atomic<UInt64>.self),
             data: base + dataOffset + capacity * index, capacity: capacity)
    }
}

/// Every rank's doorbell, in one segment rank 0 creates: a header line, then a 128-byte slot
/// per rank holding the futex word peers bump and the flag saying its owner sleeps.
///
///     0               attached: ranks that have mapped the segment
///     128 + 128 * r   rank r: futex word; +4: sleeping flag
enum DoorbellLayout {
    static func size(ranks: Int) -> Int { (128 + 128 * ranks + 4095) & ~4095 }

    static func attached(_ base: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (base).bindMemory(to: Atomic<UInt32>.self, capacity: 1)
    }

    static func bell(of rank: Int, in base: UnsafeMutableRawPointer) -> Doorbell {
        let slot = base + 128 + 128 * rank
        return Doorbell(word: slot.bindMemory(to: Atomic<UInt32>.self, capacity: 2),
                        sleeping: (slot + 4).assumingMemoryBound(to: Atomic<UInt32>.self))
    }
}

/// A rank's doorbell. Its owner sleeps on the word (a shared futex); a peer that published
/// data or freed ring space bumps the word and wakes the owner, but only when the sleeping
/// flag is up, so a busy pair never enters the kernel.
///
/// No lost wake-up: the owner raises the flag, fences, and only then re-checks its rings; a
/// peer publishes, fences, and only then reads the flag. Of two sequentially consistent
/// fences one comes first, so either the peer sees the flag (and wakes the owner, whose futex
/// wait returns at once if the word already moved since `prepareToSleep`), or the owner's
/// re-check sees the data (and does not sleep).
struct Doorbell {
    let word: UnsafeMutablePointer<Atomic<UInt32>>
    let sleeping: UnsafeMutablePointer<Atomic<UInt32>>

    private var futexWord: UnsafeMutablePointer<UInt32> {
        UnsafeMutableRawPointer(word).assumingMemoryBound(to: UInt32.self)
    }

    /// A peer, after publishing: wakes the owner if it sleeps.
    @inline(__always)
    func ring() {
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if sleeping.pointee.load(ordering: .relaxed) != 0 { wake() }
    }

    @inline(never)
    func wake() {
        word.pointee.wrappingAdd(1, ordering: .releasing)
        _ = fab_futex_wake(futexWord, Int32.max)
    }

    /// The owner, before re-checking its rings: returns the word to sleep on.
    func prepareToSleep() -> UInt32 {
        let seen = word.pointee.load(ordering: .acquiring)
        sleeping.pointee.store(1, ordering: .relaxed)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        return seen
    }

    /// Sleeps unless the word moved since `seen`; woken by `wake`, a signal or the timeout.
    func sleep(ifStill seen: UInt32, milliseconds: Int32) {
        _ = fab_futex_wait(futexWord, seen, milliseconds)
    }

    func awake() { sleeping.pointee.store(0, ordering: .relaxed) }
}
