import FabricCore
import CFabricRDMA
import CFabricSystem
import Foundation

/// How data moves over a queue pair.
public enum VerbsDataPath: String, Sendable, CaseIterable {
    /// RDMA write with immediate, NCCL style: the receiver advertises where to write (a small
    /// "clear to send" message), the sender writes there, and the immediate raises the
    /// receiver's completion. No receive buffer is matched by the NIC, so any size lands in place.
    case write
    /// Two-sided send/receive: the NIC matches each message to the next posted receive.
    case send
}

public struct VerbsOptions: TransportOptions {
    public var dataPath = VerbsDataPath.write
    /// Sleep on a completion channel when nothing is ready, instead of polling the CQ.
    public var events = false
    /// Connect queue pairs through librdmacm (--cm) instead of the rendezvous exchange.
    public var connectionManager = false
    /// --cm: the address to listen and connect from (--bind), else this interface's (--iface),
    /// else the IP address inside the chosen RoCE GID.
    public var cmBindAddress: String?
    public var cmInterface: String?
    /// Queue pairs per peer (--qps); large messages are striped over all of them.
    public var queuePairs = 1
    /// Device name (e.g. mlx5_0, rxe0); nil: the first device with an active port.
    public var device: String?
    public var port: Int = 1
    /// GID table index; nil: the scored choice (see `GIDEntry.score`).
    public var gidIndex: Int?
    /// Path MTU in bytes (256...4096); nil: the smaller of both ports' active MTU.
    public var mtu: Int?
    public var trafficClass: Int = 0
    public var serviceLevel: Int = 0
    /// Sends up to this many bytes go inline (copied into the work request).
    public var inlineBytes: Int = 64
    /// NUMA node to run and allocate on; nil: the NIC's node when known. Ignored with `pinned`.
    public var numaNode: Int?
    /// The caller pinned this rank to CPUs itself (--cpus): leave placement alone.
    public var pinned = false
    public var timeout: Double = 30
    public init() {}

    /// The work request id has 8 bits for the queue pair, and StripePlan's 64-byte aligned
    /// stripes stay non-empty up to 64 queue pairs; 16 stays well under both.
    public static let queuePairLimit = 16
}

/// RDMA verbs implementation of `Transport`: RC queue pairs to each peer (one, or `--qps N`
/// with large messages striped over them), all completions on one CQ, polled. The queue
/// pairs are connected either through the rendezvous store (QP numbers, PSNs, LIDs and GIDs
/// exchanged, see QueuePairExchange.swift) or by librdmacm (`--cm`, ConnectionManager.swift).
/// A send of N bytes lands in the peer's next posted receive, which must be of exactly N
/// bytes (as over TCP); anything else is reported as a protocol violation.
///
/// With `--verb write` (the default) a posted receive sends the peer a "clear to send"
/// (address, rkey, length, receive index) and a send waits for the next one from its peer,
/// then writes with immediate; the immediate carries the receive's index, so the stripes of
/// one message may arrive on any queue pair. The receive queues then hold only uniform
/// control slots: a slot completes either with a clear-to-send in it or with the immediate
/// of a write, and is re-posted at once.
public final class VerbsTransport: OneSidedTransport {
    public let kind = TransportKind.verbs
    public let rank: Int
    public let worldSize: Int
    public let options: VerbsOptions
    public var timeout: Double { options.timeout }
    /// Busy polling never sleeps; with --events a wait sleeps on the completion channel at once.
    public var spinsBeforeSleep: Int { channel == nil ? Int.max : 0 }

    let api: fab_rdma_api
    let store: any Store
    let context: UnsafeMutablePointer<ibv_context>
    /// --cm: librdmacm's own device list, which owns `context` (its ids take only a PD of
    /// one of these); freed at close instead of closing the context.
    private let cmDevices: UnsafeMutablePointer<UnsafeMutablePointer<ibv_context>?>?
    var connectionManager: ConnectionManager?
    /// --cm: the address to listen and connect from.
    let cmHost: String?
    let pd: UnsafeMutablePointer<ibv_pd>
    let cq: UnsafeMutablePointer<ibv_cq>
    /// --events: the completion channel the CQ reports to.
    private let channel: UnsafeMutablePointer<ibv_comp_channel>?
    // The fields the data path touches skip dynamic exclusivity checks (see PeerLink).
    /// Completions taken from the CQ while arming it (see `waitForActivity`), handed out first.
    @exclusivity(unchecked) private var stashed: Int32 = 0
    public let port: RDMAPort
    public let gid: GIDEntry
    /// Where this rank runs and allocates, for the report.
    public let placement: String
    @exclusivity(unchecked) var links: [PeerLink?]
    @exclusivity(unchecked) private var regions: [UnsafeMutablePointer<ibv_mr>] = []
    @exclusivity(unchecked) var maxInline = 0
    let depth = 512
    private let completionsBuffer: UnsafeMutablePointer<ibv_wc>

    public init(store: any Store, options: VerbsOptions) throws {
        let api = try RDMALibrary.verbs()
        self.api = api
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
        let ports = try RDMADevices.list()
        let candidates = ports.filter { ($0.device == options.device || options.device == nil) && $0.port == options.port }
        guard let chosen = candidates.first(where: { $0.state == "ACTIVE" }) ?? candidates.first else {
            let have = ports.map { "\($0.device) port \($0.port) (\($0.state))" }.joined(separator: ", ")
            throw FabricError.configuration("rank \(rank): no RDMA device \(options.device ?? "with an active port") port \(options.port) (devices: \(have.isEmpty ? "none" : have)); see 'fabricbench devices'")
        }
        guard chosen.state == "ACTIVE" else {
            throw FabricError.configuration("rank \(rank): \(chosen.device) port \(chosen.port) is \(chosen.state), not ACTIVE: check the cable/link (ibv_devinfo)")
        }
        port = chosen
        let wantedGID = options.gidIndex ?? chosen.chosenGID
        guard let g = chosen.gids.first(where: { $0.index == wantedGID }) else {
            throw FabricError.configuration("rank \(rank): \(chosen.device) port \(chosen.port) has no GID \(wantedGID.map(String.init) ?? "") (table: \(chosen.gids.map { "\($0.index) \($0.type) \($0.gid)" }.joined(separator: "; "))); pass --gid-index")
        }
        gid = g
        // Place the polling thread and the buffers it registers next to the NIC.
        if options.pinned {
            placement = "CPUs pinned with --cpus (NIC on NUMA node \(chosen.numaNode.map(String.init) ?? "unknown"))"
        } else if let node = options.numaNode ?? chosen.numaNode {
            try NUMAPlacement.bind(toNode: node)
            placement = "bound to NUMA node \(node)" + (options.numaNode != nil ? " (--numa)" : " (the NIC's)")
        } else {
            placement = "not bound: \(chosen.device)'s NUMA node is unknown (pass --numa N)"
        }
        if options.connectionManager {
            cmHost = try Self.connectionManagerHost(options: options, gid: g, device: chosen.device, rank: rank)
            let (devices, context) = try Self.openThroughConnectionManager(chosen.device, rank: rank)
            cmDevices = devices
            self.context = context
        } else {
            cmHost = nil
            cmDevices = nil
            context = try Self.open(chosen.device, api: api, rank: rank)
        }
        guard let pd = api.alloc_pd(context) else { throw SystemCallError("ibv_alloc_pd", "rank \(rank): \(chosen.device)") }
        self.pd = pd
        if options.events {
            guard let c = api.create_comp_channel(context) else { throw SystemCallError("ibv_create_comp_channel", "rank \(rank): \(chosen.device)") }
            channel = c
        } else {
            channel = nil
        }
        // Room for every completion that can be outstanding: each queue pair's send and
        // receive queues, to every peer (bounded by what the device allows).
        var attributes = ibv_device_attr()
        let deviceLimit = api.query_device(context, &attributes) == 0 && attributes.max_cqe > 0 ? Int(attributes.max_cqe) : 4 * depth
        let entries = min(deviceLimit, max(4 * depth, 2 * depth * options.queuePairs * max(worldSize - 1, 1) + 64))
        guard let cq = api.create_cq(context, Int32(entries), nil, channel, 0) else {
            throw SystemCallError("ibv_create_cq", "rank \(rank): \(chosen.device), \(entries) entries")
        }
        self.cq = cq
        links = Array(repeating: nil, count: worldSize)
        completionsBuffer = .allocate(capacity: 32)
    }

    private static func open(_ device: String, api: fab_rdma_api, rank: Int) throws -> UnsafeMutablePointer<ibv_context> {
        var count: Int32 = 0
        guard let list = api.get_device_list(&count) else { throw FabricError.configuration("ibv_get_device_list failed") }
        defer { api.free_device_list(list) }
        for i in 0..<Int(count) where api.get_device_name(list[i]).map({ String(cString: $0) }) == device {
            if let context = api.open_device(list[i]) { return context }
        }
        throw SystemCallError("ibv_open_device", "rank \(rank): opening \(device)")
    }

    private static func openThroughConnectionManager(_ device: String, rank: Int) throws
        -> (UnsafeMutablePointer<UnsafeMutablePointer<ibv_context>?>, UnsafeMutablePointer<ibv_context>) {
        let api = try RDMALibrary.connectionManager()
        var count: Int32 = 0
        guard let list = api.get_devices(&count) else {
            throw SystemCallError("rdma_get_devices", "rank \(rank): --cm (is the rdma_ucm module loaded?)")
        }
        for i in 0..<Int(count) {
            if let context = list[i], context.pointee.device.flatMap({ api.get_device_name($0) }).map({ String(cString: $0) }) == device {
                return (list, context)
            }
        }
        api.free_devices(list)
        throw FabricError.configuration("rank \(rank): --cm: librdmacm does not list \(device) (is rdma_ucm loaded, and does the device have an IP interface?)")
    }

    deinit { close() }

    public var settings: [String: String] {
        [
            "device": port.device, "port": "\(port.port)", "link_layer": port.linkLayer,
            "gid_index": "\(gid.index)", "gid": gid.gid, "gid_type": gid.type,
            "gid_choice": cmHost.map { "rdma_cm picks the GID for \($0) (\(options.cmBindAddress != nil ? "--bind" : options.cmInterface != nil ? "--iface" : "the IP in GID \(gid.index)"))" }
                ?? (options.gidIndex == nil ? port.choice : "--gid-index"),
            "connection_setup": options.connectionManager ? "rdma_cm (--cm)" : "rendezvous exchange of QP numbers, PSNs, LIDs and GIDs",
            "queue_pairs_per_peer": "\(options.queuePairs)",
            "stripe_minimum_bytes": options.queuePairs > 1 ? "\(StripePlan.minimumStripe)" : "not striped",
            "mtu": options.connectionManager ? "from the rdma_cm route (port \(port.activeMTU))" : "\(options.mtu.map { min($0, port.activeMTU) } ?? port.activeMTU)",
            "verb": options.dataPath.rawValue,
            "inline_bytes": links.contains { $0 != nil } ? "\(maxInline)" : "\(options.inlineBytes) requested", "numa_node": port.numaNode.map(String.init) ?? "unknown", "placement": placement,
            "polling": channel == nil ? "busy (CQ polling)" : "events (completion channel)",
        ]
    }

    // MARK: connection setup

    public func connect(to peers: [Int]) throws {
        if closed { throw closedError() }
        for p in peers where p < 0 || p >= worldSize { throw FabricError.configuration("rank \(rank): peer rank \(p) is out of range") }
        let wanted = Array(Set(peers).subtracting([rank])).filter { links[$0]?.ready != true }.sorted()
        guard !wanted.isEmpty else { return }
        if options.connectionManager { try connectThroughConnectionManager(wanted) } else { try connectByExchange(wanted) }
        for peer in wanted { links[peer]!.ready = true }
    }

    /// The link to `peer`, created with its control memory (write path) on first use.
    func link(to peer: Int) throws -> PeerLink {
        if let link = links[peer] { return link }
        let link = PeerLink(peer: peer, queuePairs: options.queuePairs)
        if options.dataPath == .write {
            let bytes = ControlMemory.byteCount(queuePairs: options.queuePairs, slotsPerQueuePair: depth - 1, sendSlots: depth)
            let base = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            base.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            guard let mr = api.reg_mr(pd, base, bytes, Int32(IBV_ACCESS_LOCAL_WRITE.rawValue)) else {
                base.deallocate()
                throw SystemCallError("ibv_reg_mr", "rank \(rank): control slots for rank \(peer) on \(port.device) (raise 'ulimit -l')")
            }
            link.control = ControlMemory(base: base, mr: mr, slotsPerQueuePair: depth - 1, queuePairs: options.queuePairs, sendSlots: depth)
        }
        links[peer] = link
        return link
    }

    /// What every queue pair is created with.
    func queuePairAttributes() -> ibv_qp_init_attr {
        var attr = ibv_qp_init_attr()
        attr.send_cq = cq
        attr.recv_cq = cq
        attr.qp_type = IBV_QPT_RC
        attr.cap.max_send_wr = UInt32(depth)
        attr.cap.max_recv_wr = UInt32(depth)
        attr.cap.max_send_sge = 1
        attr.cap.max_recv_sge = 1
        attr.cap.max_inline_data = UInt32(max(options.inlineBytes, 0))
        return attr
    }

    /// Takes a new queue pair (in INIT or later) into the link and, on the write path, posts
    /// its control slots, before the peer can send anything.
    func adopt(_ qp: UnsafeMutablePointer<ibv_qp>, granted: ibv_qp_init_attr, link: PeerLink, queuePair: Int) throws {
        maxInline = Int(granted.cap.max_inline_data)
        link.queuePairs[queuePair] = qp
        guard let control = link.control else { return }
        for slot in 0..<control.slotsPerQueuePair { try postControlSlot(link, queuePair: queuePair, slot: slot) }
    }

    // MARK: data path

    public func register(_ buffer: UnsafeMutableRawBufferPointer) throws -> MemoryRegion {
        if closed { throw closedError() }
        let access = IBV_ACCESS_LOCAL_WRITE.rawValue | IBV_ACCESS_REMOTE_WRITE.rawValue | IBV_ACCESS_REMOTE_READ.rawValue
        guard let mr = api.reg_mr(pd, buffer.baseAddress, max(buffer.count, 1), Int32(access)) else {
            throw SystemCallError("ibv_reg_mr", "rank \(rank): registering \(buffer.count) bytes on \(port.device) (raise 'ulimit -l' for locked memory)")
        }
        regions.append(mr)
        return MemoryRegion(base: buffer.baseAddress!, length: buffer.count, key: UInt64(regions.count - 1))
    }

    @inline(__always)
    private func check(_ peer: Int, _ region: MemoryRegion, _ offset: Int, _ length: Int) throws -> (PeerLink, UInt64, UnsafeMutablePointer<ibv_mr>) {
        guard peer >= 0 && peer < worldSize, let link = links[peer], link.ready else {
            if closed { throw closedError() }
            throw FabricError.configuration("rank \(rank): no queue pair to rank \(peer) (connect(to:) was not called for it)")
        }
        guard offset >= 0, length >= 0, offset + length <= region.length, Int(region.key) < regions.count, length <= Int(UInt32.max) else {
            throw FabricError.configuration("rank \(rank): \(length) bytes at offset \(offset) overrun a \(region.length)-byte region")
        }
        return (link, UInt64(UInt(bitPattern: region.base + offset)), regions[Int(region.key)])
    }

    public func postSend(to peer: Int, from region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        let (link, address, mr) = try check(peer, region, offset, length)
        let wr = PeerLink.Request(address: address, length: length, lkey: mr.pointee.lkey, id: id)
        // Send path, nothing older waiting and room: post at once (the common case).
        if options.dataPath == .send && link.waitingSends.isEmpty {
            let plan = StripePlan(length: length, queuePairs: options.queuePairs)
            if hasSendRoom(link, plan) { return try postStripes(link, wr, plan, opcode: IBV_WR_SEND, target: nil) }
        }
        link.waitingSends.append(wr)
        try pump(link)
    }

    public func postReceive(from peer: Int, into region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        let (link, address, mr) = try check(peer, region, offset, length)
        if options.dataPath == .write {
            let stripes = StripePlan(length: length, queuePairs: options.queuePairs).count
            let index = link.receives.append(InFlight(length: length, id: id, stripesLeft: stripes))
            link.clearToSendOutgoing.append(PeerLink.Target(address: address, rkey: mr.pointee.rkey, length: length, index: index))
        } else {
            let wr = PeerLink.Request(address: address, length: length, lkey: mr.pointee.lkey, id: id)
            let plan = StripePlan(length: length, queuePairs: options.queuePairs)
            if link.waitingReceives.isEmpty && hasReceiveRoom(link, plan) { return try postReceiveStripes(link, wr, plan) }
            link.waitingReceives.append(wr)
        }
        try pump(link)
    }

    /// Posts what the queues have room for, oldest first. Write path: clear-to-sends first
    /// (they unblock the peer), then writes for which the peer said where. Send path: sends,
    /// then receives.
    private func pump(_ link: PeerLink) throws {
        if options.dataPath == .write {
            while link.sendQueueUsed[0] < depth - 1, let target = link.clearToSendOutgoing.first {
                link.clearToSendOutgoing.removeFirst()
                try postClearToSend(link, target)
            }
            while let wr = link.waitingSends.first, let target = link.clearToSend.first {
                guard wr.length == target.length else {
                    throw FabricError.protocolViolation(peer: describe(peer: link.peer), detail: "posted a \(target.length)-byte receive where this rank sends \(wr.length) bytes")
                }
                let plan = StripePlan(length: wr.length, queuePairs: options.queuePairs)
                guard hasSendRoom(link, plan) else { return }
                link.waitingSends.removeFirst()
                link.clearToSend.removeFirst()
                try postStripes(link, wr, plan, opcode: IBV_WR_RDMA_WRITE_WITH_IMM, target: target)
            }
        } else {
            while let wr = link.waitingSends.first {
                let plan = StripePlan(length: wr.length, queuePairs: options.queuePairs)
                guard hasSendRoom(link, plan) else { break }
                link.waitingSends.removeFirst()
                try postStripes(link, wr, plan, opcode: IBV_WR_SEND, target: nil)
            }
            while let wr = link.waitingReceives.first {
                let plan = StripePlan(length: wr.length, queuePairs: options.queuePairs)
                guard hasReceiveRoom(link, plan) else { return }
                link.waitingReceives.removeFirst()
                try postReceiveStripes(link, wr, plan)
            }
        }
    }

    @inline(__always)
    private func hasReceiveRoom(_ link: PeerLink, _ plan: StripePlan) -> Bool {
        for q in 0..<plan.count where link.receiveQueueUsed[q] >= depth - 1 { return false }
        return true
    }

    @inline(__always)
    private func hasSendRoom(_ link: PeerLink, _ plan: StripePlan) -> Bool {
        for q in 0..<plan.count where link.sendQueueUsed[q] >= depth - 1 { return false }
        return true
    }

    /// One message as sends or writes, stripe i on queue pair i; completes (as a send) when
    /// every stripe has. A write's immediate is the peer's receive index.
    private func postStripes(_ link: PeerLink, _ wr: PeerLink.Request, _ plan: StripePlan, opcode: ibv_wr_opcode, target: PeerLink.Target?) throws {
        let index = link.sends.append(InFlight(length: wr.length, id: wr.id, stripesLeft: plan.count))
        for q in 0..<plan.count {
            let (offset, length) = plan.stripe(q)
            var sge = ibv_sge(addr: wr.address + UInt64(offset), length: UInt32(length), lkey: wr.lkey)
            var w = ibv_send_wr()
            w.wr_id = WorkRequestID(.send, peer: link.peer, queuePair: q, index: index).raw
            w.num_sge = length > 0 ? 1 : 0
            w.opcode = opcode
            w.send_flags = IBV_SEND_SIGNALED.rawValue | (length <= maxInline ? IBV_SEND_INLINE.rawValue : 0)
            if let target {
                w.wr.rdma.remote_addr = target.address + UInt64(offset)
                w.wr.rdma.rkey = target.rkey
                w.imm_data = target.index
            }
            var bad: UnsafeMutablePointer<ibv_send_wr>?
            let rc = withUnsafeMutablePointer(to: &sge) { sgePointer in
                w.sg_list = length > 0 ? sgePointer : nil
                return fab_ibv_post_send(link.queuePairs[q], &w, &bad)
            }
            guard rc == 0 else {
                throw SystemCallError("ibv_post_send", errno: rc, "rank \(rank): \(opcode == IBV_WR_SEND ? "send" : "RDMA write") of \(length) bytes to rank \(link.peer) on \(port.device)")
            }
            link.sendQueueUsed[q] += 1
        }
    }

    /// Send path: one receive per stripe, each on the queue pair its stripe arrives on.
    private func postReceiveStripes(_ link: PeerLink, _ wr: PeerLink.Request, _ plan: StripePlan) throws {
        let index = link.receives.append(InFlight(length: wr.length, id: wr.id, stripesLeft: plan.count))
        for q in 0..<plan.count {
            let (offset, length) = plan.stripe(q)
            var sge = ibv_sge(addr: wr.address + UInt64(offset), length: UInt32(length), lkey: wr.lkey)
            var w = ibv_recv_wr()
            w.wr_id = WorkRequestID(.receive, peer: link.peer, queuePair: q, index: index).raw
            w.num_sge = length > 0 ? 1 : 0
            var bad: UnsafeMutablePointer<ibv_recv_wr>?
            let rc = withUnsafeMutablePointer(to: &sge) { sgePointer in
                w.sg_list = length > 0 ? sgePointer : nil
                return fab_ibv_post_recv(link.queuePairs[q], &w, &bad)
            }
            guard rc == 0 else { throw SystemCallError("ibv_post_recv", errno: rc, "rank \(rank): \(length) bytes from rank \(link.peer) on \(port.device)") }
            link.receiveQueueUsed[q] += 1
        }
    }

    // MARK: write path control messages

    private func postControlSlot(_ link: PeerLink, queuePair: Int, slot: Int) throws {
        let control = link.control!
        var sge = ibv_sge(addr: UInt64(UInt(bitPattern: control.receiveSlot(queuePair: queuePair, slot: slot))),
                          length: UInt32(ControlMemory.slotBytes), lkey: control.mr.pointee.lkey)
        var w = ibv_recv_wr()
        w.wr_id = WorkRequestID(.controlSlot, peer: link.peer, queuePair: queuePair, index: UInt32(slot)).raw
        w.num_sge = 1
        var bad: UnsafeMutablePointer<ibv_recv_wr>?
        let rc = withUnsafeMutablePointer(to: &sge) { sgePointer in
            w.sg_list = sgePointer
            return fab_ibv_post_recv(link.queuePairs[queuePair], &w, &bad)
        }
        guard rc == 0 else { throw SystemCallError("ibv_post_recv", errno: rc, "rank \(rank): control slot for rank \(link.peer) on \(port.device)") }
    }

    /// Tells the peer where to write its next message (always on the first queue pair).
    private func postClearToSend(_ link: PeerLink, _ target: PeerLink.Target) throws {
        let message = link.control!.takeSendSlot()
        ControlMemory.encode(target, into: message)
        var sge = ibv_sge(addr: UInt64(UInt(bitPattern: message)), length: UInt32(ControlMemory.slotBytes), lkey: link.control!.mr.pointee.lkey)
        var w = ibv_send_wr()
        w.wr_id = WorkRequestID(.controlSend, peer: link.peer, queuePair: 0, index: 0).raw
        w.num_sge = 1
        w.opcode = IBV_WR_SEND
        w.send_flags = IBV_SEND_SIGNALED.rawValue | (ControlMemory.slotBytes <= maxInline ? IBV_SEND_INLINE.rawValue : 0)
        var bad: UnsafeMutablePointer<ibv_send_wr>?
        let rc = withUnsafeMutablePointer(to: &sge) { sgePointer in
            w.sg_list = sgePointer
            return fab_ibv_post_send(link.queuePairs[0], &w, &bad)
        }
        guard rc == 0 else { throw SystemCallError("ibv_post_send", errno: rc, "rank \(rank): clear-to-send to rank \(link.peer) on \(port.device)") }
        link.sendQueueUsed[0] += 1
    }

    // MARK: one-sided writes

    public func remoteHandle(for region: MemoryRegion) -> RemoteRegion {
        RemoteRegion(address: UInt64(UInt(bitPattern: region.base)), key: regions[Int(region.key)].pointee.rkey, length: region.length)
    }

    public func postWrite(to peer: Int, from region: MemoryRegion, offset: Int, length: Int,
                          remote: RemoteRegion, remoteOffset: Int, id: UInt64) throws {
        let (link, address, mr) = try check(peer, region, offset, length)
        guard remoteOffset >= 0, remoteOffset + length <= remote.length else {
            throw FabricError.configuration("rank \(rank): a \(length)-byte write at offset \(remoteOffset) overruns rank \(peer)'s \(remote.length)-byte region")
        }
        guard link.sendQueueUsed[0] < depth - 1 else {
            throw FabricError.configuration("rank \(rank): the send queue to rank \(peer) is full (\(depth - 1) writes in flight): poll before writing more")
        }
        // Whole, on the first queue pair: the peer watches the last byte, which a stripe on
        // another queue pair could overtake.
        try postStripes(link, PeerLink.Request(address: address, length: length, lkey: mr.pointee.lkey, id: id),
                        StripePlan(length: length, queuePairs: 1), opcode: IBV_WR_RDMA_WRITE,
                        target: PeerLink.Target(address: remote.address + UInt64(remoteOffset), rkey: remote.key, length: length, index: 0))
    }

    // MARK: completions

    public func poll(_ completions: inout [Completion]) throws {
        if closed { throw closedError() }
        var n = stashed
        stashed = 0
        if n == 0 { n = fab_ibv_poll_cq(cq, 32, completionsBuffer) }
        guard n >= 0 else { throw SystemCallError("ibv_poll_cq", errno: -n, "rank \(rank): \(port.device)") }
        for i in 0..<Int(n) {
            let wc = completionsBuffer[i]
            guard let request = WorkRequestID(wc.wr_id), request.peer < worldSize, let link = links[request.peer] else { continue }
            guard wc.status == IBV_WC_SUCCESS else { throw failure(wc, request) }
            switch request.kind {
            case .send:
                link.sendQueueUsed[request.queuePair] -= 1
                guard link.sends.finishStripe(of: request.index, bytes: 0) else { throw stray(wc, link) }
                while let done = link.sends.popFinished() {
                    completions.append(Completion(peer: link.peer, operation: .send, id: done.id, bytes: done.length))
                }
            case .receive:
                link.receiveQueueUsed[request.queuePair] -= 1
                guard link.receives.finishStripe(of: request.index, bytes: Int(wc.byte_len)) else { throw stray(wc, link) }
                try finishReceives(link, &completions)
            case .controlSend:
                link.sendQueueUsed[request.queuePair] -= 1
            case .controlSlot:
                if wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM {
                    guard link.receives.finishStripe(of: wc.imm_data, bytes: Int(wc.byte_len)) else {
                        throw FabricError.protocolViolation(peer: describe(peer: link.peer), detail: "wrote \(wc.byte_len) bytes that no posted receive asked for")
                    }
                    try finishReceives(link, &completions)
                } else {
                    guard Int(wc.byte_len) == ControlMemory.slotBytes else {
                        throw FabricError.protocolViolation(peer: describe(peer: link.peer), detail: "sent a \(wc.byte_len)-byte control message (expected \(ControlMemory.slotBytes))")
                    }
                    link.clearToSend.append(ControlMemory.decode(link.control!.receiveSlot(queuePair: request.queuePair, slot: Int(request.index))))
                }
                try postControlSlot(link, queuePair: request.queuePair, slot: Int(request.index))
            }
            if link.hasWorkWaiting { try pump(link) }
        }
    }

    /// Reports finished receives in the order they were posted, each exactly as long as posted.
    private func finishReceives(_ link: PeerLink, _ completions: inout [Completion]) throws {
        while let done = link.receives.popFinished() {
            guard done.bytes == done.length else {
                throw FabricError.protocolViolation(peer: describe(peer: link.peer), detail: "sent \(done.bytes) bytes where a \(done.length)-byte receive was posted")
            }
            completions.append(Completion(peer: link.peer, operation: .receive, id: done.id, bytes: done.length))
        }
    }

    /// A completion for a message this rank has no record of: a bug here, not the peer's doing.
    private func stray(_ wc: ibv_wc, _ link: PeerLink) -> Error {
        FabricError.configuration("rank \(rank): internal error: completion \(wc.wr_id) from rank \(link.peer) matches no posted message")
    }

    /// A failed work completion, with what it usually means.
    private func failure(_ wc: ibv_wc, _ request: WorkRequestID) -> Error {
        let peer = request.peer, send = request.kind == .send || request.kind == .controlSend
        let name = api.wc_status_str(wc.status).map { String(cString: $0) } ?? "status \(wc.status.rawValue)"
        // Send path: a message longer than the peer's posted receive, which the NIC refuses.
        // The contract calls it what it is on every transport: a protocol violation. This
        // transport's own work requests are well formed, so these statuses mean just that:
        // the spec's (the receive: IBV_WC_LOC_LEN_ERR; the send: IBV_WC_REM_INV_REQ_ERR) and
        // Soft-RoCE's (the receive: IBV_WC_LOC_QP_OP_ERR or IBV_WC_REM_INV_REQ_ERR; the send:
        // IBV_WC_REM_OP_ERR). (The write path finds a mismatch before it writes.)
        if options.dataPath == .send {
            if request.kind == .receive && [IBV_WC_LOC_LEN_ERR, IBV_WC_LOC_QP_OP_ERR, IBV_WC_REM_INV_REQ_ERR].contains(wc.status) {
                return FabricError.protocolViolation(peer: describe(peer: peer), detail: "sent a message longer than the posted receive (\(name) on \(port.device)): the ranks disagree on sizes")
            }
            if request.kind == .send && [IBV_WC_REM_INV_REQ_ERR, IBV_WC_REM_OP_ERR].contains(wc.status) {
                return FabricError.protocolViolation(peer: describe(peer: peer), detail: "refused a message (\(name) on \(port.device)): its posted receive is shorter; the ranks disagree on sizes")
            }
        }
        let advice: String
        switch wc.status {
        case IBV_WC_RETRY_EXC_ERR: advice = "retry exceeded (IBV_WC_RETRY_EXC_ERR): the peer is gone or the path is down"
        case IBV_WC_RNR_RETRY_EXC_ERR: advice = "receiver not ready (IBV_WC_RNR_RETRY_EXC_ERR): the peer posted no receive in time"
        case IBV_WC_LOC_LEN_ERR: advice = "the message is longer than the posted receive (IBV_WC_LOC_LEN_ERR): the ranks disagree on sizes"
        case IBV_WC_REM_ACCESS_ERR, IBV_WC_LOC_PROT_ERR: advice = "memory access refused (\(name)): a buffer was not registered or its key is stale"
        case IBV_WC_WR_FLUSH_ERR: advice = "work request flushed (IBV_WC_WR_FLUSH_ERR): the queue pair failed on an earlier error"
        default: advice = name
        }
        return FabricError.aborted("rank \(rank): \(send ? "send to" : "receive from") \(describe(peer: peer)) failed on \(port.device) port \(port.port), GID index \(gid.index): \(advice)")
    }

    /// --events: arm the CQ, look once more (a completion that came before arming raises no
    /// event), then sleep on the channel's fd until an event or the time is up.
    public func waitForActivity(milliseconds: Int32) throws {
        guard let channel, stashed == 0, !closed else { return }
        let rc = fab_ibv_req_notify_cq(cq, 0)
        guard rc == 0 else { throw SystemCallError("ibv_req_notify_cq", errno: rc, "rank \(rank): \(port.device)") }
        let n = fab_ibv_poll_cq(cq, 32, completionsBuffer)
        if n != 0 { stashed = n; return }  // an error too: poll reports it
        var descriptor = pollfd(fd: channel.pointee.fd, events: Int16(POLLIN), revents: 0)
        let ready = Glibc.poll(&descriptor, 1, milliseconds)
        guard ready > 0 else {
            if ready < 0 && errno != EINTR { throw SystemCallError("poll", "rank \(rank): the completion channel of \(port.device)") }
            return
        }
        var eventCQ: UnsafeMutablePointer<ibv_cq>?
        var context: UnsafeMutableRawPointer?
        guard api.get_cq_event(channel, &eventCQ, &context) == 0 else { throw SystemCallError("ibv_get_cq_event", "rank \(rank): \(port.device)") }
        api.ack_cq_events(cq, 1)
    }

    public func checkJobIsAlive() throws { try store.checkJobIsAlive() }

    public func pendingPeers() -> [Int] { links.compactMap { $0 }.filter(\.hasWorkPending).map(\.peer) }

    public func describe(peer: Int) -> String { "rank \(peer) (verbs, \(port.device))" }

    /// Destroys the queue pairs with whatever is posted on them (the peer's operations with
    /// this rank fail or never complete), then the memory registrations. Every later call throws.
    public func close() {
        guard !closed else { return }
        closed = true
        if let connectionManager {
            connectionManager.close()  // destroys the queue pairs it created
        } else {
            for link in links.compactMap({ $0 }) { for case let qp? in link.queuePairs { _ = api.destroy_qp(qp) } }
        }
        for link in links.compactMap({ $0 }) {
            if let control = link.control { _ = api.dereg_mr(control.mr); control.base.deallocate() }
        }
        links = links.map { _ in nil }
        for mr in regions { _ = api.dereg_mr(mr) }
        regions.removeAll()
        _ = api.destroy_cq(cq)
        if let channel { _ = api.destroy_comp_channel(channel) }
        _ = api.dealloc_pd(pd)
        if let cmDevices { api.free_devices(cmDevices) } else { _ = api.close_device(context) }
        completionsBuffer.deallocate()
    }

    // Read by every poll: no dynamic exclusivity check (see PeerLink).
    @exclusivity(unchecked) private var closed = false

    private func closedError() -> FabricError {
        FabricError.configuration("rank \(rank): the verbs transport was closed; its operations were dropped")
    }
}
