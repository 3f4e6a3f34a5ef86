import FabricCore
import CFabricRDMA
import CFabricSystem
import Foundation

/// How messages move over the queue pairs, chosen once by `--verb`: WriteWithImmediatePath
/// (the default) or SendReceivePath. The transport holds one and forwards its posts and polls
/// to it: one dynamic call per post or poll, none per completion, since each path's poll loop
/// and everything it calls is concrete. It is also where connection setup puts new queue
/// pairs (`QueuePairSink`): a path readies them for its own traffic.
protocol DataPath: QueuePairSink {
    func postSend(to peer: Int, from region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws
    func postReceive(from peer: Int, into region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws
    /// Takes what the CQ has (see `WorkQueues.takeCompletions`), appends the messages that
    /// finished, and posts what was waiting for room or for the peer.
    func poll(_ completions: inout [Completion]) throws
    /// The link's queue pairs are connected at both ends: the path may tell the peer what
    /// it needs before the first message.
    func connected(_ link: PeerLink) throws
    /// Releases what the path registered for its links; the queue pairs are gone by then.
    func close()
}

/// What both data paths work on and the work they share: the link to each peer, the
/// registered memory, posting a message's stripes (sends, writes, one-sided writes) and
/// taking completions from the CQ. One thread uses a rank's transport, so the fields the
/// data path touches skip dynamic exclusivity checks (see PeerLink).
final class WorkQueues {
    let api: fab_rdma_api
    let rank: Int
    let worldSize: Int
    let queuePairsPerPeer: Int
    let depth = VerbsDevice.queueDepth
    /// The device, port and GID, as errors name them.
    let deviceName: String
    private let portNumber: Int
    private let gidIndex: Int
    private let pd: UnsafeMutablePointer<ibv_pd>
    private let cq: UnsafeMutablePointer<ibv_cq>
    private let channel: UnsafeMutablePointer<ibv_comp_channel>?
    @exclusivity(unchecked) var links: [PeerLink?]
    /// Registered memory by slot (a region's key); a slot released by `deregister` is nil
    /// until a registration reuses it, so a run that keeps re-registering stays bounded.
    @exclusivity(unchecked) private var regions: [UnsafeMutablePointer<ibv_mr>?] = []
    private var freeSlots: [Int] = []
    private(set) var registrationCount = 0
    /// What the queue pairs were granted for inline sends (0 until one exists).
    @exclusivity(unchecked) private(set) var maxInline = 0
    /// Completions taken from the CQ while arming it (see `waitForActivity`), handed out first.
    @exclusivity(unchecked) private var stashed: Int32 = 0
    /// The work completions `takeCompletions` took from the CQ.
    let taken: UnsafeMutablePointer<ibv_wc>
    static let pollBatch: Int32 = 32
    /// Send/receive: a failed length check at the NIC is the peer sending more than was
    /// posted (see `failure`). The write path checks lengths before it writes.
    var nicChecksLengths = false

    init(device: VerbsDevice, rank: Int, worldSize: Int, queuePairsPerPeer: Int, port: Int, gidIndex: Int) {
        api = device.api
        self.rank = rank
        self.worldSize = worldSize
        self.queuePairsPerPeer = queuePairsPerPeer
        deviceName = device.name
        portNumber = port
        self.gidIndex = gidIndex
        pd = device.pd
        cq = device.cq
        channel = device.channel
        links = Array(repeating: nil, count: worldSize)
        taken = .allocate(capacity: Int(Self.pollBatch))
    }

    // MARK: links

    /// The link to `peer`; a new one is first given to `prepare` (the path's per-peer setup).
    func link(to peer: Int, prepare: (PeerLink) throws -> Void) throws -> PeerLink {
        if let link = links[peer] { return link }
        let link = PeerLink(peer: peer, queuePairs: queuePairsPerPeer)
        try prepare(link)
        links[peer] = link
        return link
    }

    /// Takes a new queue pair into its link; the path then readies it.
    func adopt(_ qp: UnsafeMutablePointer<ibv_qp>, granted: ibv_qp_init_attr, link: PeerLink, queuePair: Int) {
        maxInline = Int(granted.cap.max_inline_data)
        link.queuePairs[queuePair] = qp
    }

    var hasLinks: Bool { links.contains { $0 != nil } }

    func pendingPeers() -> [Int] { links.compactMap { $0 }.filter(\.hasWorkPending).map(\.peer) }

    func describe(peer: Int) -> String { "rank \(peer) (verbs, \(deviceName))" }

    // MARK: memory

    func register(_ buffer: UnsafeMutableRawBufferPointer) throws -> MemoryRegion {
        let access = IBV_ACCESS_LOCAL_WRITE.rawValue | IBV_ACCESS_REMOTE_WRITE.rawValue | IBV_ACCESS_REMOTE_READ.rawValue
        guard let mr = api.reg_mr(pd, buffer.baseAddress, max(buffer.count, 1), Int32(access)) else {
            throw SystemCallError("ibv_reg_mr", "rank \(rank): registering \(buffer.count) bytes on \(deviceName) (raise 'ulimit -l' for locked memory)")
        }
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            regions[slot] = mr
        } else {
            slot = regions.count
            regions.append(mr)
        }
        registrationCount += 1
        return MemoryRegion(base: buffer.baseAddress!, length: buffer.count, key: UInt64(slot))
    }

    /// ibv_dereg_mr of the region's registration, if it is still this region's (its slot may
    /// have been released and reused since).
    func deregister(_ region: MemoryRegion) {
        guard let mr = registration(of: region) else { return }
        let slot = Int(region.key)
        // A registration the NIC will not release stays in its slot: close() tries again, and
        // registrationCount keeps showing it.
        guard api.dereg_mr(mr) == 0 else { return }
        regions[slot] = nil
        freeSlots.append(slot)
        registrationCount -= 1
    }

    /// The live registration a region's key names, if it covers the region: a stale region
    /// (deregistered, its slot reused for other memory) gets nil, never another buffer's keys.
    @inline(__always)
    private func registration(of region: MemoryRegion) -> UnsafeMutablePointer<ibv_mr>? {
        guard region.key < UInt64(regions.count), let mr = regions[Int(region.key)],
              mr.pointee.addr == UnsafeMutableRawPointer(region.base), mr.pointee.length >= region.length else { return nil }
        return mr
    }

    /// An unregistered region gets key 0: the peer's write then fails at its NIC with an access
    /// error, which names this rank.
    func remoteHandle(for region: MemoryRegion) -> RemoteRegion {
        RemoteRegion(address: UInt64(UInt(bitPattern: region.base)), key: registration(of: region)?.pointee.rkey ?? 0, length: region.length)
    }

    /// The connected link to `peer`, and the address and registration of the bytes to move.
    @inline(__always)
    func check(_ peer: Int, _ region: MemoryRegion, _ offset: Int, _ length: Int) throws -> (PeerLink, UInt64, UnsafeMutablePointer<ibv_mr>) {
        guard peer >= 0 && peer < worldSize, let link = links[peer], link.ready else {
            throw FabricError.configuration("rank \(rank): no queue pair to rank \(peer) (connect(to:) was not called for it)")
        }
        guard offset >= 0, length >= 0, offset + length <= region.length, length <= Int(UInt32.max) else {
            throw FabricError.configuration("rank \(rank): \(length) bytes at offset \(offset) overrun a \(region.length)-byte region")
        }
        guard let mr = registration(of: region) else {
            throw FabricError.configuration("rank \(rank): a \(region.length)-byte region that is not registered (deregistered, or from another transport)")
        }
        return (link, UInt64(UInt(bitPattern: region.base + offset)), mr)
    }

    // MARK: posting

    @inline(__always)
    func hasSendRoom(_ link: PeerLink, _ plan: StripePlan) -> Bool {
        for q in 0..<plan.count where link.sendQueueUsed[q] >= depth - 1 { return false }
        return true
    }

    /// One message as sends or writes, stripe i on queue pair i; completes (as a send) when
    /// every stripe has. A write's immediate is the peer's receive index.
    func postStripes(_ link: PeerLink, _ wr: PeerLink.Request, _ plan: StripePlan, opcode: ibv_wr_opcode, target: PeerLink.Target?) throws {
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
                throw SystemCallError("ibv_post_send", errno: rc, "rank \(rank): \(opcode == IBV_WR_SEND ? "send" : "RDMA write") of \(length) bytes to rank \(link.peer) on \(deviceName)")
            }
            link.sendQueueUsed[q] += 1
        }
    }

    /// A one-sided RDMA write (`OneSidedTransport.postWrite`), on either data path: it
    /// completes as a send.
    func postWrite(to peer: Int, from region: MemoryRegion, offset: Int, length: Int, remote: RemoteRegion, remoteOffset: Int, id: UInt64) throws {
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

    /// Fills `taken` from the stash or the CQ; returns how many there are.
    @inline(__always)
    func takeCompletions() throws -> Int {
        var n = stashed
        stashed = 0
        if n == 0 { n = fab_ibv_poll_cq(cq, Self.pollBatch, taken) }
        guard n >= 0 else { throw SystemCallError("ibv_poll_cq", errno: -n, "rank \(rank): \(deviceName)") }
        return Int(n)
    }

    /// The request and link a successful completion belongs to; nil for an id this transport
    /// did not make; throws on a failed completion.
    @inline(__always)
    func owner(of wc: ibv_wc) throws -> (WorkRequestID, PeerLink)? {
        guard let request = WorkRequestID(wc.wr_id), request.peer < worldSize, let link = links[request.peer] else { return nil }
        guard wc.status == IBV_WC_SUCCESS else { throw failure(wc, request) }
        return (request, link)
    }

    /// A stripe of a send or write finished: reports the messages now complete, in order.
    @inline(__always)
    func finishSend(_ wc: ibv_wc, _ request: WorkRequestID, _ link: PeerLink, _ completions: inout [Completion]) throws {
        link.sendQueueUsed[request.queuePair] -= 1
        guard link.sends.finishStripe(of: request.index, bytes: 0) else { throw stray(wc, link) }
        while let done = link.sends.popFinished() {
            completions.append(Completion(peer: link.peer, operation: .send, id: done.id, bytes: done.length))
        }
    }

    /// Reports finished receives in the order they were posted, each exactly as long as posted.
    func finishReceives(_ link: PeerLink, _ completions: inout [Completion]) throws {
        while let done = link.receives.popFinished() {
            guard done.bytes == done.length else {
                throw FabricError.protocolViolation(peer: describe(peer: link.peer), detail: "sent \(done.bytes) bytes where a \(done.length)-byte receive was posted")
            }
            completions.append(Completion(peer: link.peer, operation: .receive, id: done.id, bytes: done.length))
        }
    }

    /// A completion for a message this rank has no record of: a bug here, not the peer's doing.
    func stray(_ wc: ibv_wc, _ link: PeerLink) -> Error {
        FabricError.configuration("rank \(rank): internal error: completion \(wc.wr_id) from rank \(link.peer) matches no posted message")
    }

    /// A failed work completion, with what it usually means.
    private func failure(_ wc: ibv_wc, _ request: WorkRequestID) -> Error {
        let peer = request.peer, send = request.kind == .send || request.kind == .controlSend
        let name = api.wc_status_str(wc.status).map { String(cString: $0) } ?? "status \(wc.status.rawValue)"
        // A message longer than the peer's posted receive, refused by the NIC: a protocol
        // violation on every transport. This transport's own requests are well formed, so on
        // the send path these statuses mean just that: the spec's (receive: LOC_LEN_ERR; send:
        // REM_INV_REQ_ERR) and Soft-RoCE's (receive: LOC_QP_OP_ERR or REM_INV_REQ_ERR; send:
        // REM_OP_ERR, seen in the VM).
        if nicChecksLengths {
            if request.kind == .receive && [IBV_WC_LOC_LEN_ERR, IBV_WC_LOC_QP_OP_ERR, IBV_WC_REM_INV_REQ_ERR].contains(wc.status) {
                return FabricError.protocolViolation(peer: describe(peer: peer), detail: "sent a message longer than the posted receive (\(name) on \(deviceName)): the ranks disagree on sizes")
            }
            if request.kind == .send && [IBV_WC_REM_INV_REQ_ERR, IBV_WC_REM_OP_ERR].contains(wc.status) {
                return FabricError.protocolViolation(peer: describe(peer: peer), detail: "refused a message (\(name) on \(deviceName)): its posted receive is shorter; the ranks disagree on sizes")
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
        return FabricError.aborted("rank \(rank): \(send ? "send to" : "receive from") \(describe(peer: peer)) failed on \(deviceName) port \(portNumber), GID index \(gidIndex): \(advice)")
    }

    /// --events: arm the CQ, look once more (a completion that came before arming raises no
    /// event), then sleep on the channel's fd until an event or the time is up.
    func waitForActivity(milliseconds: Int32) throws {
        guard let channel, stashed == 0 else { return }
        let rc = fab_ibv_req_notify_cq(cq, 0)
        guard rc == 0 else { throw SystemCallError("ibv_req_notify_cq", errno: rc, "rank \(rank): \(deviceName)") }
        let n = fab_ibv_poll_cq(cq, Self.pollBatch, taken)
        if n != 0 { stashed = n; return }  // an error too: poll reports it
        var descriptor = pollfd(fd: channel.pointee.fd, events: Int16(POLLIN), revents: 0)
        let ready = Glibc.poll(&descriptor, 1, milliseconds)
        guard ready > 0 else {
            if ready < 0 && errno != EINTR { throw SystemCallError("poll", "rank \(rank): the completion channel of \(deviceName)") }
            return
        }
        var eventCQ: UnsafeMutablePointer<ibv_cq>?
        var context: UnsafeMutableRawPointer?
        guard api.get_cq_event(channel, &eventCQ, &context) == 0 else { throw SystemCallError("ibv_get_cq_event", "rank \(rank): \(deviceName)") }
        api.ack_cq_events(cq, 1)
    }

    /// Deregisters the memory and forgets the links; the queue pairs are gone by then.
    func close() {
        links = links.map { _ in nil }
        for case let mr? in regions { _ = api.dereg_mr(mr) }
        regions.removeAll()
        freeSlots.removeAll()
        registrationCount = 0
        taken.deallocate()
    }
}
