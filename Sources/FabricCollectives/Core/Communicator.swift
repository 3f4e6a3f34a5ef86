import FabricCore

/// The collectives' view of the transport: posted operations become tickets that can be
/// waited on one by one. Operations to one peer complete in post order (the transport's
/// guarantee), so a ticket is just (peer, direction, sequence number).
///
/// Zero-byte operations are not posted at all (the ticket is nil): both sides derive the
/// same layout, so they skip the same messages.
public final class Communicator {
    public let transport: Transport
    public var rank: Int { transport.rank }
    public var size: Int { transport.worldSize }

    public struct Ticket: Sendable {
        let peer: Int
        let send: Bool
        let sequence: Int
    }

    // One thread drives a rank's collectives: no dynamic exclusivity checks on the hot path.
    @exclusivity(unchecked) private var posted: [(send: Int, receive: Int)]
    @exclusivity(unchecked) private var done: [(send: Int, receive: Int)]
    @exclusivity(unchecked) private var completions: [Completion] = []
    private var connected = Set<Int>()

    public init(transport: Transport) {
        self.transport = transport
        posted = Array(repeating: (0, 0), count: transport.worldSize)
        done = Array(repeating: (0, 0), count: transport.worldSize)
        completions.reserveCapacity(64)
    }

    /// Opens channels to these peers (collective: each must list this rank too).
    public func connect(_ peers: [Int]) throws {
        let new = Set(peers).subtracting(connected).subtracting([rank])
        guard !new.isEmpty else { return }
        try transport.connect(to: Array(new).sorted())
        connected.formUnion(new)
    }

    @discardableResult
    public func send(to peer: Int, _ region: MemoryRegion, offset: Int, bytes: Int) throws -> Ticket? {
        guard bytes > 0 else { return nil }
        try transport.postSend(to: peer, from: region, offset: offset, length: bytes, id: 0)
        posted[peer].send += 1
        return Ticket(peer: peer, send: true, sequence: posted[peer].send)
    }

    @discardableResult
    public func receive(from peer: Int, _ region: MemoryRegion, offset: Int, bytes: Int) throws -> Ticket? {
        guard bytes > 0 else { return nil }
        try transport.postReceive(from: peer, into: region, offset: offset, length: bytes, id: 0)
        posted[peer].receive += 1
        return Ticket(peer: peer, send: false, sequence: posted[peer].receive)
    }

    public func isDone(_ t: Ticket) -> Bool {
        t.send ? done[t.peer].send >= t.sequence : done[t.peer].receive >= t.sequence
    }

    public func wait(_ ticket: Ticket?) throws {
        guard let t = ticket else { return }
        while !isDone(t) {
            try transport.waitForCompletions(1, into: &completions,
                                             doing: t.send ? "a send to rank \(t.peer) to drain" : "data from rank \(t.peer)")
            account()
        }
    }

    /// Waits until at least one more posted operation finished (fails after the transport's
    /// timeout naming the peers still pending).
    public func waitForAny(doing what: @autoclosure () -> String) throws {
        try transport.waitForCompletions(1, into: &completions, doing: what())
        account()
    }

    /// Waits until every posted operation finished.
    public func waitAll() throws {
        for peer in 0..<size {
            while done[peer].send < posted[peer].send || done[peer].receive < posted[peer].receive {
                try transport.waitForCompletions(1, into: &completions, doing: "the last operations with rank \(peer)")
                account()
            }
        }
    }

    /// By index: a for-in over the array allocates an iterator frame per element in debug
    /// builds, which TimedLoopAllocationTests would rightly count against every collective.
    @inline(__always)
    private func account() {
        var i = 0
        while i < completions.count {
            let c = completions[i]
            if c.operation == .send { done[c.peer].send += 1 } else { done[c.peer].receive += 1 }
            i += 1
        }
        completions.removeAll(keepingCapacity: true)
    }
}
