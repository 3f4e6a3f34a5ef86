import CFabric
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

public struct VerbsOptions: Sendable {
    public var dataPath = VerbsDataPath.write
    /// Sleep on a completion channel when nothing is ready, instead of polling the CQ.
    public var events = false
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
}

/// RDMA verbs implementation of `Transport`: one RC queue pair per peer, all completions on
/// one CQ, polled. Queue pair numbers, PSNs, LIDs and GIDs are exchanged through the
/// rendezvous store. A send of N bytes lands in the peer's next posted receive, which must
/// be of exactly N bytes (as over TCP); anything else is reported as a protocol violation.
///
/// With `--verb write` (the default) a posted receive sends the peer a 16-byte "clear to
/// send" (address, rkey, length) and a send waits for the next one from its peer, then
/// writes with immediate. The receive queue then holds only uniform control slots: a slot
/// completes either with a clear-to-send message in it or with the immediate of a write,
/// and is re-posted at once. Order is kept per peer because RC delivers in order.
public final class VerbsTransport: OneSidedTransport {
    public let kind = TransportKind.verbs
    public let rank: Int
    public let worldSize: Int
    public let options: VerbsOptions
    public var timeout: Double { options.timeout }
    /// Busy polling never sleeps; with --events a wait sleeps on the completion channel at once.
    public var spinsBeforeSleep: Int { channel == nil ? Int.max : 0 }

    private let api: fab_rdma_api
    private let rendezvous: RendezvousClient
    private let context: UnsafeMutablePointer<ibv_context>
    private let pd: UnsafeMutablePointer<ibv_pd>
    private let cq: UnsafeMutablePointer<ibv_cq>
    /// --events: the completion channel the CQ reports to.
    private let channel: UnsafeMutablePointer<ibv_comp_channel>?
    /// Completions taken from the CQ while arming it (see `waitForActivity`), handed out first.
    private var stashed: Int32 = 0
    public let port: RDMAPort
    public let gid: GIDEntry
    /// Where this rank runs and allocates, for the report.
    public let placement: String
    private var queuePairs: [UnsafeMutablePointer<ibv_qp>?]
    private var regions: [UnsafeMutablePointer<ibv_mr>] = []
    private var connected: [Int] = []
    private var maxInline = 0
    private let depth = 512
    /// One work request as posted (or waiting for room in the queue pair).
    struct Request {
        var send: Bool
        var address: UInt64
        var length: Int
        var lkey: UInt32
        var id: UInt64
    }
    /// Per peer and direction: (length, id) of posted requests in order (completions come in
    /// the same order: a receive's length is what the arriving message must match), and
    /// requests waiting until completions make room (or, for writes, a clear-to-send).
    private var posted: [(send: FIFO<(Int, UInt64)>, receive: FIFO<(Int, UInt64)>)]
    private var waiting: [(send: FIFO<Request>, receive: FIFO<Request>)]
    /// Send-queue entries in use per peer, whatever they carry (sends, writes, clear-to-sends):
    /// the one count every path checks before posting.
    private var sendQueueUsed: [Int]
    /// Write path, per peer: where the peer said to write next, clear-to-sends to send, and
    /// the control memory (receive slots, then a send ring).
    private var clearToSend: [FIFO<Target>]
    private var clearToSendOutgoing: [FIFO<Target>]
    private var controlMemory: [(base: UnsafeMutableRawPointer, mr: UnsafeMutablePointer<ibv_mr>, nextSlot: Int)?]
    private static let slotBytes = 16

    struct Target {
        var address: UInt64
        var rkey: UInt32
        var length: Int
    }

    /// What a work request is, in the low 3 bits of its id (then 24 bits of peer, then the caller's id).
    enum Kind: UInt64 {
        case send = 0, receive = 1, write = 2, controlSlot = 3, controlSend = 4
    }
    private let completionsBuffer: UnsafeMutablePointer<ibv_wc>

    public init(rendezvous: RendezvousClient, options: VerbsOptions) throws {
        let api = try RDMALibrary.verbs()
        self.api = api
        rank = rendezvous.rank
        worldSize = rendezvous.worldSize
        self.rendezvous = rendezvous
        self.options = options
        let ports = try RDMADevices.list()
        let candidates = ports.filter { ($0.device == options.device || options.device == nil) && $0.port == options.port }
        guard let chosen = candidates.first(where: { $0.state == "ACTIVE" }) ?? candidates.first else {
            let have = ports.map { "\($0.device) port \($0.port) (\($0.state))" }.joined(separator: ", ")
            throw FabricError.configuration("rank \(rendezvous.rank): no RDMA device \(options.device ?? "with an active port") port \(options.port) (devices: \(have.isEmpty ? "none" : have)); see 'fabricbench devices'")
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
        var count: Int32 = 0
        guard let list = api.get_device_list(&count) else { throw FabricError.configuration("ibv_get_device_list failed") }
        defer { api.free_device_list(list) }
        var opened: UnsafeMutablePointer<ibv_context>?
        for i in 0..<Int(count) where api.get_device_name(list[i]).map({ String(cString: $0) }) == chosen.device {
            opened = api.open_device(list[i])
        }
        guard let context = opened else { throw SystemCallError("ibv_open_device", "rank \(rank): opening \(chosen.device)") }
        self.context = context
        guard let pd = api.alloc_pd(context) else { throw SystemCallError("ibv_alloc_pd", "rank \(rank): \(chosen.device)") }
        self.pd = pd
        if options.events {
            guard let c = api.create_comp_channel(context) else { throw SystemCallError("ibv_create_comp_channel", "rank \(rank): \(chosen.device)") }
            channel = c
        } else {
            channel = nil
        }
        guard let cq = api.create_cq(context, Int32(4 * depth), nil, channel, 0) else {
            throw SystemCallError("ibv_create_cq", "rank \(rank): \(chosen.device)")
        }
        self.cq = cq
        queuePairs = Array(repeating: nil, count: worldSize)
        posted = Array(repeating: (FIFO(), FIFO()), count: worldSize)
        waiting = Array(repeating: (FIFO(), FIFO()), count: worldSize)
        clearToSend = Array(repeating: FIFO(), count: worldSize)
        clearToSendOutgoing = Array(repeating: FIFO(), count: worldSize)
        sendQueueUsed = Array(repeating: 0, count: worldSize)
        controlMemory = Array(repeating: nil, count: worldSize)
        completionsBuffer = .allocate(capacity: 32)
    }

    deinit { close() }

    public var settings: [String: String] {
        [
            "device": port.device, "port": "\(port.port)", "link_layer": port.linkLayer,
            "gid_index": "\(gid.index)", "gid": gid.gid, "gid_type": gid.type, "gid_choice": options.gidIndex == nil ? port.choice : "--gid-index",
            "mtu": "\(options.mtu.map { min($0, port.activeMTU) } ?? port.activeMTU)", "verb": options.dataPath.rawValue,
            "inline_bytes": "\(maxInline)", "numa_node": port.numaNode.map(String.init) ?? "unknown", "placement": placement,
            "polling": channel == nil ? "busy (CQ polling)" : "events (completion channel)",
        ]
    }

    // MARK: connection setup

    struct Endpoint {
        var qpn: UInt32
        var psn: UInt32
        var lid: UInt16
        var mtu: Int
        var gid: [UInt8]
    }

    public func connect(to peers: [Int]) throws {
        let wanted = Array(Set(peers).subtracting([rank])).filter { queuePairs[$0] == nil }.sorted()
        for p in wanted where p < 0 || p >= worldSize { throw FabricError.configuration("rank \(rank): peer rank \(p) is out of range") }
        // Publish every queue pair before reading any peer's, so no rank waits on another.
        var local: [Int: (UnsafeMutablePointer<ibv_qp>, UInt32)] = [:]
        for peer in wanted {
            let qp = try createQueuePair(peer: peer)
            if options.dataPath == .write { try prepareControl(peer: peer, qp: qp) }
            let psn = UInt32.random(in: 0..<(1 << 24))
            local[peer] = (qp, psn)
            var w = ByteWriter()
            w.u32(qp.pointee.qp_num)
            w.u32(psn)
            w.u16(port.lid == 0 ? 0 : UInt16(port.lid))
            w.u16(UInt16(port.activeMTU))
            w.blob(gid.raw)
            try rendezvous.set("verbs/qp/\(rank)/\(peer)", w.bytes)
        }
        for peer in wanted {
            let raw = try rendezvous.get("verbs/qp/\(peer)/\(rank)", description: "rank \(peer)'s queue pair for rank \(rank)")
            var r = ByteReader(raw, peer: "rank \(peer)", what: "queue pair exchange")
            let remote = Endpoint(qpn: try r.u32(), psn: try r.u32(), lid: try r.u16(), mtu: Int(try r.u16()), gid: try r.blob(limit: 16))
            try r.expectEnd()
            guard remote.gid.count == 16 else { throw FabricError.protocolViolation(peer: "rank \(peer)", detail: "GID of \(remote.gid.count) bytes") }
            let (qp, psn) = local[peer]!
            try moveToReady(qp, peer: peer, localPSN: psn, remote: remote)
            queuePairs[peer] = qp
            connected.append(peer)
            try rendezvous.set("verbs/ready/\(rank)/\(peer)", [1])
        }
        for peer in wanted {
            _ = try rendezvous.get("verbs/ready/\(peer)/\(rank)", description: "rank \(peer)'s queue pair to become ready")
        }
    }

    private func createQueuePair(peer: Int) throws -> UnsafeMutablePointer<ibv_qp> {
        var attr = ibv_qp_init_attr()
        attr.send_cq = cq
        attr.recv_cq = cq
        attr.qp_type = IBV_QPT_RC
        attr.cap.max_send_wr = UInt32(depth)
        attr.cap.max_recv_wr = UInt32(depth)
        attr.cap.max_send_sge = 1
        attr.cap.max_recv_sge = 1
        attr.cap.max_inline_data = UInt32(max(options.inlineBytes, 0))
        guard let qp = api.create_qp(pd, &attr) else {
            throw SystemCallError("ibv_create_qp", "rank \(rank): queue pair to rank \(peer) on \(port.device) (lower the depth or check ulimit -l)")
        }
        maxInline = Int(attr.cap.max_inline_data)
        var a = ibv_qp_attr()
        a.qp_state = IBV_QPS_INIT
        a.pkey_index = 0
        a.port_num = UInt8(port.port)
        a.qp_access_flags = IBV_ACCESS_LOCAL_WRITE.rawValue | IBV_ACCESS_REMOTE_WRITE.rawValue | IBV_ACCESS_REMOTE_READ.rawValue
        let mask = IBV_QP_STATE.rawValue | IBV_QP_PKEY_INDEX.rawValue | IBV_QP_PORT.rawValue | IBV_QP_ACCESS_FLAGS.rawValue
        let rc = api.modify_qp(qp, &a, Int32(mask))
        guard rc == 0 else { throw SystemCallError("ibv_modify_qp(INIT)", errno: rc, "rank \(rank): queue pair to rank \(peer) on \(port.device) port \(port.port)") }
        return qp
    }

    private func moveToReady(_ qp: UnsafeMutablePointer<ibv_qp>, peer: Int, localPSN: UInt32, remote: Endpoint) throws {
        let mtuBytes = [port.activeMTU, remote.mtu, options.mtu ?? Int.max].min()!
        guard let mtu = RDMADevices.mtuEnum(mtuBytes) else {
            throw FabricError.configuration("rank \(rank): no valid path MTU for rank \(peer) (local \(port.activeMTU), remote \(remote.mtu), --mtu \(options.mtu.map(String.init) ?? "-"))")
        }
        var a = ibv_qp_attr()
        a.qp_state = IBV_QPS_RTR
        a.path_mtu = mtu
        a.dest_qp_num = remote.qpn
        a.rq_psn = remote.psn
        a.max_dest_rd_atomic = 1
        a.min_rnr_timer = 12
        a.ah_attr.port_num = UInt8(port.port)
        a.ah_attr.sl = UInt8(options.serviceLevel)
        a.ah_attr.dlid = remote.lid
        if port.linkLayer == "Ethernet" || remote.lid == 0 {
            a.ah_attr.is_global = 1
            withUnsafeMutableBytes(of: &a.ah_attr.grh.dgid.raw) { dst in remote.gid.withUnsafeBytes { dst.copyMemory(from: $0) } }
            a.ah_attr.grh.sgid_index = UInt8(gid.index)
            a.ah_attr.grh.hop_limit = 64
            a.ah_attr.grh.traffic_class = UInt8(options.trafficClass)
        }
        var mask = IBV_QP_STATE.rawValue | IBV_QP_AV.rawValue | IBV_QP_PATH_MTU.rawValue | IBV_QP_DEST_QPN.rawValue
        mask |= IBV_QP_RQ_PSN.rawValue | IBV_QP_MAX_DEST_RD_ATOMIC.rawValue | IBV_QP_MIN_RNR_TIMER.rawValue
        var rc = api.modify_qp(qp, &a, Int32(mask))
        guard rc == 0 else {
            throw FabricError.configuration("rank \(rank): failed to move the queue pair to rank \(peer) to RTR on \(port.device) port \(port.port), GID index \(gid.index) (\(String(cString: strerror(rc)))): check MTU (\(mtuBytes)), the GID index and the peer's LID/GID (\(RDMADevices.formatGID(remote.gid)), LID \(remote.lid))")
        }
        a.qp_state = IBV_QPS_RTS
        a.timeout = 14
        a.retry_cnt = 7
        a.rnr_retry = 7
        a.sq_psn = localPSN
        a.max_rd_atomic = 1
        let rtsMask = IBV_QP_STATE.rawValue | IBV_QP_TIMEOUT.rawValue | IBV_QP_RETRY_CNT.rawValue | IBV_QP_RNR_RETRY.rawValue
            | IBV_QP_SQ_PSN.rawValue | IBV_QP_MAX_QP_RD_ATOMIC.rawValue
        rc = api.modify_qp(qp, &a, Int32(rtsMask))
        guard rc == 0 else {
            throw FabricError.configuration("rank \(rank): failed to move the queue pair to rank \(peer) to RTS on \(port.device) (\(String(cString: strerror(rc))))")
        }
    }

    // MARK: data path

    public func register(_ buffer: UnsafeMutableRawBufferPointer) throws -> MemoryRegion {
        let access = IBV_ACCESS_LOCAL_WRITE.rawValue | IBV_ACCESS_REMOTE_WRITE.rawValue | IBV_ACCESS_REMOTE_READ.rawValue
        guard let mr = api.reg_mr(pd, buffer.baseAddress, max(buffer.count, 1), Int32(access)) else {
            throw SystemCallError("ibv_reg_mr", "rank \(rank): registering \(buffer.count) bytes on \(port.device) (raise 'ulimit -l' for locked memory)")
        }
        regions.append(mr)
        return MemoryRegion(base: buffer.baseAddress!, length: buffer.count, key: UInt64(regions.count - 1))
    }

    @inline(__always)
    private func check(_ peer: Int, _ region: MemoryRegion, _ offset: Int, _ length: Int) throws -> (UInt64, UInt32) {
        guard peer >= 0 && peer < worldSize, queuePairs[peer] != nil else {
            throw FabricError.configuration("rank \(rank): no queue pair to rank \(peer) (connect(to:) was not called for it)")
        }
        guard offset >= 0, length >= 0, offset + length <= region.length, Int(region.key) < regions.count else {
            throw FabricError.configuration("rank \(rank): \(length) bytes at offset \(offset) overrun a \(region.length)-byte region")
        }
        return (UInt64(UInt(bitPattern: region.base + offset)), regions[Int(region.key)].pointee.lkey)
    }

    public func postSend(to peer: Int, from region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        let (address, lkey) = try check(peer, region, offset, length)
        let wr = Request(send: true, address: address, length: length, lkey: lkey, id: id)
        if options.dataPath == .write {
            waiting[peer].send.append(wr)
            try pump(peer)
        } else {
            try submit(peer, wr)
        }
    }

    public func postReceive(from peer: Int, into region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        let (address, lkey) = try check(peer, region, offset, length)
        if options.dataPath == .write {
            posted[peer].receive.append((length, id))
            clearToSendOutgoing[peer].append(Target(address: address, rkey: regions[Int(region.key)].pointee.rkey, length: length))
            try pump(peer)
        } else {
            try submit(peer, Request(send: false, address: address, length: length, lkey: lkey, id: id))
        }
    }

    /// Send/receive path: posts now if the queue pair has room and nothing older waits, else queues in order.
    private func submit(_ peer: Int, _ wr: Request) throws {
        if wr.send {
            if sendQueueUsed[peer] < depth - 1 && waiting[peer].send.isEmpty { try post(peer, wr) } else { waiting[peer].send.append(wr) }
        } else {
            if posted[peer].receive.count < depth - 1 && waiting[peer].receive.isEmpty { try post(peer, wr) } else { waiting[peer].receive.append(wr) }
        }
    }

    private func post(_ peer: Int, _ wr: Request) throws {
        var sge = ibv_sge(addr: wr.address, length: UInt32(wr.length), lkey: wr.lkey)
        let wrID = Self.workRequestID(wr.send ? .send : .receive, peer: peer, id: wr.id)
        let qp = queuePairs[peer]!
        let rc: Int32 = withUnsafeMutablePointer(to: &sge) { sgePointer in
            if wr.send {
                var w = ibv_send_wr()
                w.wr_id = wrID
                w.sg_list = wr.length > 0 ? sgePointer : nil
                w.num_sge = wr.length > 0 ? 1 : 0
                w.opcode = IBV_WR_SEND
                w.send_flags = IBV_SEND_SIGNALED.rawValue | (wr.length <= maxInline ? IBV_SEND_INLINE.rawValue : 0)
                var bad: UnsafeMutablePointer<ibv_send_wr>?
                return fab_ibv_post_send(qp, &w, &bad)
            } else {
                var w = ibv_recv_wr()
                w.wr_id = wrID
                w.sg_list = wr.length > 0 ? sgePointer : nil
                w.num_sge = wr.length > 0 ? 1 : 0
                var bad: UnsafeMutablePointer<ibv_recv_wr>?
                return fab_ibv_post_recv(qp, &w, &bad)
            }
        }
        guard rc == 0 else {
            throw SystemCallError(wr.send ? "ibv_post_send" : "ibv_post_recv", errno: rc, "rank \(rank): \(wr.length) bytes with rank \(peer) on \(port.device)")
        }
        if wr.send {
            sendQueueUsed[peer] += 1
            posted[peer].send.append((wr.length, wr.id))
        } else {
            posted[peer].receive.append((wr.length, wr.id))
        }
    }

    static func workRequestID(_ kind: Kind, peer: Int, id: UInt64) -> UInt64 { id << 27 | UInt64(peer) << 3 | kind.rawValue }

    // MARK: write path

    /// Registers this peer's control memory (depth − 1 receive slots, then a send ring of
    /// depth slots) and posts every receive slot, before the peer can send anything.
    private func prepareControl(peer: Int, qp: UnsafeMutablePointer<ibv_qp>) throws {
        let bytes = (2 * depth - 1) * Self.slotBytes
        let base = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        guard let mr = api.reg_mr(pd, base, bytes, Int32(IBV_ACCESS_LOCAL_WRITE.rawValue)) else {
            base.deallocate()
            throw SystemCallError("ibv_reg_mr", "rank \(rank): control slots for rank \(peer) on \(port.device) (raise 'ulimit -l')")
        }
        controlMemory[peer] = (base, mr, 0)
        for slot in 0..<(depth - 1) { try postControlSlot(peer: peer, slot: slot, qp: qp) }
    }

    private func postControlSlot(peer: Int, slot: Int, qp: UnsafeMutablePointer<ibv_qp>? = nil) throws {
        let control = controlMemory[peer]!
        var sge = ibv_sge(addr: UInt64(UInt(bitPattern: control.base + slot * Self.slotBytes)), length: UInt32(Self.slotBytes), lkey: control.mr.pointee.lkey)
        var w = ibv_recv_wr()
        w.wr_id = Self.workRequestID(.controlSlot, peer: peer, id: UInt64(slot))
        w.num_sge = 1
        var bad: UnsafeMutablePointer<ibv_recv_wr>?
        let rc = withUnsafeMutablePointer(to: &sge) { sgePointer in
            w.sg_list = sgePointer
            return fab_ibv_post_recv(qp ?? queuePairs[peer]!, &w, &bad)
        }
        guard rc == 0 else { throw SystemCallError("ibv_post_recv", errno: rc, "rank \(rank): control slot for rank \(peer) on \(port.device)") }
    }

    /// Sends what the send queue has room for: clear-to-sends first (they unblock the
    /// peer), then writes for which the peer said where.
    private func pump(_ peer: Int) throws {
        let qp = queuePairs[peer]!
        while sendQueueUsed[peer] < depth - 1, let target = clearToSendOutgoing[peer].first {
            clearToSendOutgoing[peer].removeFirst()
            var control = controlMemory[peer]!
            let slot = depth - 1 + control.nextSlot
            control.nextSlot = (control.nextSlot + 1) % depth
            controlMemory[peer] = control
            let message = control.base + slot * Self.slotBytes
            message.storeBytes(of: target.address.littleEndian, as: UInt64.self)
            message.storeBytes(of: target.rkey.littleEndian, toByteOffset: 8, as: UInt32.self)
            message.storeBytes(of: UInt32(target.length).littleEndian, toByteOffset: 12, as: UInt32.self)
            var sge = ibv_sge(addr: UInt64(UInt(bitPattern: message)), length: UInt32(Self.slotBytes), lkey: control.mr.pointee.lkey)
            var w = ibv_send_wr()
            w.wr_id = Self.workRequestID(.controlSend, peer: peer, id: 0)
            w.num_sge = 1
            w.opcode = IBV_WR_SEND
            w.send_flags = IBV_SEND_SIGNALED.rawValue | (Self.slotBytes <= maxInline ? IBV_SEND_INLINE.rawValue : 0)
            var bad: UnsafeMutablePointer<ibv_send_wr>?
            let rc = withUnsafeMutablePointer(to: &sge) { sgePointer in
                w.sg_list = sgePointer
                return fab_ibv_post_send(qp, &w, &bad)
            }
            guard rc == 0 else { throw SystemCallError("ibv_post_send", errno: rc, "rank \(rank): clear-to-send to rank \(peer) on \(port.device)") }
            sendQueueUsed[peer] += 1
        }
        while sendQueueUsed[peer] < depth - 1, let wr = waiting[peer].send.first, let target = clearToSend[peer].first {
            waiting[peer].send.removeFirst()
            clearToSend[peer].removeFirst()
            guard wr.length == target.length else {
                throw FabricError.protocolViolation(peer: describe(peer: peer), detail: "posted a \(target.length)-byte receive where this rank sends \(wr.length) bytes")
            }
            try postRDMAWrite(peer, wr, to: target, immediate: true)
        }
    }

    /// One RDMA write (with immediate: completes a receive at the peer); reported as a send.
    private func postRDMAWrite(_ peer: Int, _ wr: Request, to target: Target, immediate: Bool) throws {
        var sge = ibv_sge(addr: wr.address, length: UInt32(wr.length), lkey: wr.lkey)
        var w = ibv_send_wr()
        w.wr_id = Self.workRequestID(.write, peer: peer, id: wr.id)
        w.num_sge = wr.length > 0 ? 1 : 0
        w.opcode = immediate ? IBV_WR_RDMA_WRITE_WITH_IMM : IBV_WR_RDMA_WRITE
        w.send_flags = IBV_SEND_SIGNALED.rawValue | (wr.length <= maxInline ? IBV_SEND_INLINE.rawValue : 0)
        w.wr.rdma.remote_addr = target.address
        w.wr.rdma.rkey = target.rkey
        var bad: UnsafeMutablePointer<ibv_send_wr>?
        let rc = withUnsafeMutablePointer(to: &sge) { sgePointer in
            w.sg_list = wr.length > 0 ? sgePointer : nil
            return fab_ibv_post_send(queuePairs[peer]!, &w, &bad)
        }
        guard rc == 0 else { throw SystemCallError("ibv_post_send", errno: rc, "rank \(rank): RDMA write of \(wr.length) bytes to rank \(peer) on \(port.device)") }
        sendQueueUsed[peer] += 1
        posted[peer].send.append((wr.length, wr.id))
    }

    // MARK: one-sided writes

    public func remoteHandle(for region: MemoryRegion) -> RemoteRegion {
        RemoteRegion(address: UInt64(UInt(bitPattern: region.base)), key: regions[Int(region.key)].pointee.rkey, length: region.length)
    }

    public func postWrite(to peer: Int, from region: MemoryRegion, offset: Int, length: Int,
                          remote: RemoteRegion, remoteOffset: Int, id: UInt64) throws {
        let (address, lkey) = try check(peer, region, offset, length)
        guard remoteOffset >= 0, remoteOffset + length <= remote.length else {
            throw FabricError.configuration("rank \(rank): a \(length)-byte write at offset \(remoteOffset) overruns rank \(peer)'s \(remote.length)-byte region")
        }
        guard sendQueueUsed[peer] < depth - 1 else {
            throw FabricError.configuration("rank \(rank): the send queue to rank \(peer) is full (\(depth - 1) writes in flight): poll before writing more")
        }
        try postRDMAWrite(peer, Request(send: true, address: address, length: length, lkey: lkey, id: id),
                          to: Target(address: remote.address + UInt64(remoteOffset), rkey: remote.key, length: length), immediate: false)
    }

    public func poll(_ completions: inout [Completion]) throws {
        var n = stashed
        stashed = 0
        if n == 0 { n = fab_ibv_poll_cq(cq, 32, completionsBuffer) }
        guard n >= 0 else { throw SystemCallError("ibv_poll_cq", errno: -n, "rank \(rank): \(port.device)") }
        for i in 0..<Int(n) {
            let wc = completionsBuffer[i]
            let peer = Int((wc.wr_id >> 3) & 0xFF_FFFF), id = wc.wr_id >> 27
            guard let kind = Kind(rawValue: wc.wr_id & 7) else { continue }
            guard wc.status == IBV_WC_SUCCESS else { throw failure(wc, peer: peer, send: [.send, .write, .controlSend].contains(kind)) }
            switch kind {
            case .send:
                sendQueueUsed[peer] -= 1
                let (length, _) = posted[peer].send.removeFirst()
                completions.append(Completion(peer: peer, operation: .send, id: id, bytes: length))
                while let next = waiting[peer].send.first, sendQueueUsed[peer] < depth - 1 {
                    waiting[peer].send.removeFirst()
                    try post(peer, next)
                }
            case .receive:
                let (expected, _) = posted[peer].receive.removeFirst()
                guard Int(wc.byte_len) == expected else {
                    throw FabricError.protocolViolation(peer: describe(peer: peer), detail: "sent \(wc.byte_len) bytes where a \(expected)-byte receive was posted")
                }
                completions.append(Completion(peer: peer, operation: .receive, id: id, bytes: expected))
                while let next = waiting[peer].receive.first, posted[peer].receive.count < depth - 1 {
                    waiting[peer].receive.removeFirst()
                    try post(peer, next)
                }
            case .write:
                sendQueueUsed[peer] -= 1
                let (length, callerID) = posted[peer].send.removeFirst()
                completions.append(Completion(peer: peer, operation: .send, id: callerID, bytes: length))
                try pump(peer)
            case .controlSend:
                sendQueueUsed[peer] -= 1
                try pump(peer)
            case .controlSlot:
                if wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM {
                    guard let (expected, callerID) = posted[peer].receive.first else {
                        throw FabricError.protocolViolation(peer: describe(peer: peer), detail: "wrote \(wc.byte_len) bytes that no posted receive asked for")
                    }
                    posted[peer].receive.removeFirst()
                    guard Int(wc.byte_len) == expected else {
                        throw FabricError.protocolViolation(peer: describe(peer: peer), detail: "wrote \(wc.byte_len) bytes where a \(expected)-byte receive was posted")
                    }
                    completions.append(Completion(peer: peer, operation: .receive, id: callerID, bytes: expected))
                } else {
                    guard Int(wc.byte_len) == Self.slotBytes else {
                        throw FabricError.protocolViolation(peer: describe(peer: peer), detail: "sent a \(wc.byte_len)-byte control message (expected \(Self.slotBytes))")
                    }
                    let message = controlMemory[peer]!.base + Int(id) * Self.slotBytes
                    clearToSend[peer].append(Target(address: UInt64(littleEndian: message.loadUnaligned(as: UInt64.self)),
                                                    rkey: UInt32(littleEndian: message.loadUnaligned(fromByteOffset: 8, as: UInt32.self)),
                                                    length: Int(UInt32(littleEndian: message.loadUnaligned(fromByteOffset: 12, as: UInt32.self)))))
                }
                try postControlSlot(peer: peer, slot: Int(id))
                try pump(peer)
            }
        }
    }

    /// A failed work completion, with what it usually means.
    private func failure(_ wc: ibv_wc, peer: Int, send: Bool) -> Error {
        let name = api.wc_status_str(wc.status).map { String(cString: $0) } ?? "status \(wc.status.rawValue)"
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
        guard let channel, stashed == 0 else { return }
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

    public func checkJobIsAlive() throws { try rendezvous.checkJobIsAlive() }

    public func pendingPeers() -> [Int] {
        connected.filter { !posted[$0].send.isEmpty || !posted[$0].receive.isEmpty || !waiting[$0].send.isEmpty || !waiting[$0].receive.isEmpty
            || !clearToSendOutgoing[$0].isEmpty }
    }

    public func describe(peer: Int) -> String { "rank \(peer) (verbs, \(port.device))" }

    public func close() {
        for i in queuePairs.indices { if let qp = queuePairs[i] { _ = api.destroy_qp(qp) }; queuePairs[i] = nil }
        for mr in regions { _ = api.dereg_mr(mr) }
        regions.removeAll()
        for i in controlMemory.indices {
            if let c = controlMemory[i] { _ = api.dereg_mr(c.mr); c.base.deallocate() }
            controlMemory[i] = nil
        }
        connected.removeAll()
        if !closed {
            closed = true
            _ = api.destroy_cq(cq)
            if let channel { _ = api.destroy_comp_channel(channel) }
            _ = api.dealloc_pd(pd)
            _ = api.close_device(context)
            completionsBuffer.deallocate()
        }
    }

    private var closed = false
}
