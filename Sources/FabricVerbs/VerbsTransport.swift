import FabricCore
import CFabricRDMA
import FabricPlacement

/// RDMA verbs implementation of `Transport`: RC queue pairs to each peer (one, or `--qps N`
/// with large messages striped over them), all completions on one CQ, polled. A send of N
/// bytes lands in the peer's next posted receive, which must be of exactly N bytes (as over
/// TCP); anything else is reported as a protocol violation.
///
/// It puts together, once at init, the parts that do the work:
/// - DeviceSelection: the port and GID (`--device`, `--port`, `--gid-index`, or the scored choice);
/// - NUMAPlacement (FabricPlacement): this thread and its memory next to the NIC;
/// - VerbsDevice: the opened device, its PD and the one CQ;
/// - a ConnectionSetup: QueuePairExchange through the rendezvous store, or rdma_cm (`--cm`);
/// - a DataPath: WriteWithImmediatePath (`--verb write`, the default) or SendReceivePath
///   (`--verb send`), over the WorkQueues both share; posts and polls go straight to it.
public final class VerbsTransport: OneSidedTransport {
    public let kind = TransportKind.verbs
    public let rank: Int
    public let worldSize: Int
    public let options: VerbsOptions
    public var timeout: Double { options.timeout }
    /// Busy polling never sleeps; with --events a wait sleeps on the completion channel at once.
    public var spinBeforeSleep: SpinBudget { device.channel == nil ? .neverSleep : .sleepAtOnce }
    public let port: RDMAPort
    public let gid: GIDEntry
    /// Where this rank runs and allocates, for the report.
    public let placement: String
    /// Why this device (see `DeviceSelection.deviceChoice`).
    public let deviceChoice: String

    private let store: any Store
    private let device: VerbsDevice
    private let setup: any ConnectionSetup
    private let queues: WorkQueues
    private let path: any DataPath
    // Read by every post and poll: no dynamic exclusivity check (see PeerLink).
    @exclusivity(unchecked) private var closed = false

    /// After close() every call throws at once, instead of touching destroyed queues.
    private func closedError() -> FabricError {
        FabricError.configuration("rank \(rank): the verbs transport was closed; its operations were dropped")
    }

    public convenience init(store: any Store, options: VerbsOptions) throws {
        try self.init(store: store, options: options, api: options.connectionManager ? RDMALibrary.connectionManager() : RDMALibrary.verbs(),
                      ports: nil)
    }

    /// `api` and `ports` stand for the RDMA libraries and the host's devices (nil: list them);
    /// tests pass stand-ins to reach every failure path. Only VerbsDevice acquires anything
    /// here, and it releases what it took when it fails; nothing after it throws.
    init(store: any Store, options: VerbsOptions, api: fab_rdma_api, ports: [RDMAPort]?) throws {
        rank = store.rank
        worldSize = store.worldSize
        self.store = store
        self.options = options
        guard (1...VerbsOptions.queuePairLimit).contains(options.queuePairs) else {
            throw FabricError.configuration("--qps \(options.queuePairs): give 1 to \(VerbsOptions.queuePairLimit) queue pairs per peer")
        }
        guard worldSize <= WorkRequestID.maximumPeers else {
            throw FabricError.configuration("the verbs transport supports up to \(WorkRequestID.maximumPeers) ranks (world size \(worldSize))")
        }
        let selection = try ports.map { [rank] in try DeviceSelection(options: options, rank: rank, among: $0) } ?? DeviceSelection(options: options, rank: rank)
        port = selection.port
        gid = selection.gid
        deviceChoice = selection.deviceChoice
        // Place the polling thread and the buffers it registers next to the NIC.
        let numa = NUMAPlacement(device: selection.port.device, deviceNode: selection.numaNode, requestedNode: options.numaNode, cpusPinned: options.pinned)
        try numa.apply()
        placement = numa.description
        let cmHost = try options.connectionManager
            ? ConnectionManagerSetup.host(options: options, gid: selection.gid, device: selection.port.device, rank: rank) : nil
        device = try VerbsDevice(selection.port.device, api: api, rank: rank, throughConnectionManager: cmHost != nil, events: options.events,
                                 queuePairs: options.queuePairs, peers: worldSize - 1)
        if let cmHost {
            setup = ConnectionManagerSetup(device: device, selection: selection, host: cmHost, store: store, options: options)
        } else {
            setup = QueuePairExchange(device: device, selection: selection, store: store, options: options)
        }
        queues = WorkQueues(device: device, rank: rank, worldSize: worldSize, queuePairsPerPeer: options.queuePairs,
                            port: selection.port.port, gidIndex: selection.gid.index)
        switch options.dataPath {
        case .write: path = WriteWithImmediatePath(queues: queues, device: device)
        case .send: path = SendReceivePath(queues: queues)
        }
    }

    deinit { close() }

    public var settings: [String: String] {
        [
            "device": port.device, "device_choice": deviceChoice, "port": "\(port.port)", "link_layer": port.linkLayer,
            "gid_index": "\(gid.index)", "gid": gid.gid, "gid_type": gid.type,
            "queue_pairs_per_peer": "\(options.queuePairs)",
            "stripe_minimum_bytes": options.queuePairs > 1 ? "\(StripePlan.minimumStripe)" : "not striped",
            "verb": options.dataPath.rawValue,
            "inline_bytes": queues.hasLinks ? "\(queues.maxInline)" : "\(options.inlineBytes) requested",
            "numa_node": port.numaNode.map(String.init) ?? "unknown", "placement": placement,
            "polling": device.channel == nil ? "busy (CQ polling)" : "events (completion channel)",
        ].merging(setup.settings) { _, fromSetup in fromSetup }  // connection_setup, gid_choice, mtu
    }

    public func connect(to peers: [Int]) throws {
        for p in peers where p < 0 || p >= worldSize { throw FabricError.configuration("rank \(rank): peer rank \(p) is out of range") }
        if closed { throw closedError() }
        let wanted = Array(Set(peers).subtracting([rank])).filter { queues.links[$0]?.ready != true }.sorted()
        guard !wanted.isEmpty else { return }
        try setup.connect(wanted, into: path)
        for peer in wanted {
            queues.links[peer]!.ready = true
            try path.connected(queues.links[peer]!)
        }
    }

    public func register(_ buffer: UnsafeMutableRawBufferPointer) throws -> MemoryRegion {
        if closed { throw closedError() }
        return try queues.register(buffer)
    }

    /// After close() there is nothing left: close deregistered everything.
    public func deregister(_ region: MemoryRegion) {
        if closed { return }
        queues.deregister(region)
    }

    public var registrationCount: Int { closed ? 0 : queues.registrationCount }

    // The data path: one call into the path chosen at init, which does the rest.

    public func postSend(to peer: Int, from region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        if closed { throw closedError() }
        try path.postSend(to: peer, from: region, offset: offset, length: length, id: id)
    }

    public func postReceive(from peer: Int, into region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        if closed { throw closedError() }
        try path.postReceive(from: peer, into: region, offset: offset, length: length, id: id)
    }

    public func poll(_ completions: inout [Completion]) throws {
        if closed { throw closedError() }
        try path.poll(&completions)
    }

    public func remoteHandle(for region: MemoryRegion) -> RemoteRegion { queues.remoteHandle(for: region) }

    public func postWrite(to peer: Int, from region: MemoryRegion, offset: Int, length: Int,
                          remote: RemoteRegion, remoteOffset: Int, id: UInt64) throws {
        if closed { throw closedError() }
        try queues.postWrite(to: peer, from: region, offset: offset, length: length, remote: remote, remoteOffset: remoteOffset, id: id)
    }

    public func waitForActivity(milliseconds: Int32) throws {
        if closed { return }
        try queues.waitForActivity(milliseconds: milliseconds)
    }

    public func checkJobIsAlive() throws { try store.checkJobIsAlive() }

    public func pendingPeers() -> [Int] { queues.pendingPeers() }

    public func describe(peer: Int) -> String { queues.describe(peer: peer) }

    /// Queue pairs first (the setup that made them), then the memory registered on the PD,
    /// then the device.
    public func close() {
        guard !closed else { return }
        closed = true
        setup.close()
        path.close()
        queues.close()
        device.close()
    }
}
