import FabricCore
import CFabricRDMA
import CFabricSystem
import FabricPlacement
import Foundation

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
public final class VerbsTransport: OneSidedTransport, QueuePairSink {
    public let kind = TransportKind.verbs
    public let rank: Int
    public let worldSize: Int
    public let options: VerbsOptions
    public var timeout: Double { options.timeout }
    /// Busy polling never sleeps; with --events a wait sleeps on the completion channel at once.
    public var spinsBeforeSleep: Int { channel == nil ? Int.max : 0 }

    let api: fab_rdma_api
    let store: any Store
    let device: VerbsDevice
    private let setup: any ConnectionSetup
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
    let depth = VerbsDevice.queueDepth
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
        let selection = try DeviceSelection(options: options, rank: rank)
        port = selection.port
        gid = selection.gid
        // Place the polling thread and the buffers it registers next to the NIC.
        let numa = NUMAPlacement(device: selection.port.device, deviceNode: selection.numaNode, requestedNode: options.numaNode, cpusPinned: options.pinned)
        try numa.apply()
        placement = numa.description
        let cmHost = try options.connectionManager ? ConnectionManagerSetup.host(options: options, gid: selection.gid, device: selection.port.device, rank: rank) : nil
        let device = try VerbsDevice(selection.port.device, api: api, rank: rank, throughConnectionManager: cmHost != nil, events: options.events,
                                     queuePairs: options.queuePairs, peers: worldSize - 1)
        self.device = device
        if let cmHost {
            setup = ConnectionManagerSetup(device: device, selection: selection, host: cmHost, store: store, options: options)
        } else {
            setup = QueuePairExchange(device: device, selection: selection, store: store, options: options)
        }
        pd = device.pd
        cq = device.cq
        channel = device.channel
        links = Array(repeating: nil, count: worldSize)
        completionsBuffer = .allocate(capacity: 32)
    }

    deinit { close() }

    public var settings: [String: String] {
        [
            "device": port.device, "port": "\(port.port)", "link_layer": port.linkLayer,
            "gid_index": "\(gid.index)", "gid": gid.gid, "gid_type": gid.type,
            "queue_pairs_per_peer": "\(options.queuePairs)",
            "stripe_minimum_bytes": options.queuePairs > 1 ? "\(StripePlan.minimumStripe)" : "not striped",
            "verb": options.dataPath.rawValue,
            "inline_bytes": links.contains { $0 != nil } ? "\(maxInline)" : "\(options.inlineBytes) requested", "numa_node": port.numaNode.map(String.init) ?? "unknown", "placement": placement,
            "polling": channel == nil ? "busy (CQ polling)" : "events (completion channel)",
        ].merging(setup.settings) { _, fromSetup in fromSetup }
    }

    // MARK: connection setup

    public func connect(to peers: [Int]) throws {
        for p in peers where p < 0 || p >= worldSize { throw FabricError.configuration("rank \(rank): peer rank \(p) is out of range") }
        let wanted = Array(Set(peers).subtracting([rank])).filter { links[$0]?.ready != true }.sorted()
        guard !wanted.isEmpty else { return }
        try setup.connect(wanted, into: self)
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
        var n = stashed
        stashed = 0
        if n == 0 { n = fab_ibv_poll_cq(cq, 32, completionsBuffer) }
        guard n >= 0 else { throw SystemCallError("ibv_poll_cq", errno: -n, "rank \(rank): \(port.device)") }
        for i in 0..<Int(n) {
            let wc = completionsBuffer[i]
            guard let request = WorkRequestID(wc.wr_id), request.peer < worldSize, let link = links[request.peer] else { continue }
            guard wc.status == IBV_WC_SUCCESS else { throw failure(wc, peer: request.peer, send: request.kind == .send || request.kind == .controlSend) }
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

    public func checkJobIsAlive() throws { try store.checkJobIsAlive() }

    public func pendingPeers() -> [Int] { links.compactMap { $0 }.filter(\.hasWorkPending).map(\.peer) }

    public func describe(peer: Int) -> String { "rank \(peer) (verbs, \(port.device))" }

    public func close() {
        guard !closed else { return }
        closed = true
        setup.close()  // destroys the queue pairs it created
        for link in links.compactMap({ $0 }) {
            if let control = link.control { _ = api.dereg_mr(control.mr); control.base.deallocate() }
        }
        links = links.map { _ in nil }
        for mr in regions { _ = api.dereg_mr(mr) }
        regions.removeAll()
        device.close()
        completionsBuffer.deallocate()
    }

    private var closed = false
}
