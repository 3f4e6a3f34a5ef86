import FabricCore
import CFabricRDMA
import CFabricSystem

/// `--verb send`: two-sided send/receive. The NIC matches each message (each stripe, with
/// `--qps`) to the next receive posted on its queue pair, so a receive is posted per stripe
/// on the queue pair its stripe arrives on.
final class SendReceivePath: DataPath {
    private let queues: WorkQueues

    init(queues: WorkQueues) {
        self.queues = queues
        queues.nicChecksLengths = true
    }

    // MARK: queue pairs

    /// Links need nothing beyond their queue pairs here.
    func link(to peer: Int) throws -> PeerLink {
        try queues.link(to: peer) { _ in }
    }

    func adopt(_ qp: UnsafeMutablePointer<ibv_qp>, granted: ibv_qp_init_attr, link: PeerLink, queuePair: Int) throws {
        queues.adopt(qp, granted: granted, link: link, queuePair: queuePair)
    }

    func connected(_ link: PeerLink) throws {}

    func close() {}

    // MARK: posting

    func postSend(to peer: Int, from region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        let (link, address, mr) = try queues.check(peer, region, offset, length)
        let wr = PeerLink.Request(address: address, length: length, lkey: mr.pointee.lkey, id: id)
        // Nothing older waiting and room: post at once (the common case).
        if link.waitingSends.isEmpty {
            let plan = StripePlan(length: length, queuePairs: queues.queuePairsPerPeer)
            if queues.hasSendRoom(link, plan) { return try queues.postStripes(link, wr, plan, opcode: IBV_WR_SEND, target: nil) }
        }
        link.waitingSends.append(wr)
        try pump(link)
    }

    func postReceive(from peer: Int, into region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        let (link, address, mr) = try queues.check(peer, region, offset, length)
        let wr = PeerLink.Request(address: address, length: length, lkey: mr.pointee.lkey, id: id)
        let plan = StripePlan(length: length, queuePairs: queues.queuePairsPerPeer)
        if link.waitingReceives.isEmpty && hasReceiveRoom(link, plan) { return try postReceiveStripes(link, wr, plan) }
        link.waitingReceives.append(wr)
        try pump(link)
    }

    /// Posts what the queues have room for, oldest first: sends, then receives.
    private func pump(_ link: PeerLink) throws {
        while let wr = link.waitingSends.first {
            let plan = StripePlan(length: wr.length, queuePairs: queues.queuePairsPerPeer)
            guard queues.hasSendRoom(link, plan) else { break }
            link.waitingSends.removeFirst()
            try queues.postStripes(link, wr, plan, opcode: IBV_WR_SEND, target: nil)
        }
        while let wr = link.waitingReceives.first {
            let plan = StripePlan(length: wr.length, queuePairs: queues.queuePairsPerPeer)
            guard hasReceiveRoom(link, plan) else { return }
            link.waitingReceives.removeFirst()
            try postReceiveStripes(link, wr, plan)
        }
    }

    @inline(__always)
    private func hasReceiveRoom(_ link: PeerLink, _ plan: StripePlan) -> Bool {
        for q in 0..<plan.count where link.receiveQueueUsed[q] >= queues.depth - 1 { return false }
        return true
    }

    /// One receive per stripe, each on the queue pair its stripe arrives on.
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
            guard rc == 0 else { throw SystemCallError("ibv_post_recv", errno: rc, "rank \(queues.rank): \(length) bytes from rank \(link.peer) on \(queues.deviceName)") }
            link.receiveQueueUsed[q] += 1
        }
    }

    // MARK: completions

    /// Sends (and one-sided writes) and receives, stripe by stripe.
    func poll(_ completions: inout [Completion]) throws {
        let n = try queues.takeCompletions()
        for i in 0..<n {
            let wc = queues.taken[i]
            guard let (request, link) = try queues.owner(of: wc) else { continue }
            switch request.kind {
            case .send:
                try queues.finishSend(wc, request, link, &completions)
            case .receive:
                link.receiveQueueUsed[request.queuePair] -= 1
                guard link.receives.finishStripe(of: request.index, bytes: Int(wc.byte_len)) else { throw queues.stray(wc, link) }
                try queues.finishReceives(link, &completions)
            case .controlSend, .controlSlot:
                throw queues.stray(wc, link)  // this path has no control messages
            }
            if link.hasWorkWaiting { try pump(link) }
        }
    }
}
