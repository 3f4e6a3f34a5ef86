import CFabricSystem
import FabricCore
import Foundation
import Synchronization

/// Settings of the shared-memory transport.
public struct SharedMemoryOptions: TransportOptions {
    /// Bytes of each ring (one per direction per peer pair), rounded up to a power of two.
    /// Messages larger than the ring stream through it in chunks.
    public var ringBytes: Int = 4 << 20
    /// Most bytes copied between publishing the ring's head or tail: the consumer starts on
    /// a large message after its first chunk. On the 2-core development VM, 16 MiB each way
    /// took 8-9 ms with 1 MiB chunks in a 4 MiB ring, 10-19 ms with 128-256 KiB chunks, and
    /// a 1 MiB ping-pong was no slower.
    public var chunkBytes: Int = 1 << 20
    /// How long a wait polls without progress before it sleeps on the futex; the job setup
    /// sleeps at once when ranks outnumber cores.
    public var spinBeforeSleep = SpinBudget.default
    public var timeout: Double = 30

    public init() {}
}

/// Shared memory between ranks of one host, as `Transport`. Each connected pair shares one
/// segment with a ring per direction (`PairLayout`); every rank has a doorbell (a shared
/// futex word) in one job-wide segment (`DoorbellLayout`) that peers ring after producing
/// data or freeing space, so a waiting rank can sleep instead of spinning.
///
/// Segments are POSIX shared memory named after the job token and the ranks; names go
/// through the store, and the rank that maps a segment last removes its name. Ranks may be
/// processes or threads of one process (each maps the segment on its own).
public final class SharedMemoryTransport: Transport {
    public let kind = TransportKind.shm
    public let rank: Int
    public let worldSize: Int
    /// The options as used: ring and chunk sizes rounded.
    public let options: SharedMemoryOptions
    public var timeout: Double { options.timeout }
    public var spinBeforeSleep: SpinBudget { options.spinBeforeSleep }
    private let store: any Store
    private let host: HostIdentity
    /// "/fabricbench-<token>": every segment of this job starts with it.
    public let namePrefix: String
    private var doorbells: SharedSegment?
    private let ownBell: Doorbell
    // One thread drives a rank's transport: no dynamic exclusivity checks on the hot path.
    @exclusivity(unchecked) private var channels: [PeerChannel?]
    /// Connected peers' channels: the hot path walks only these.
    @exclusivity(unchecked) private var active: ContiguousArray<PeerChannel> = []
    @exclusivity(unchecked) private var isClosed = false
    /// Sends that finished inside `postSend`, for the next poll to report.
    @exclusivity(unchecked) private var started = EarlyCompletions()
    /// Private memory is copied through the rings, never mapped by a peer: nothing to register
    /// with the system; the ledger keeps the contract countable (`registrationCount`).
    private var registrations = RegistrationLedger()

    public init(store: any Store, options: SharedMemoryOptions) throws {
        rank = store.rank
        worldSize = store.worldSize
        self.store = store
        var options = options
        options.ringBytes = max(4096, options.ringBytes).nextPowerOfTwo
        options.chunkBytes = min(max(8, options.chunkBytes) & ~7, options.ringBytes)
        self.options = options
        channels = Array(repeating: nil, count: worldSize)
        host = HostIdentity.current()
        namePrefix = "/fabricbench-\(String(store.token, radix: 16))"
        try store.set("shm/host/\(rank)", host.encoded)

        // Rank 0 creates the doorbells; the last rank to map them removes the name.
        let size = DoorbellLayout.size(ranks: worldSize)
        let segment: SharedSegment
        if rank == 0 {
            segment = try SharedSegment.create(name: namePrefix + "-doorbells", size: size, what: "rank 0: the doorbells")
            DoorbellLayout.attached(segment.base).pointee.store(1, ordering: .releasing)
            if worldSize == 1 { segment.unlink() }
            try store.set("shm/doorbells", Array(segment.name.utf8))
        } else {
            try Self.checkSameHost(0, store: store, host: host)
            let name = String(decoding: try store.get("shm/doorbells", description: "rank 0's shared-memory doorbells"), as: UTF8.self)
            segment = try SharedSegment.open(name: name, what: "rank \(rank): rank 0's doorbells")
            guard segment.size >= size else {
                throw FabricError.protocolViolation(peer: "rank 0 (shm)", detail: "the doorbells segment has \(segment.size) bytes, \(size) expected for \(worldSize) ranks")
            }
            if DoorbellLayout.attached(segment.base).pointee.add(1, ordering: .acquiringAndReleasing).newValue == worldSize {
                segment.unlink()
            }
        }
        doorbells = segment
        ownBell = DoorbellLayout.bell(of: rank, in: segment.base)
    }

    deinit { close() }

    public var settings: [String: String] {
        [
            "ring_bytes": "\(options.ringBytes)",
            "chunk_bytes": "\(options.chunkBytes)",
            "spin_before_sleep": "\(options.spinBeforeSleep)",
            "sleep": "futex",
        ]
    }

    /// Shared memory needs every peer on this machine, in this boot.
    private static func checkSameHost(_ peer: Int, store: any Store, host: HostIdentity) throws {
        let raw = try store.get("shm/host/\(peer)", description: "rank \(peer)'s host (does it run --transport shm?)")
        guard let theirs = HostIdentity(decoding: raw) else {
            throw FabricError.protocolViolation(peer: "the rendezvous", detail: "rank \(peer)'s host identity is not 'NAME\\nBOOT_ID'")
        }
        guard theirs == host else {
            throw FabricError.configuration("rank \(store.rank): rank \(peer) is on host \(theirs.name(against: host)), not this host \(host.name(against: theirs)): --transport shm connects ranks of one host; use --transport tcp or verbs")
        }
    }

    // MARK: connection setup

    public func connect(to peers: [Int]) throws {
        guard !isClosed, let doorbells else { throw closedError() }
        for p in peers where p < 0 || p >= worldSize {
            throw FabricError.configuration("rank \(rank): peer rank \(p) is out of range 0..<\(worldSize)")
        }
        let wanted = Set(peers).subtracting([rank]).filter { channels[$0] == nil }.sorted()
        for p in wanted { try Self.checkSameHost(p, store: store, host: host) }

        // The lower rank of a pair creates its segment. Creating never waits, so every rank
        // has published its segments before any rank waits to open one: no cycle.
        var created: [(peer: Int, segment: SharedSegment)] = []
        for p in wanted where p > rank {
            let segment = try SharedSegment.create(name: "\(namePrefix)-\(rank)-\(p)", size: PairLayout.size(capacity: options.ringBytes),
                                                   what: "rank \(rank): the rings with rank \(p)")
            PairLayout.initialize(segment.base, capacity: options.ringBytes)
            try store.set("shm/rings/\(rank)-\(p)", Array(segment.name.utf8))
            created.append((p, segment))
        }
        for p in wanted where p < rank {
            let name = String(decoding: try store.get("shm/rings/\(p)-\(rank)", description: "rank \(p)'s shared-memory rings"), as: UTF8.self)
            let segment = try SharedSegment.open(name: name, what: "rank \(rank): the rings with rank \(p)")
            segment.unlink()  // both ranks have it mapped now
            let capacity = try PairLayout.capacity(of: segment, peer: "rank \(p) (shm)")
            PairLayout.attached(segment.base).pointee.store(1, ordering: .releasing)
            adopt(PeerChannel(rank: rank, peer: p, segment: segment, capacity: capacity,
                              peerBell: DoorbellLayout.bell(of: p, in: doorbells.base), chunkBytes: options.chunkBytes))
        }
        // Our segments: the peer removes the name once it mapped one. Until then the name is
        // ours to remove (a segment dropped by an error here removes it).
        for (p, segment) in created {
            try waitUntilAttached(segment, peer: p)
            segment.disown()
            adopt(PeerChannel(rank: rank, peer: p, segment: segment, capacity: options.ringBytes,
                              peerBell: DoorbellLayout.bell(of: p, in: doorbells.base), chunkBytes: options.chunkBytes))
        }
    }

    private func waitUntilAttached(_ segment: SharedSegment, peer: Int) throws {
        let attached = PairLayout.attached(segment.base)
        let deadline = Deadline(seconds: timeout)
        var healthCheck = Deadline(seconds: 0.25)
        while attached.pointee.load(ordering: .acquiring) == 0 {
            if deadline.expired {
                throw FabricError.timeout(rank: rank, waitingFor: "the shared-memory rings to be mapped", peer: "rank \(peer) (shm)", seconds: timeout)
            }
            if healthCheck.expired {
                try store.checkJobIsAlive()
                healthCheck = Deadline(seconds: 0.25)
            }
            usleep(100)
        }
    }

    private func adopt(_ channel: PeerChannel) {
        channels[channel.peer] = channel
        active.append(channel)
    }

    // MARK: data path

    public func register(_ buffer: UnsafeMutableRawBufferPointer) throws -> MemoryRegion {
        if isClosed { throw closedError() }
        return registrations.register(buffer)
    }

    public func deregister(_ region: MemoryRegion) { registrations.deregister(region) }

    public var registrationCount: Int { registrations.count }

    @inline(__always)
    private func channel(_ peer: Int) throws -> PeerChannel {
        guard !isClosed, peer >= 0, peer < worldSize, let c = channels[peer] else { throw noChannel(peer) }
        return c
    }

    @inline(never)
    private func noChannel(_ peer: Int) -> FabricError {
        isClosed ? closedError()
            : .configuration("rank \(rank): no shared-memory channel to rank \(peer) (connect(to:) was not called for it)")
    }

    private func closedError() -> FabricError {
        .configuration("rank \(rank): the shared-memory transport is closed")
    }

    @inline(__always)
    private func operation(_ region: MemoryRegion, _ offset: Int, _ length: Int, _ id: UInt64) throws -> PeerChannel.Operation {
        guard offset >= 0, length >= 0, length <= Frame.maxLength, offset + length <= region.length else {
            throw FabricError.configuration("rank \(rank): \(length) bytes at offset \(offset) overrun a \(region.length)-byte region")
        }
        return PeerChannel.Operation(base: region.base + offset, length: length, done: 0, id: id)
    }

    /// A send starts at once, as a NIC's does: what the ring has room for is written before this
    /// returns. Left for the next poll, it would wait behind whatever the caller does first,
    /// such as the reduction of the next piece a ring received while it was away.
    public func postSend(to peer: Int, from region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        try channel(peer).postSend(operation(region, offset, length, id), &started.list)
    }

    public func postReceive(from peer: Int, into region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        try channel(peer).postReceive(operation(region, offset, length, id))
    }

    @inline(__always)
    public func poll(_ completions: inout [Completion]) throws {
        if isClosed { throw closedError() }
        started.report(into: &completions)
        for c in active where !c.isIdle { try c.progress(&completions) }
    }

    /// Sleeps on this rank's doorbell until a peer publishes or frees space (or the time is up).
    public func waitForActivity(milliseconds: Int32) throws {
        if isClosed { throw closedError() }
        if !started.isEmpty { return }
        guard active.contains(where: { !$0.isIdle }) else { return }
        let seen = ownBell.prepareToSleep()
        defer { ownBell.awake() }
        for c in active where !c.isIdle {
            // Closed first: a peer publishes its last messages before it closes, so once its
            // close is seen they are seen too, and are read before the peer counts as gone.
            // (Checked the other way round, a peer that published and closed between the two
            // loads was reported gone with its last message unread.)
            let closed = c.peerHasClosed
            if c.canAdvance { return }
            if closed { throw FabricError.peerGone(rank: rank, peer: c.name, during: c.pendingWork) }
        }
        ownBell.sleep(ifStill: seen, milliseconds: milliseconds)
    }

    /// The rings cannot show a dead process; the store can.
    public func checkJobIsAlive() throws { try store.checkJobIsAlive() }

    public func pendingPeers() -> [Int] { active.filter { !$0.isIdle }.map(\.peer) }

    public func describe(peer: Int) -> String { "rank \(peer) (shm)" }

    /// Drops pending operations, tells connected peers, unmaps everything. Idempotent.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        started = EarlyCompletions()
        registrations.removeAll()
        for c in active { c.hangUp() }
        active.removeAll()
        channels = Array(repeating: nil, count: worldSize)
        // Rank 0 removes the doorbells' name if some rank never mapped them.
        if let doorbells, rank == 0, DoorbellLayout.attached(doorbells.base).pointee.load(ordering: .acquiring) == worldSize {
            doorbells.disown()
        }
        doorbells = nil
    }
}

extension Int {
    fileprivate var nextPowerOfTwo: Int { self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount) }
}
