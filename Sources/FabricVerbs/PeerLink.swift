import FabricCore
import CFabricRDMA
import CFabricSystem

/// Everything one rank has with one peer over verbs: the queue pairs (one, or `--qps N`),
/// the messages in flight each way, and the write path's control memory.
///
/// Its hot fields skip Swift's dynamic exclusivity checks: one rank's transport is used by
/// one thread, and in the Soft-RoCE VM the checks cost a send/receive round trip 8 µs of 28
/// (docs/PERFORMANCE.md).
final class PeerLink {
    let peer: Int
    /// Filled as they are created; all set before the link carries data.
    var queuePairs: [UnsafeMutablePointer<ibv_qp>?]
    /// True once every queue pair is connected at both ends: only then may data be posted.
    var ready = false
    /// Send-queue entries in use per queue pair, whatever they carry (sends, writes,
    /// clear-to-sends): the one count every path checks before posting.
    @exclusivity(unchecked) var sendQueueUsed: [Int]
    /// Receive-queue entries in use per queue pair (send path; the write path keeps all
    /// its control slots posted).
    @exclusivity(unchecked) var receiveQueueUsed: [Int]
    /// Posted messages each way, oldest first; they are reported complete in this order.
    @exclusivity(unchecked) var sends = InFlightQueue()
    @exclusivity(unchecked) var receives = InFlightQueue()
    /// Messages waiting for queue room or, for writes, for the peer's clear-to-send.
    @exclusivity(unchecked) var waitingSends = FIFO<Request>()
    @exclusivity(unchecked) var waitingReceives = FIFO<Request>()
    /// Write path: where the peer said to write next, and the control messages still to send.
    @exclusivity(unchecked) var clearToSend = FIFO<Target>()
    @exclusivity(unchecked) var controlOutgoing = FIFO<ControlMessage>()
    @exclusivity(unchecked) var control: ControlMemory?
    /// Write path: the number the next message sent gets; the peer's receives are numbered
    /// the same way (InFlightQueue), so message k matches receive k.
    @exclusivity(unchecked) var nextSendIndex: UInt32 = 0
    /// Write path, small messages (EagerRing): where the peer's ring is (nil until it said),
    /// the slots each way, the messages in this rank's ring not yet matched to a receive, and
    /// the peer's large sends it announced before this rank posted their receives.
    @exclusivity(unchecked) var peerRing: Target?
    @exclusivity(unchecked) var eager = EagerCredits()
    @exclusivity(unchecked) var eagerArrivals = FIFO<EagerArrival>()
    @exclusivity(unchecked) var announcedSends = FIFO<Target>()

    init(peer: Int, queuePairs: Int) {
        self.peer = peer
        self.queuePairs = Array(repeating: nil, count: queuePairs)
        sendQueueUsed = Array(repeating: 0, count: queuePairs)
        receiveQueueUsed = Array(repeating: 0, count: queuePairs)
    }

    /// Something to post once a completion makes room or brings a clear-to-send.
    var hasWorkWaiting: Bool { !waitingSends.isEmpty || !waitingReceives.isEmpty || !controlOutgoing.isEmpty }

    var hasWorkPending: Bool {
        !sends.isEmpty || !receives.isEmpty || !waitingSends.isEmpty || !waitingReceives.isEmpty || !controlOutgoing.isEmpty
    }

    /// One message as the caller posted it.
    struct Request {
        var address: UInt64
        var length: Int
        var lkey: UInt32
        var id: UInt64
        /// Write path: the message's number (`nextSendIndex`).
        var index: UInt32 = 0
    }

    /// Where to write one message: the receiver's buffer, and the index of its receive.
    struct Target {
        var address: UInt64
        var rkey: UInt32
        var length: Int
        var index: UInt32
    }
}

/// One posted message, finished when all of its stripes have completed.
struct InFlight {
    var length: Int
    var id: UInt64
    var stripesLeft: Int
    var bytes = 0
    /// Write path: where a small receive's bytes are copied to from the ring.
    var address: UInt64 = 0
}

/// Posted messages in order, each with a running 31-bit index that its work requests carry
/// (in the work request id, and in the immediate of a write, whose top bit says whether the
/// message came through the ring), so a completion on any queue pair finds its message.
struct InFlightQueue {
    static let indexMask: UInt32 = 0x7FFF_FFFF
    private var entries = FIFO<InFlight>()
    private(set) var headIndex: UInt32

    init(firstIndex: UInt32 = 0) { headIndex = firstIndex & Self.indexMask }

    var isEmpty: Bool { entries.isEmpty }
    var first: InFlight? { entries.first }

    mutating func append(_ entry: InFlight) -> UInt32 {
        let index = (headIndex &+ UInt32(entries.count)) & Self.indexMask
        entries.append(entry)
        return index
    }

    @inline(__always)
    private func offset(of index: UInt32) -> Int? {
        let offset = Int((index &- headIndex) & Self.indexMask)
        return offset < entries.count ? offset : nil
    }

    /// Message `index`, if it is in flight (nil: finished, or not posted yet).
    func entry(_ index: UInt32) -> InFlight? { offset(of: index).map { entries[$0] } }

    /// Counts one finished stripe of message `index`; false when no such message is in flight.
    mutating func finishStripe(of index: UInt32, bytes: Int) -> Bool {
        guard let offset = offset(of: index) else { return false }
        entries[offset].stripesLeft -= 1
        entries[offset].bytes += bytes
        return true
    }

    /// The oldest message, removed, when all its stripes are done.
    mutating func popFinished() -> InFlight? {
        guard let head = entries.first, head.stripesLeft <= 0 else { return nil }
        entries.removeFirst()
        headIndex = (headIndex &+ 1) & Self.indexMask
        return head
    }
}

/// How a message is spread over a peer's queue pairs (`--qps N`). A message of at least
/// N × `minimumStripe` bytes is cut into N stripes, 64-byte aligned, stripe i on queue pair
/// i; anything smaller travels whole on the first queue pair, where splitting would only
/// add work requests. Both ends derive the plan from the length alone.
struct StripePlan {
    static let minimumStripe = 4096
    let count: Int
    let chunk: Int
    let length: Int

    @inline(__always)
    init(length: Int, queuePairs: Int) {
        self.length = length
        if queuePairs > 1 && length >= queuePairs * Self.minimumStripe {
            count = queuePairs
            chunk = ((length + queuePairs - 1) / queuePairs + 63) & ~63
        } else {
            count = 1
            chunk = length
        }
    }

    /// Byte range of stripe i (it goes over queue pair i).
    @inline(__always)
    func stripe(_ i: Int) -> (offset: Int, length: Int) {
        let offset = i * chunk
        return (offset, min(chunk, length - offset))
    }
}

/// What a work request is, and whose: kind in bits 0-2, peer in 3-23, queue pair in 24-31,
/// and in 32-63 the index of its message (or of its control slot).
struct WorkRequestID {
    enum Kind: UInt64 {
        /// A stripe of a send or RDMA write (also one-sided writes), or a receive (send path).
        case send = 0, receive = 1
        /// Write path: a posted control slot (a clear-to-send lands there, or a write's immediate
        /// completes it), and a clear-to-send going out.
        case controlSlot = 2, controlSend = 3
    }
    static let maximumPeers = 1 << 21

    let kind: Kind
    let peer: Int
    let queuePair: Int
    let index: UInt32

    @inline(__always)
    init(_ kind: Kind, peer: Int, queuePair: Int, index: UInt32) {
        self.kind = kind
        self.peer = peer
        self.queuePair = queuePair
        self.index = index
    }

    /// nil for an id this transport did not make.
    @inline(__always)
    init?(_ raw: UInt64) {
        guard let kind = Kind(rawValue: raw & 7) else { return nil }
        self.kind = kind
        peer = Int((raw >> 3) & 0x1F_FFFF)
        queuePair = Int((raw >> 24) & 0xFF)
        index = UInt32(truncatingIfNeeded: raw >> 32)
    }

    @inline(__always)
    var raw: UInt64 { UInt64(index) << 32 | UInt64(queuePair) << 24 | UInt64(peer) << 3 | kind.rawValue }
}
