import FabricCore
import CFabricRDMA
import CFabricSystem

/// `--verb write`, the default: RDMA write with immediate, NCCL style. Both ends number the
/// messages to each other the same way (message k matches receive k), and the immediate of a
/// write carries k, so the stripes of one message may arrive on any queue pair. The receive
/// queues hold only uniform control slots: a slot completes either with a control message in
/// it or with the immediate of a write, and is re-posted at once.
///
/// - Large messages (over `EagerRing.messageLimit`) go behind a clear-to-send: a posted
///   receive sends the peer its address, rkey, length and index, and the send waits for it,
///   then writes there. A send that must wait announces itself (`sendRequest`), so a receiver
///   that posted a small receive for it reports the mismatch instead of both waiting.
/// - Small ones go at once into the peer's ring (EagerRing), and are copied out into their
///   receive: no clear-to-send on the critical path of a ping-pong or a pipeline.
final class WriteWithImmediatePath: DataPath {
    private let queues: WorkQueues
    private let pd: UnsafeMutablePointer<ibv_pd>
    /// Links whose ring holds a message whose receive was posted since the last poll: poll
    /// copies and reports them (postReceive cannot report a completion).
    private var deliverable: [PeerLink] = []

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

    /// Tells the peer where this rank's ring is: its small messages wait for that.
    func connected(_ link: PeerLink) throws {
        let control = link.control!
        link.controlOutgoing.append(ControlMessage(.eagerRing, PeerLink.Target(
            address: UInt64(UInt(bitPattern: control.ring)), rkey: control.ringMR.pointee.rkey,
            length: EagerRing.messageLimit, index: UInt32(EagerRing.slots))))
        try pump(link)
    }

    func close() {
        for case let link? in queues.links {
            if let control = link.control { control.release(queues.api) }
        }
        deliverable.removeAll()
    }

    // MARK: posting

    func postSend(to peer: Int, from region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        let (link, address, mr) = try queues.check(peer, region, offset, length)
        let index = link.nextSendIndex
        link.nextSendIndex = (index &+ 1) & InFlightQueue.indexMask
        // A large send that cannot go at once says so: see the type's comment.
        if length > EagerRing.messageLimit && !(link.waitingSends.isEmpty && !link.clearToSend.isEmpty) {
            link.controlOutgoing.append(ControlMessage(.sendRequest, PeerLink.Target(address: 0, rkey: 0, length: length, index: index)))
        }
        link.waitingSends.append(PeerLink.Request(address: address, length: length, lkey: mr.pointee.lkey, id: id, index: index))
        try pump(link)
    }

    /// Records the receive; a large one tells the peer where to write it, a small one may
    /// find its message already in the ring.
    func postReceive(from peer: Int, into region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        let (link, address, mr) = try queues.check(peer, region, offset, length)
        let stripes = StripePlan(length: length, queuePairs: queues.queuePairsPerPeer).count
        let index = link.receives.append(InFlight(length: length, id: id, stripesLeft: stripes, address: address))
        if length > EagerRing.messageLimit {
            link.controlOutgoing.append(ControlMessage(.clearToSend, PeerLink.Target(address: address, rkey: mr.pointee.rkey, length: length, index: index)))
        } else if link.eagerArrivals.first?.index == index {
            deliverable.append(link)
        }
        if !link.announcedSends.isEmpty { try checkAnnouncedSends(link) }
        try pump(link)
    }

    /// Posts what the queues have room for, oldest first: control messages first (they
    /// unblock the peer), then sends: small ones while the peer's ring has room, large ones
    /// once the peer said where.
    private func pump(_ link: PeerLink) throws {
        while link.sendQueueUsed[0] < queues.depth - 1, let message = link.controlOutgoing.first {
            link.controlOutgoing.removeFirst()
            try postControlMessage(link, message)
        }
        while let wr = link.waitingSends.first {
            if wr.length <= EagerRing.messageLimit {
                guard let ring = link.peerRing, link.eager.canSend, link.sendQueueUsed[0] < queues.depth - 1 else { return }
                link.waitingSends.removeFirst()
                let slot = link.eager.takeSendSlot()
                try queues.postStripes(link, wr, StripePlan(length: wr.length, queuePairs: 1), opcode: IBV_WR_RDMA_WRITE_WITH_IMM,
                                       target: PeerLink.Target(address: ring.address + UInt64(slot * EagerRing.messageLimit), rkey: ring.rkey,
                                                               length: wr.length, index: wr.index | EagerRing.immediateFlag))
                continue
            }
            guard let target = link.clearToSend.first else { return }
            guard wr.length == target.length && wr.index == target.index else {
                let detail = wr.index == target.index
                    ? "posted a \(target.length)-byte receive where this rank sends \(wr.length) bytes"
                    : "posted a \(target.length)-byte receive for a message this rank sent in at most \(EagerRing.messageLimit) bytes"
                throw FabricError.protocolViolation(peer: queues.describe(peer: link.peer), detail: detail)
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

    /// A control message to the peer (always on the first queue pair).
    private func postControlMessage(_ link: PeerLink, _ message: ControlMessage) throws {
        let slot = link.control!.takeSendSlot()
        ControlMemory.encode(message, into: slot)
        var sge = ibv_sge(addr: UInt64(UInt(bitPattern: slot)), length: UInt32(ControlMemory.slotBytes), lkey: link.control!.mr.pointee.lkey)
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
        guard rc == 0 else { throw SystemCallError("ibv_post_send", errno: rc, "rank \(queues.rank): \(message.kind) message to rank \(link.peer) on \(queues.deviceName)") }
        link.sendQueueUsed[0] += 1
    }

    // MARK: completions

    /// Sends are writes (and one-sided writes); receives finish through the control slots,
    /// small ones once copied out of the ring.
    func poll(_ completions: inout [Completion]) throws {
        while let link = deliverable.popLast() {
            try deliverArrivals(link, &completions)
            if link.hasWorkWaiting { try pump(link) }
        }
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
                    if wc.imm_data & EagerRing.immediateFlag != 0 {
                        // Small messages come on the first queue pair only, so in slot order.
                        guard request.queuePair == 0, Int(wc.byte_len) <= EagerRing.messageLimit else {
                            throw FabricError.protocolViolation(peer: queues.describe(peer: link.peer), detail: "wrote \(wc.byte_len) bytes into the small-message ring on queue pair \(request.queuePair)")
                        }
                        link.eagerArrivals.append(EagerArrival(index: wc.imm_data & InFlightQueue.indexMask, length: Int(wc.byte_len), slot: link.eager.takeArrivalSlot()))
                        try deliverArrivals(link, &completions)
                    } else {
                        guard link.receives.finishStripe(of: wc.imm_data, bytes: Int(wc.byte_len)) else {
                            throw FabricError.protocolViolation(peer: queues.describe(peer: link.peer), detail: "wrote \(wc.byte_len) bytes that no posted receive asked for")
                        }
                        try queues.finishReceives(link, &completions)
                    }
                } else {
                    guard Int(wc.byte_len) == ControlMemory.slotBytes,
                          let message = ControlMemory.decode(link.control!.receiveSlot(queuePair: request.queuePair, slot: Int(request.index))) else {
                        throw FabricError.protocolViolation(peer: queues.describe(peer: link.peer), detail: "sent a \(wc.byte_len)-byte control message this rank does not know (expected \(ControlMemory.slotBytes) bytes of a known kind)")
                    }
                    try received(message, link)
                }
                try postControlSlot(link, queuePair: request.queuePair, slot: Int(request.index))
            case .receive:
                throw queues.stray(wc, link)  // this path posts no plain receives
            }
            if link.hasWorkWaiting { try pump(link) }
        }
    }

    private func received(_ message: ControlMessage, _ link: PeerLink) throws {
        switch message.kind {
        case .clearToSend:
            link.clearToSend.append(message.target)
        case .sendRequest:
            link.announcedSends.append(message.target)
            try checkAnnouncedSends(link)
        case .credit:
            guard link.eager.peerConsumed(message.target.index) else {
                throw FabricError.protocolViolation(peer: queues.describe(peer: link.peer), detail: "returned credit for \(message.target.index) small messages, more than this rank sent")
            }
        case .eagerRing:
            guard message.target.length == EagerRing.messageLimit, message.target.index == UInt32(EagerRing.slots) else {
                throw FabricError.configuration("rank \(queues.rank): rank \(link.peer) keeps \(message.target.index) small-message slots of \(message.target.length) bytes, this rank \(EagerRing.slots) of \(EagerRing.messageLimit): run the same fabricbench build on every rank")
            }
            link.peerRing = message.target
        }
    }

    /// Copies the ring's messages into their receives, oldest first, as far as those are
    /// posted; each must be exactly as long as its receive.
    private func deliverArrivals(_ link: PeerLink, _ completions: inout [Completion]) throws {
        while let arrival = link.eagerArrivals.first, let receive = link.receives.entry(arrival.index) {
            guard receive.length == arrival.length else {
                throw FabricError.protocolViolation(peer: queues.describe(peer: link.peer), detail: "sent \(arrival.length) bytes where a \(receive.length)-byte receive was posted")
            }
            if arrival.length > 0 {
                UnsafeMutableRawPointer(bitPattern: UInt(receive.address))!.copyMemory(from: link.control!.ringSlot(arrival.slot), byteCount: arrival.length)
            }
            _ = link.receives.finishStripe(of: arrival.index, bytes: arrival.length)
            link.eagerArrivals.removeFirst()
            if let consumed = link.eager.consumeOne() {
                link.controlOutgoing.append(ControlMessage(.credit, PeerLink.Target(address: 0, rkey: 0, length: 0, index: consumed)))
            }
        }
        try queues.finishReceives(link, &completions)
    }

    /// The peer's announced large sends against this rank's posted receives, in order: a
    /// receive of another length (a small one, which sent no clear-to-send) is a mismatch.
    private func checkAnnouncedSends(_ link: PeerLink) throws {
        while let announced = link.announcedSends.first, let receive = link.receives.entry(announced.index) {
            guard receive.length == announced.length else {
                throw FabricError.protocolViolation(peer: queues.describe(peer: link.peer), detail: "sends \(announced.length) bytes where a \(receive.length)-byte receive was posted")
            }
            link.announcedSends.removeFirst()
        }
    }
}

/// What goes through the control slots: a clear-to-send (where to write receive `index`),
/// a large send's announcement (its length and index), credit (the running count of ring
/// messages consumed, in `index`), and the ring (address, rkey, slot bytes, slot count).
struct ControlMessage {
    enum Kind: UInt32 { case clearToSend = 0, sendRequest = 1, credit = 2, eagerRing = 3 }
    var kind: Kind
    var target: PeerLink.Target

    init(_ kind: Kind, _ target: PeerLink.Target) {
        self.kind = kind
        self.target = target
    }
}

/// The write path's registered memory per peer. Each queue pair keeps `slotsPerQueuePair`
/// receive slots posted (a control message lands in one; a write's immediate consumes one),
/// and control messages leave from a ring of send slots. The small-message ring (EagerRing)
/// is registered apart, for the peer to write into.
struct ControlMemory {
    /// address 8, rkey 4, length 4, index 4, kind 4, padding.
    static let slotBytes = 32
    let base: UnsafeMutableRawPointer
    let mr: UnsafeMutablePointer<ibv_mr>
    let ring: UnsafeMutableRawPointer
    let ringMR: UnsafeMutablePointer<ibv_mr>
    let slotsPerQueuePair: Int
    let queuePairs: Int
    let sendSlots: Int
    var nextSendSlot = 0

    static func byteCount(queuePairs: Int, slotsPerQueuePair: Int, sendSlots: Int) -> Int {
        (queuePairs * slotsPerQueuePair + sendSlots) * slotBytes
    }

    /// Room for every receive slot of `queuePairs` queues `depth` deep (one entry spare) and
    /// `depth` send slots, zeroed and registered, and the ring; `what` names it if
    /// registration fails.
    init(api: fab_rdma_api, pd: UnsafeMutablePointer<ibv_pd>, queuePairs: Int, depth: Int, what: () -> String) throws {
        let bytes = Self.byteCount(queuePairs: queuePairs, slotsPerQueuePair: depth - 1, sendSlots: depth)
        let base = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        let ring = UnsafeMutableRawPointer.allocate(byteCount: EagerRing.bytes, alignment: 4096)
        ring.initializeMemory(as: UInt8.self, repeating: 0, count: EagerRing.bytes)
        guard let mr = api.reg_mr(pd, base, bytes, Int32(IBV_ACCESS_LOCAL_WRITE.rawValue)) else {
            base.deallocate()
            ring.deallocate()
            throw SystemCallError("ibv_reg_mr", what())
        }
        guard let ringMR = api.reg_mr(pd, ring, EagerRing.bytes, Int32(IBV_ACCESS_LOCAL_WRITE.rawValue | IBV_ACCESS_REMOTE_WRITE.rawValue)) else {
            _ = api.dereg_mr(mr)
            base.deallocate()
            ring.deallocate()
            throw SystemCallError("ibv_reg_mr", what())
        }
        self.base = base
        self.mr = mr
        self.ring = ring
        self.ringMR = ringMR
        slotsPerQueuePair = depth - 1
        self.queuePairs = queuePairs
        sendSlots = depth
    }

    func release(_ api: fab_rdma_api) {
        _ = api.dereg_mr(ringMR)
        _ = api.dereg_mr(mr)
        ring.deallocate()
        base.deallocate()
    }

    func receiveSlot(queuePair: Int, slot: Int) -> UnsafeMutableRawPointer {
        base + (queuePair * slotsPerQueuePair + slot) * Self.slotBytes
    }

    func ringSlot(_ slot: Int) -> UnsafeRawPointer {
        UnsafeRawPointer(ring + slot * EagerRing.messageLimit)
    }

    /// The next send slot, round robin; a slot is reused only after `sendSlots` more sends,
    /// by which time the send queue's bound guarantees the earlier one completed.
    mutating func takeSendSlot() -> UnsafeMutableRawPointer {
        let slot = queuePairs * slotsPerQueuePair + nextSendSlot
        nextSendSlot = (nextSendSlot + 1) % sendSlots
        return base + slot * Self.slotBytes
    }

    static func encode(_ message: ControlMessage, into slot: UnsafeMutableRawPointer) {
        let target = message.target
        slot.storeBytes(of: target.address.littleEndian, as: UInt64.self)
        slot.storeBytes(of: target.rkey.littleEndian, toByteOffset: 8, as: UInt32.self)
        slot.storeBytes(of: UInt32(target.length).littleEndian, toByteOffset: 12, as: UInt32.self)
        slot.storeBytes(of: target.index.littleEndian, toByteOffset: 16, as: UInt32.self)
        slot.storeBytes(of: message.kind.rawValue.littleEndian, toByteOffset: 20, as: UInt32.self)
    }

    /// nil for a kind this build does not know.
    static func decode(_ slot: UnsafeRawPointer) -> ControlMessage? {
        guard let kind = ControlMessage.Kind(rawValue: UInt32(littleEndian: slot.loadUnaligned(fromByteOffset: 20, as: UInt32.self))) else { return nil }
        return ControlMessage(kind, PeerLink.Target(address: UInt64(littleEndian: slot.loadUnaligned(as: UInt64.self)),
                                                    rkey: UInt32(littleEndian: slot.loadUnaligned(fromByteOffset: 8, as: UInt32.self)),
                                                    length: Int(UInt32(littleEndian: slot.loadUnaligned(fromByteOffset: 12, as: UInt32.self))),
                                                    index: UInt32(littleEndian: slot.loadUnaligned(fromByteOffset: 16, as: UInt32.self))))
    }
}
