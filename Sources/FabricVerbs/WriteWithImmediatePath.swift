import FabricCore
import CFabricRDMA
import CFabricSystem

/// `--verb write`, the default: RDMA write with immediate behind a clear-to-send, NCCL style.
/// A posted receive sends the peer a clear-to-send (address, rkey, length, receive index); a
/// send waits for the next one from its peer, then writes there with immediate. The immediate
/// carries the receive's index, so the stripes of one message may arrive on any queue pair.
/// The receive queues hold only uniform control slots: a slot completes either with a
/// clear-to-send in it or with the immediate of a write, and is re-posted at once.
final class WriteWithImmediatePath: DataPath {
    private let queues: WorkQueues
    private let pd: UnsafeMutablePointer<ibv_pd>

    init(queues: WorkQueues, device: VerbsDevice) {
        self.queues = queues
        pd = device.pd
    }

    // MARK: queue pairs

    /// The link to `peer`, created with its registered control memory on first use.
    func link(to peer: Int) throws -> PeerLink {
        try queues.link(to: peer) { link in
            link.control = try ControlMemory(api: queues.api, pd: pd, queuePairs: queues.queuePairsPerPeer, depth: queues.depth) {
                "rank \(queues.rank): control slots for rank \(peer) on \(queues.deviceName) (raise 'ulimit -l')"
            }
        }
    }

    /// Posts every control slot of the new queue pair, before the peer can send anything.
    func adopt(_ qp: UnsafeMutablePointer<ibv_qp>, granted: ibv_qp_init_attr, link: PeerLink, queuePair: Int) throws {
        queues.adopt(qp, granted: granted, link: link, queuePair: queuePair)
        for slot in 0..<link.control!.slotsPerQueuePair { try postControlSlot(link, queuePair: queuePair, slot: slot) }
    }

    func close() {
        for case let link? in queues.links {
            if let control = link.control { control.release(queues.api) }
        }
    }

    // MARK: posting

    func postSend(to peer: Int, from region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        let (link, address, mr) = try queues.check(peer, region, offset, length)
        link.waitingSends.append(PeerLink.Request(address: address, length: length, lkey: mr.pointee.lkey, id: id))
        try pump(link)
    }

    /// Records the receive and tells the peer where to write it.
    func postReceive(from peer: Int, into region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        let (link, address, mr) = try queues.check(peer, region, offset, length)
        let stripes = StripePlan(length: length, queuePairs: queues.queuePairsPerPeer).count
        let index = link.receives.append(InFlight(length: length, id: id, stripesLeft: stripes))
        link.clearToSendOutgoing.append(PeerLink.Target(address: address, rkey: mr.pointee.rkey, length: length, index: index))
        try pump(link)
    }

    /// Posts what the queues have room for, oldest first: clear-to-sends first (they unblock
    /// the peer), then writes for which the peer said where.
    private func pump(_ link: PeerLink) throws {
        while link.sendQueueUsed[0] < queues.depth - 1, let target = link.clearToSendOutgoing.first {
            link.clearToSendOutgoing.removeFirst()
            try postClearToSend(link, target)
        }
        while let wr = link.waitingSends.first, let target = link.clearToSend.first {
            guard wr.length == target.length else {
                throw FabricError.protocolViolation(peer: queues.describe(peer: link.peer), detail: "posted a \(target.length)-byte receive where this rank sends \(wr.length) bytes")
            }
            let plan = StripePlan(length: wr.length, queuePairs: queues.queuePairsPerPeer)
            guard queues.hasSendRoom(link, plan) else { return }
            link.waitingSends.removeFirst()
            link.clearToSend.removeFirst()
            try queues.postStripes(link, wr, plan, opcode: IBV_WR_RDMA_WRITE_WITH_IMM, target: target)
        }
    }

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
        guard rc == 0 else { throw SystemCallError("ibv_post_recv", errno: rc, "rank \(queues.rank): control slot for rank \(link.peer) on \(queues.deviceName)") }
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
        w.send_flags = IBV_SEND_SIGNALED.rawValue | (ControlMemory.slotBytes <= queues.maxInline ? IBV_SEND_INLINE.rawValue : 0)
        var bad: UnsafeMutablePointer<ibv_send_wr>?
        let rc = withUnsafeMutablePointer(to: &sge) { sgePointer in
            w.sg_list = sgePointer
            return fab_ibv_post_send(link.queuePairs[0], &w, &bad)
        }
        guard rc == 0 else { throw SystemCallError("ibv_post_send", errno: rc, "rank \(queues.rank): clear-to-send to rank \(link.peer) on \(queues.deviceName)") }
        link.sendQueueUsed[0] += 1
    }

    // MARK: completions

    /// Sends are writes (and one-sided writes); receives finish through the control slots.
    func poll(_ completions: inout [Completion]) throws {
        let n = try queues.takeCompletions()
        for i in 0..<n {
            let wc = queues.taken[i]
            guard let (request, link) = try queues.owner(of: wc) else { continue }
            switch request.kind {
            case .send:
                try queues.finishSend(wc, request, link, &completions)
            case .controlSend:
                link.sendQueueUsed[request.queuePair] -= 1
            case .controlSlot:
                if wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM {
                    guard link.receives.finishStripe(of: wc.imm_data, bytes: Int(wc.byte_len)) else {
                        throw FabricError.protocolViolation(peer: queues.describe(peer: link.peer), detail: "wrote \(wc.byte_len) bytes that no posted receive asked for")
                    }
                    try queues.finishReceives(link, &completions)
                } else {
                    guard Int(wc.byte_len) == ControlMemory.slotBytes else {
                        throw FabricError.protocolViolation(peer: queues.describe(peer: link.peer), detail: "sent a \(wc.byte_len)-byte control message (expected \(ControlMemory.slotBytes))")
                    }
                    link.clearToSend.append(ControlMemory.decode(link.control!.receiveSlot(queuePair: request.queuePair, slot: Int(request.index))))
                }
                try postControlSlot(link, queuePair: request.queuePair, slot: Int(request.index))
            case .receive:
                throw queues.stray(wc, link)  // this path posts no plain receives
            }
            if link.hasWorkWaiting { try pump(link) }
        }
    }
}

/// The write path's registered memory per peer. Each queue pair keeps `slotsPerQueuePair`
/// receive slots posted (a clear-to-send lands in one; a write's immediate consumes one),
/// and clear-to-sends leave from a ring of send slots.
struct ControlMemory {
    /// address 8, rkey 4, length 4, receive index 4, padding.
    static let slotBytes = 32
    let base: UnsafeMutableRawPointer
    let mr: UnsafeMutablePointer<ibv_mr>
    let slotsPerQueuePair: Int
    let queuePairs: Int
    let sendSlots: Int
    var nextSendSlot = 0

    static func byteCount(queuePairs: Int, slotsPerQueuePair: Int, sendSlots: Int) -> Int {
        (queuePairs * slotsPerQueuePair + sendSlots) * slotBytes
    }

    /// Room for every receive slot of `queuePairs` queues `depth` deep (one entry spare) and
    /// `depth` send slots, zeroed and registered; `what` names it if registration fails.
    init(api: fab_rdma_api, pd: UnsafeMutablePointer<ibv_pd>, queuePairs: Int, depth: Int, what: () -> String) throws {
        let bytes = Self.byteCount(queuePairs: queuePairs, slotsPerQueuePair: depth - 1, sendSlots: depth)
        let base = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        guard let mr = api.reg_mr(pd, base, bytes, Int32(IBV_ACCESS_LOCAL_WRITE.rawValue)) else {
            base.deallocate()
            throw SystemCallError("ibv_reg_mr", what())
        }
        self.base = base
        self.mr = mr
        slotsPerQueuePair = depth - 1
        self.queuePairs = queuePairs
        sendSlots = depth
    }

    func release(_ api: fab_rdma_api) {
        _ = api.dereg_mr(mr)
        base.deallocate()
    }

    func receiveSlot(queuePair: Int, slot: Int) -> UnsafeMutableRawPointer {
        base + (queuePair * slotsPerQueuePair + slot) * Self.slotBytes
    }

    /// The next send slot, round robin; a slot is reused only after `sendSlots` more sends,
    /// by which time the send queue's bound guarantees the earlier one completed.
    mutating func takeSendSlot() -> UnsafeMutableRawPointer {
        let slot = queuePairs * slotsPerQueuePair + nextSendSlot
        nextSendSlot = (nextSendSlot + 1) % sendSlots
        return base + slot * Self.slotBytes
    }

    static func encode(_ target: PeerLink.Target, into message: UnsafeMutableRawPointer) {
        message.storeBytes(of: target.address.littleEndian, as: UInt64.self)
        message.storeBytes(of: target.rkey.littleEndian, toByteOffset: 8, as: UInt32.self)
        message.storeBytes(of: UInt32(target.length).littleEndian, toByteOffset: 12, as: UInt32.self)
        message.storeBytes(of: target.index.littleEndian, toByteOffset: 16, as: UInt32.self)
    }

    static func decode(_ message: UnsafeRawPointer) -> PeerLink.Target {
        PeerLink.Target(address: UInt64(littleEndian: message.loadUnaligned(as: UInt64.self)),
                        rkey: UInt32(littleEndian: message.loadUnaligned(fromByteOffset: 8, as: UInt32.self)),
                        length: Int(UInt32(littleEndian: message.loadUnaligned(fromByteOffset: 12, as: UInt32.self))),
                        index: UInt32(littleEndian: message.loadUnaligned(fromByteOffset: 16, as: UInt32.self)))
    }
}
