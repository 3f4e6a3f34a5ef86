/// One rank driving several NICs at once (`--device mlx5_0+mlx5_1`, `--iface eth0+eth1`): a
/// transport per NIC (a "part", each finding its peers' parts through its own corner of the
/// store), and every message of at least `minimumStripe` bytes a part cut into 64-byte aligned
/// stripes, one per part, as `--qps` does over queue pairs of one NIC. Smaller messages go
/// whole over the first part, with an empty message over each other part. Both ends cut a
/// message alike from its length alone, which the contract makes equal on both sides, so each
/// part sees the same sequence of sends and receives at both ends; and since every message
/// touches every part, two ends that disagree on a length disagree on some part's length,
/// which that part reports at once (a message cut in two against a smaller one left whole
/// would otherwise agree on the first part and leave a stray stripe on the second).
///
/// Completions are released per peer and direction in the order the messages were posted,
/// whichever part finished first, so the Transport contract holds for the whole. Any transport
/// can be striped; the conformance suite runs over two TCP parts.
public final class StripedTransport: Transport {
    public let parts: [any Transport]
    /// Each part's share of a message is at least this many bytes, or the message is not cut.
    public static let minimumStripe = 4096
    public static let alignment = 64
    /// More NICs than any node has; bounds what a flag can ask for.
    public static let maximumParts = 16

    private struct Operation {
        var id: UInt64
        var peer: Int
        var operation: Completion.Operation
        var bytes: Int
        var remaining: Int
    }
    /// Posted, not yet released; keyed by the serial number every stripe of it carries.
    private var operations: [UInt64: Operation] = [:]
    /// Per peer and direction, serials in posted order (released from the front).
    private var order: [[UInt64]]
    private var orderStart: [Int]
    private var nextSerial: UInt64 = 1
    private var scratch: [Completion] = []
    /// Each composite region's registration with every part.
    private var registrations: [UInt64: [MemoryRegion]] = [:]
    private var nextKey: UInt64 = 1

    /// Builds one part per NIC, each over the store under its own prefix, and publishes how
    /// many parts this rank has, which every peer checks before connecting.
    public init(parts count: Int, store: any Store, makePart: (_ index: Int, _ store: any Store) throws -> any Transport) throws {
        guard (2...Self.maximumParts).contains(count) else { throw FabricError.configuration("striping takes 2 to \(Self.maximumParts) NICs (got \(count))") }
        var made: [any Transport] = []
        do {
            for i in 0..<count { made.append(try makePart(i, PrefixedStore(store, prefix: "nic\(i)/"))) }
        } catch {
            for part in made { part.close() }
            throw error
        }
        parts = made
        order = Array(repeating: [], count: 2 * store.worldSize)
        orderStart = Array(repeating: 0, count: 2 * store.worldSize)
        try store.set("striping/\(store.rank)", Array("\(count)".utf8))
        self.store = store
    }
    private let store: any Store

    public var kind: TransportKind { parts[0].kind }
    public var rank: Int { parts[0].rank }
    public var worldSize: Int { parts[0].worldSize }
    public var timeout: Double { parts[0].timeout }
    public var spinBeforeSleep: SpinBudget { parts.map(\.spinBeforeSleep).min() ?? .sleepAtOnce }

    /// The first part's settings; a setting that differs between parts shows every part's
    /// value joined by '+' (device "mlx5_0+mlx5_1", its GIDs, addresses).
    public var settings: [String: String] {
        let all = parts.map(\.settings)
        var merged = all[0]
        for key in merged.keys {
            let values = all.map { $0[key] ?? "-" }
            if Set(values).count > 1 { merged[key] = values.joined(separator: "+") }
        }
        merged["striping"] = "\(parts.count) NICs: messages of at least \(parts.count * Self.minimumStripe) bytes cut into \(Self.alignment)-byte aligned stripes, one per NIC; smaller ones over the first"
        return merged
    }

    /// Where each part's stripe of a message of `length` bytes starts and how long it is; below
    /// the striping size, everything on part 0 and an empty stripe on each other part.
    public static func stripes(of length: Int, parts: Int) -> [(part: Int, offset: Int, length: Int)] {
        guard parts > 1, length >= parts * minimumStripe else { return [(0, 0, length)] + (1..<max(parts, 1)).map { ($0, length, 0) } }
        let share = length / parts / alignment * alignment
        return (0..<parts).map { p in (p, p * share, p == parts - 1 ? length - p * share : share) }
    }

    public func connect(to peers: [Int]) throws {
        for peer in Set(peers) where peer != rank && peer >= 0 && peer < worldSize {
            let theirs = String(decoding: try store.get("striping/\(peer)", description: "rank \(peer)'s NIC count for striping (a rank on one NIC never sets it: give every rank the same number of NICs joined by '+')"), as: UTF8.self)
            guard Int(theirs) == parts.count else {
                throw FabricError.configuration("rank \(rank) stripes over \(parts.count) NICs, rank \(peer) over \(theirs): give every rank the same number of NICs joined by '+'")
            }
        }
        for part in parts { try part.connect(to: peers) }
    }

    public func register(_ buffer: UnsafeMutableRawBufferPointer) throws -> MemoryRegion {
        var regions: [MemoryRegion] = []
        do {
            for part in parts { regions.append(try part.register(buffer)) }
        } catch {
            for (part, region) in zip(parts, regions) { part.deregister(region) }
            throw error
        }
        let key = nextKey
        nextKey += 1
        registrations[key] = regions
        return MemoryRegion(base: buffer.baseAddress!, length: buffer.count, key: key)
    }

    public func deregister(_ region: MemoryRegion) {
        guard let regions = registrations.removeValue(forKey: region.key) else { return }
        for (part, r) in zip(parts, regions) { part.deregister(r) }
    }

    public var registrationCount: Int { registrations.count }

    /// Each part's view of `region`. A region may be a slice of a registered one (its base
    /// moved, its key kept, as CollectiveBuffers cuts them): the slice's base and length are
    /// kept, with each part's key.
    private func regions(_ region: MemoryRegion, peer: Int) throws -> [MemoryRegion] {
        guard let regions = registrations[region.key] else {
            throw FabricError.configuration("rank \(rank): a region of \(region.length) bytes is not registered with this transport (to rank \(peer))")
        }
        return regions.map { MemoryRegion(base: region.base, length: region.length, key: $0.key) }
    }

    private func post(_ operation: Completion.Operation, peer: Int, region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        // Checked before any part posts: a part refusing a later stripe would leave the
        // earlier ones on the wire and the peer out of step.
        guard peer >= 0, peer < worldSize, peer != rank else {
            throw FabricError.configuration("rank \(rank): peer rank \(peer) is out of range (world size \(worldSize))")
        }
        guard offset >= 0, length >= 0, offset <= region.length - length else {
            throw FabricError.configuration("rank \(rank): \(length) bytes at offset \(offset) do not fit a region of \(region.length) bytes (to rank \(peer))")
        }
        let regions = try regions(region, peer: peer)
        let stripes = Self.stripes(of: length, parts: parts.count)
        let serial = nextSerial
        nextSerial += 1
        operations[serial] = Operation(id: id, peer: peer, operation: operation, bytes: length, remaining: stripes.count)
        order[2 * peer + (operation == .send ? 0 : 1)].append(serial)
        for s in stripes {
            switch operation {
            case .send: try parts[s.part].postSend(to: peer, from: regions[s.part], offset: offset + s.offset, length: s.length, id: serial)
            case .receive: try parts[s.part].postReceive(from: peer, into: regions[s.part], offset: offset + s.offset, length: s.length, id: serial)
            }
        }
    }

    public func postSend(to peer: Int, from region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        try post(.send, peer: peer, region: region, offset: offset, length: length, id: id)
    }

    public func postReceive(from peer: Int, into region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        try post(.receive, peer: peer, region: region, offset: offset, length: length, id: id)
    }

    public func poll(_ completions: inout [Completion]) throws {
        for part in parts {
            scratch.removeAll(keepingCapacity: true)
            try part.poll(&scratch)
            for c in scratch {
                guard var op = operations[c.id] else { continue }
                op.remaining -= 1
                operations[c.id] = op
                if op.remaining == 0 { release(2 * op.peer + (op.operation == .send ? 0 : 1), into: &completions) }
            }
        }
    }

    /// Hands out the finished operations at the front of one peer's queue, in posted order.
    private func release(_ queue: Int, into completions: inout [Completion]) {
        var start = orderStart[queue]
        while start < order[queue].count, let op = operations[order[queue][start]], op.remaining == 0 {
            completions.append(Completion(peer: op.peer, operation: op.operation, id: op.id, bytes: op.bytes))
            operations[order[queue][start]] = nil
            start += 1
        }
        if start == order[queue].count {
            order[queue].removeAll(keepingCapacity: true)
            start = 0
        }
        orderStart[queue] = start
    }

    /// Sleeps on the parts that have operations posted: on the one alone, or 1 ms on each in
    /// turn when several do, so data on one is never left waiting long behind a sleep on another.
    public func waitForActivity(milliseconds: Int32) throws {
        if spinBeforeSleep == .neverSleep { return }
        let busy = parts.filter { !$0.pendingPeers().isEmpty }
        if busy.count <= 1 { return try (busy.first ?? parts[0]).waitForActivity(milliseconds: milliseconds) }
        for part in busy { try part.waitForActivity(milliseconds: min(milliseconds, 1)) }
    }

    public func checkJobIsAlive() throws { try parts[0].checkJobIsAlive() }

    public func pendingPeers() -> [Int] { Array(Set(parts.flatMap { $0.pendingPeers() })).sorted() }

    /// Every NIC's view of the peer, the ones with operations pending to it first, so a
    /// timeout names the NIC that did not deliver.
    public func describe(peer: Int) -> String {
        let pending = parts.filter { $0.pendingPeers().contains(peer) }
        let shown = pending.isEmpty ? parts : pending
        return shown.map { $0.describe(peer: peer) }.joined(separator: " + ")
    }

    public func close() {
        for part in parts { part.close() }
        registrations.removeAll()
        operations.removeAll()
    }
}

/// A store seen through a prefix: each part of a striped transport finds its peers' parts
/// under keys of its own.
public final class PrefixedStore: Store {
    let inner: any Store
    let prefix: String
    public init(_ inner: any Store, prefix: String) {
        self.inner = inner
        self.prefix = prefix
    }
    public var rank: Int { inner.rank }
    public var worldSize: Int { inner.worldSize }
    public var token: UInt64 { inner.token }
    public var timeout: Double { inner.timeout }
    public func set(_ key: String, _ value: [UInt8]) throws { try inner.set(prefix + key, value) }
    public func get(_ key: String, description: String, timeout: Double?) throws -> [UInt8] {
        try inner.get(prefix + key, description: description, timeout: timeout)
    }
    public func add(_ key: String, _ delta: Int64) throws -> Int64 { try inner.add(prefix + key, delta) }
    public func checkJobIsAlive() throws { try inner.checkJobIsAlive() }
}
