import FabricCore
import Foundation
import Synchronization

/// One connected peer: the ring this rank produces into, the ring it consumes from, the
/// peer's doorbell, and the operations posted to the peer, in post order.
///
/// A send completes once its whole frame is in the ring (the source buffer is free again);
/// a receive once its whole frame left the ring. Large messages stream through in chunks, and
/// `progress` advances both directions, so two ranks sending large messages at each other
/// never wait on each other's full ring.
final class PeerChannel {
    struct Operation {
        var base: UnsafeMutableRawPointer
        var length: Int
        /// Frame bytes (header, payload, padding) already through the ring.
        var done: Int
        var id: UInt64
        var frameBytes: Int { Frame.bytes(length: length) }
    }

    let peer: Int
    /// "rank 3 (shm)", for errors and timeouts.
    let name: String
    private let rank: Int
    private let segment: SharedSegment
    private let outbound: Ring
    private let inbound: Ring
    private let peerBell: Doorbell
    private let ownClosed: UnsafeMutablePointer<Atomic<UInt32>>
    private let peerClosed: UnsafeMutablePointer<Atomic<UInt32>>
    private let chunkBytes: Int
    // One thread drives a rank's transport: no dynamic exclusivity checks on the hot path.
    @exclusivity(unchecked) private(set) var sends = FIFO<Operation>()
    @exclusivity(unchecked) private(set) var receives = FIFO<Operation>()
    /// Our head of the outbound ring, and its tail as last read.
    @exclusivity(unchecked) private var produced: UInt64 = 0
    @exclusivity(unchecked) private var consumedSeen: UInt64 = 0
    /// Our tail of the inbound ring, and its head as last read.
    @exclusivity(unchecked) private var consumed: UInt64 = 0
    @exclusivity(unchecked) private var producedSeen: UInt64 = 0

    var isIdle: Bool { sends.isEmpty && receives.isEmpty }

    /// `segment` holds both rings; the lower rank of the pair produces into ring 0.
    init(rank: Int, peer: Int, segment: SharedSegment, capacity: Int, peerBell: Doorbell, chunkBytes: Int) {
        self.rank = rank
        self.peer = peer
        name = "rank \(peer) (shm)"
        self.segment = segment
        let side = rank < peer ? 0 : 1
        outbound = PairLayout.ring(side, of: segment.base, capacity: capacity)
        inbound = PairLayout.ring(1 - side, of: segment.base, capacity: capacity)
        ownClosed = PairLayout.closed(segment.base, side: side)
        peerClosed = PairLayout.closed(segment.base, side: 1 - side)
        self.peerBell = peerBell
        self.chunkBytes = min(chunkBytes, capacity)
    }

    /// Queues a send and, when nothing is ahead of it, writes what the ring has room for at
    /// once (ringing the peer if anything moved); a send that finishes is appended to
    /// `completions`.
    func postSend(_ op: Operation, _ completions: inout [Completion]) {
        let first = sends.isEmpty
        sends.append(op)
        if first && produce(&completions) { peerBell.ring() }
    }
    func postReceive(_ op: Operation) { receives.append(op) }

    /// Moves what it can in both directions; rings the peer's doorbell if anything moved.
    @inline(__always)
    func progress(_ completions: inout [Completion]) throws {
        var moved = false
        if !sends.isEmpty { moved = produce(&completions) }
        if !receives.isEmpty { moved = try consume(&completions) || moved }
        if moved { peerBell.ring() }
    }

    @inline(__always)
    private func produce(_ completions: inout [Completion]) -> Bool {
        var moved = false
        let capacity = outbound.capacity
        while var op = sends.first {
            let left = op.frameBytes - op.done
            var free = capacity - Int(produced &- consumedSeen)
            if free < min(left, chunkBytes) {
                consumedSeen = outbound.tail.pointee.load(ordering: .acquiring)
                free = capacity - Int(produced &- consumedSeen)
                if free == 0 { break }
            }
            let n = min(left, free, chunkBytes)
            write(op, frameOffset: op.done, count: n)
            produced &+= UInt64(n)
            outbound.head.pointee.store(produced, ordering: .releasing)
            moved = true
            op.done += n
            if op.done == op.frameBytes {
                sends.removeFirst()
                completions.append(Completion(peer: peer, operation: .send, id: op.id, bytes: op.length))
            } else {
                sends.first = op
            }
        }
        return moved
    }

    /// Writes frame bytes [frameOffset, frameOffset + count) at the ring's head.
    @inline(__always)
    private func write(_ op: Operation, frameOffset: Int, count: Int) {
        var position = produced
        var offset = frameOffset
        if offset == 0 {
            outbound.storeWord(Frame.tag | UInt64(op.length), at: position)
            position &+= 8
            offset = 8
        }
        let payloadEnd = min(frameOffset + count, 8 + op.length)
        if payloadEnd > offset { outbound.copyIn(at: position, from: op.base + (offset - 8), count: payloadEnd - offset) }
    }

    @inline(__always)
    private func consume(_ completions: inout [Completion]) throws -> Bool {
        var moved = false
        while var op = receives.first {
            let left = op.frameBytes - op.done
            var available = Int(producedSeen &- consumed)
            if available < min(left, chunkBytes) {
                producedSeen = inbound.head.pointee.load(ordering: .acquiring)
                available = Int(producedSeen &- consumed)
                if available == 0 { break }
            }
            if op.done == 0 {
                let header = inbound.loadWord(at: consumed)
                if header & ~Frame.lengthMask != Frame.tag || Int(header & Frame.lengthMask) != op.length {
                    throw mismatch(header: header, op: op)
                }
            }
            let n = min(left, available, chunkBytes)
            read(op, frameOffset: op.done, count: n)
            consumed &+= UInt64(n)
            inbound.tail.pointee.store(consumed, ordering: .releasing)
            moved = true
            op.done += n
            if op.done == op.frameBytes {
                receives.removeFirst()
                completions.append(Completion(peer: peer, operation: .receive, id: op.id, bytes: op.length))
            } else {
                receives.first = op
            }
        }
        return moved
    }

    /// Reads frame bytes [frameOffset, frameOffset + count) at the ring's tail.
    @inline(__always)
    private func read(_ op: Operation, frameOffset: Int, count: Int) {
        var position = consumed
        var offset = frameOffset
        if offset == 0 {
            position &+= 8
            offset = 8
        }
        let payloadEnd = min(frameOffset + count, 8 + op.length)
        if payloadEnd > offset { inbound.copyOut(at: position, into: op.base + (offset - 8), count: payloadEnd - offset) }
    }

    @inline(never)
    private func mismatch(header: UInt64, op: Operation) -> FabricError {
        guard header & ~Frame.lengthMask == Frame.tag else {
            return .protocolViolation(peer: name, detail: "the ring holds no message header at byte \(consumed) (0x\(String(header, radix: 16))): memory corrupted or another program's segment")
        }
        return .protocolViolation(peer: name, detail: "a \(header & Frame.lengthMask)-byte message arrived where rank \(rank) posted a \(op.length)-byte receive (id \(op.id)): a send must match a receive of exactly its length")
    }

    // MARK: sleeping and closing

    /// Whether `progress` would move something now (the re-check before sleeping).
    var canAdvance: Bool {
        if !receives.isEmpty && inbound.head.pointee.load(ordering: .acquiring) != consumed { return true }
        if !sends.isEmpty && Int(produced &- outbound.tail.pointee.load(ordering: .acquiring)) < outbound.capacity { return true }
        return false
    }

    var peerHasClosed: Bool { peerClosed.pointee.load(ordering: .acquiring) != 0 }

    /// What waits on the peer, for "closed the connection during ...".
    var pendingWork: String {
        if let op = receives.first { return "a receive of \(op.length) bytes" }
        if let op = sends.first { return "a send of \(op.length) bytes" }
        return "no operation"
    }

    /// Tells the peer this side is gone and wakes it, so a waiting peer fails at once.
    func hangUp() {
        ownClosed.pointee.store(1, ordering: .releasing)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        peerBell.wake()
    }
}
