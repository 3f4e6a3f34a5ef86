/// The one interface between benchmarks/collectives and the wire. TCP, RDMA verbs and shared
/// memory implement it; nothing above it knows which one it runs on. The contract every
/// implementation keeps is checked by one suite (Tests/FabricConformanceTests).
///
/// Model (the verbs model, which TCP emulates): register buffers once, post sends and
/// receives against registered memory, then poll for completions. A posted send starts at
/// once, as a NIC's does: what can move without blocking or hearing from the peer moves
/// before `postSend` returns, so it does not wait for the caller's next poll behind what the
/// caller does first. (What must hear from the peer, a verbs message behind its
/// clear-to-send, goes in the poll that hears it.) Operations to one
/// peer complete in the order they were posted, per direction, however many are posted
/// (beyond any queue depth); a send of N bytes is matched by the peer's receive of N bytes
/// (N may be 0: a zero-byte message completes on both sides like any other, in order),
/// and a receive of another length fails with `FabricError.protocolViolation` naming the
/// peer. A wait fails naming the peer: after `timeout`, or as soon as the peer is known
/// gone. `close()` drops what is posted and releases every registration; every later call
/// throws (but `deregister`, which then has nothing left to do).
public protocol Transport: AnyObject {
    var kind: TransportKind { get }
    var rank: Int { get }
    var worldSize: Int { get }
    /// Seconds any single wait may take before it fails naming the peer.
    var timeout: Double { get }
    /// How long a wait polls without progress before it sleeps in `waitForActivity`.
    var spinBeforeSleep: SpinBudget { get }
    /// Settings for reports ("address", "busy_poll", "socket_buffer_bytes", ...).
    var settings: [String: String] { get }

    /// Opens channels to these peers. Collective: each listed peer must list this rank.
    func connect(to peers: [Int]) throws
    func register(_ buffer: UnsafeMutableRawBufferPointer) throws -> MemoryRegion
    /// Releases a registration before its memory is freed (RegisteredMemory's deinit calls
    /// it), so a run that keeps re-registering does not grow. Nothing may be posted on the
    /// region any more. A region already released, or released by `close()`, is ignored:
    /// deinits run in any order.
    func deregister(_ region: MemoryRegion)
    /// Registrations made and not yet released: what a leak check compares.
    var registrationCount: Int { get }
    func postSend(to peer: Int, from region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws
    func postReceive(from peer: Int, into region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws
    /// Advances posted operations without blocking; appends the ones that finished.
    func poll(_ completions: inout [Completion]) throws
    /// Sleeps until some posted operation may advance, for at most `milliseconds`.
    /// Busy-polling transports return at once.
    func waitForActivity(milliseconds: Int32) throws
    /// Throws when the job was aborted elsewhere (a rank died); called during long waits.
    func checkJobIsAlive() throws
    /// Peers with operations still posted, and a description of each ("rank 3 (10.0.0.4:5123)").
    func pendingPeers() -> [Int]
    func describe(peer: Int) -> String
    func close()
}

/// A transport's name, as `--transport` takes it and the JSON records it ("tcp", "verbs",
/// "shm"). The registry (FabricTransports) holds the names that exist.
public struct TransportKind: RawRepresentable, Hashable, Codable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ name: String) { rawValue = name }
    public var description: String { rawValue }

    public init(from decoder: Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}

/// Memory the transport may send from and receive into.
// @unchecked: a pointer and a length; the owner keeps the memory alive, and the transport's
// completions order every access to it, as the verbs model requires.
public struct MemoryRegion: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let length: Int
    /// Transport-specific key (an index into the transport's registrations).
    public let key: UInt64

    public init(base: UnsafeMutableRawPointer, length: Int, key: UInt64) {
        self.base = base
        self.length = length
        self.key = key
    }
}

public struct Completion: Equatable, Sendable {
    public enum Operation: UInt8, Sendable { case send, receive }
    public var peer: Int
    public var operation: Operation
    public var id: UInt64
    public var bytes: Int

    public init(peer: Int, operation: Operation, id: UInt64, bytes: Int) {
        self.peer = peer
        self.operation = operation
        self.id = id
        self.bytes = bytes
    }
}

/// Completions a transport finished outside `poll` (a send that went out whole inside
/// `postSend`), held for the next poll to report ahead of what it finds itself: per peer they
/// finished first. Storage is reused once drained.
public struct EarlyCompletions {
    /// What `postSend` appends to.
    public var list: [Completion] = []

    public init() {}

    @inlinable public var isEmpty: Bool { list.isEmpty }

    /// Moves them to `completions` (a poll's).
    @inlinable public mutating func report(into completions: inout [Completion]) {
        guard !list.isEmpty else { return }
        completions.append(contentsOf: list)
        list.removeAll(keepingCapacity: true)
    }
}

/// How long a wait keeps polling without progress before it sleeps until the transport sees
/// activity. A time, not a count of polls: a poll costs tens of nanoseconds on shared memory
/// and half a microsecond on a socket, so one count meant 5 µs on one and 130 µs on the other.
public struct SpinBudget: Sendable, Comparable, CustomStringConvertible {
    public let nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static func < (a: SpinBudget, b: SpinBudget) -> Bool { a.nanoseconds < b.nanoseconds }

    /// Sleep as soon as a poll brings nothing: ranks outnumber cores, so a spinning wait
    /// takes the CPU the rank it waits for needs.
    public static let sleepAtOnce = SpinBudget(nanoseconds: 0)
    /// Never sleep (`--busy-poll`, verbs without `--events`): one busy core per rank.
    public static let neverSleep = SpinBudget(nanoseconds: .max)
    /// The default when every rank has a core. A wake-up from poll(2) or a futex adds 7 µs
    /// typical and up to 50 µs here (docs/PERFORMANCE.md, "Sixth session: waits that sleep");
    /// a wait has to last 1 ms before it may sleep, so a wake-up adds at most a few percent to
    /// the waits it lands on and none to a round trip that is only late, while a long wait
    /// still frees the core on a shared node.
    public static let `default` = SpinBudget(nanoseconds: 1_000_000)

    public var description: String {
        switch nanoseconds {
        case 0: return "0"
        case .max: return "always spin"
        default: return "\(nanoseconds / 1000) us"
        }
    }
}

extension Transport {
    /// Polls until `count` more completions have been appended to `completions`.
    /// Fails after `timeout` seconds without progress, naming the peers still pending.
    @inline(__always)
    public func waitForCompletions(_ count: Int, into completions: inout [Completion], doing what: @autoclosure () -> String) throws {
        let target = completions.count + count
        try poll(&completions)
        if completions.count >= target { return }
        try waitSlowPath(target: target, into: &completions, doing: what)
    }

    @inline(never)
    func waitSlowPath(target: Int, into completions: inout [Completion], doing what: () -> String) throws {
        let budget = spinBeforeSleep.nanoseconds
        // The clock is read every 64 polls: about 30 µs on a socket, well inside the budget.
        var idleSince = monotonicNow()
        var deadline = Deadline(seconds: timeout, from: idleSince)
        var nextHealthCheck = Deadline(seconds: 0.25, from: idleSince)
        var spins = 0
        var seen = completions.count
        while completions.count < target {
            try poll(&completions)
            if completions.count != seen {
                // Progress restarts the clocks: the timeout bounds a stall, not a transfer.
                seen = completions.count
                idleSince = monotonicNow()
                deadline = Deadline(seconds: timeout, from: idleSince)
                continue
            }
            spins &+= 1
            if budget != 0 && spins & 63 != 0 { continue }
            let now = monotonicNow()
            if now >= deadline.nanoseconds {
                let peers = pendingPeers().map { describe(peer: $0) }.joined(separator: ", ")
                throw FabricError.timeout(rank: rank, waitingFor: what(), peer: peers.isEmpty ? "any peer" : peers, seconds: timeout)
            }
            if now >= nextHealthCheck.nanoseconds {
                try checkJobIsAlive()
                nextHealthCheck = Deadline(seconds: 0.25, from: now)
            }
            // Once spent, the budget stays spent until progress: a sleep that brought nothing
            // is followed by another, not by another budget of spinning. (`neverSleep`, the
            // largest UInt64, is never spent.)
            if now &- idleSince >= budget {
                try waitForActivity(milliseconds: min(deadline.remainingMilliseconds, 250))
            }
        }
    }
}

/// A transport that can also write into a peer's memory without the peer taking part
/// (RDMA write): what perftest's write latency measures, polling the last byte written.
/// Only verbs has it; callers check with `as? OneSidedTransport`.
public protocol OneSidedTransport: Transport {
    /// What a peer needs to write into `region` (pass it to the peer out of band).
    func remoteHandle(for region: MemoryRegion) -> RemoteRegion
    /// Writes into `remote` at `remoteOffset`. Completes locally (as a send) once the peer's
    /// NIC has the data; the peer sees no completion, only the bytes changing.
    func postWrite(to peer: Int, from region: MemoryRegion, offset: Int, length: Int,
                   remote: RemoteRegion, remoteOffset: Int, id: UInt64) throws
}

/// A registered region as a peer sees it.
public struct RemoteRegion: Codable, Sendable, Equatable {
    public var address: UInt64
    public var key: UInt32
    public var length: Int
    public init(address: UInt64, key: UInt32, length: Int) {
        self.address = address
        self.key = key
        self.length = length
    }
}
