import XCTest
@testable import FabricVerbs
import FabricCore

/// The verbs transport's host-side bookkeeping, which needs no RDMA device: how messages are
/// striped over queue pairs, how completions on several queue pairs finish messages in
/// order, and what work request ids and clear-to-send messages carry. The device paths run
/// in the Soft-RoCE VM (scripts/softroce-checks.sh).
final class VerbsBookkeepingTests: XCTestCase {
    func testStripesCoverTheMessageExactlyOnceInOrder() {
        for queuePairs in 1...VerbsOptions.queuePairLimit {
            for length in [0, 1, 63, 4095, 4096, queuePairs * 4096 - 1, queuePairs * 4096, queuePairs * 4096 + 1, 100_003, 1 << 20, (1 << 24) + 7] {
                let plan = StripePlan(length: length, queuePairs: queuePairs)
                let striped = queuePairs > 1 && length >= queuePairs * StripePlan.minimumStripe
                XCTAssertEqual(plan.count, striped ? queuePairs : 1, "length \(length), \(queuePairs) queue pairs")
                var next = 0
                for i in 0..<plan.count {
                    let (offset, size) = plan.stripe(i)
                    XCTAssertEqual(offset, next, "stripe \(i) of \(length) bytes over \(queuePairs)")
                    XCTAssertGreaterThan(size, striped ? 0 : -1, "stripe \(i) of \(length) bytes over \(queuePairs) is empty")
                    if striped { XCTAssertEqual(offset % 64, 0, "stripe \(i) starts unaligned") }
                    next = offset + size
                }
                XCTAssertEqual(next, length, "stripes of \(length) bytes over \(queuePairs) queue pairs end at \(next)")
            }
        }
    }

    func testStripesAreEvenWithinOneCacheLine() {
        let plan = StripePlan(length: 1 << 20, queuePairs: 3)
        let sizes = (0..<3).map { plan.stripe($0).length }
        XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 3 * 64, "\(sizes)")
    }

    func testMessagesFinishInPostedOrderWhateverOrderTheirStripesComplete() {
        var queue = InFlightQueue()
        let a = queue.append(InFlight(length: 8192, id: 10, stripesLeft: 2))
        let b = queue.append(InFlight(length: 16, id: 11, stripesLeft: 1))
        let c = queue.append(InFlight(length: 12_288, id: 12, stripesLeft: 3))
        XCTAssertTrue(queue.finishStripe(of: b, bytes: 16))
        XCTAssertTrue(queue.finishStripe(of: c, bytes: 4096))
        XCTAssertNil(queue.popFinished(), "b is done but a, posted first, is not")
        XCTAssertTrue(queue.finishStripe(of: a, bytes: 4096))
        XCTAssertNil(queue.popFinished())
        XCTAssertTrue(queue.finishStripe(of: a, bytes: 4096))
        XCTAssertEqual(queue.popFinished().map { [$0.id, UInt64($0.bytes)] }, [10, 8192])
        XCTAssertEqual(queue.popFinished()?.id, 11)
        XCTAssertNil(queue.popFinished(), "c has one stripe left")
        XCTAssertTrue(queue.finishStripe(of: c, bytes: 4096))
        XCTAssertTrue(queue.finishStripe(of: c, bytes: 4096))
        XCTAssertEqual(queue.popFinished().map { [$0.id, UInt64($0.bytes)] }, [12, 12_288])
        XCTAssertTrue(queue.isEmpty)
        XCTAssertFalse(queue.finishStripe(of: c, bytes: 1), "a finished message takes no more stripes")
        XCTAssertFalse(queue.finishStripe(of: c &+ 5, bytes: 1), "nor does one never posted")
    }

    /// 31 bits: a write's immediate carries the index, and its top bit says "in the ring".
    func testIndicesWrapAroundAtThirtyOneBits() {
        let last = InFlightQueue.indexMask
        var queue = InFlightQueue(firstIndex: last - 1)
        let indices = (0..<4).map { queue.append(InFlight(length: 1, id: UInt64($0), stripesLeft: 1)) }
        XCTAssertEqual(indices, [last - 1, last, 0, 1])
        XCTAssertEqual(queue.entry(0)?.id, 2, "an index past the wrap finds its message")
        XCTAssertNil(queue.entry(2), "an index not posted yet finds nothing")
        for index in indices.reversed() { XCTAssertTrue(queue.finishStripe(of: index, bytes: 1)) }
        var order: [UInt64] = []
        while let done = queue.popFinished() { order.append(done.id) }
        XCTAssertEqual(order, [0, 1, 2, 3])
        XCTAssertEqual(queue.headIndex, 2)
        XCTAssertNil(queue.entry(1), "a finished message is gone")
    }

    func testWorkRequestIDsRoundTrip() {
        let cases: [(WorkRequestID.Kind, Int, Int, UInt32)] = [
            (.send, 0, 0, 0), (.receive, WorkRequestID.maximumPeers - 1, 15, UInt32.max), (.controlSlot, 3, 7, 510), (.controlSend, 1023, 0, 1 << 31),
        ]
        for (kind, peer, queuePair, index) in cases {
            let id = WorkRequestID(kind, peer: peer, queuePair: queuePair, index: index)
            let back = WorkRequestID(id.raw)
            XCTAssertEqual(back?.kind, kind)
            XCTAssertEqual(back?.peer, peer)
            XCTAssertEqual(back?.queuePair, queuePair)
            XCTAssertEqual(back?.index, index)
        }
        XCTAssertNil(WorkRequestID(7), "an id with an unknown kind is not ours")
    }

    func testControlMessagesRoundTrip() {
        let slot = UnsafeMutableRawPointer.allocate(byteCount: ControlMemory.slotBytes, alignment: 8)
        defer { slot.deallocate() }
        let target = PeerLink.Target(address: 0x7fff_1234_5678_9abc, rkey: 0xdead_beef, length: 1 << 30, index: UInt32.max - 2)
        for kind in [ControlMessage.Kind.clearToSend, .sendRequest, .credit, .eagerRing] {
            ControlMemory.encode(ControlMessage(kind, target), into: slot)
            let back = ControlMemory.decode(slot)
            XCTAssertEqual(back?.kind, kind)
            XCTAssertEqual(back.map { [$0.target.address, UInt64($0.target.rkey), UInt64($0.target.length), UInt64($0.target.index)] },
                           [target.address, UInt64(target.rkey), UInt64(target.length), UInt64(target.index)])
        }
        slot.storeBytes(of: UInt32(9), toByteOffset: 20, as: UInt32.self)
        XCTAssertNil(ControlMemory.decode(slot), "a kind this build does not know is refused")
    }

    /// The sender fills the ring's slots in turn and stops when all hold unconsumed messages;
    /// the receiver's credit, every half ring, lets it go on, and running counters wrap.
    func testRingCreditsBoundTheSlotsInFlightAndReturnEveryHalfRing() {
        var sender = EagerCredits(), receiver = EagerCredits()
        var slotsTaken: [Int] = []
        var credits: [UInt32] = []
        var sent = 0
        for _ in 0..<(EagerRing.slots * 5 + 3) {
            // A full ring: the receiver consumes what arrived until its credit comes back.
            var consumed = 0
            while !sender.canSend && consumed < EagerRing.slots {
                consumed += 1
                guard let credit = receiver.consumeOne() else { continue }
                credits.append(credit)
                XCTAssertTrue(sender.peerConsumed(credit))
            }
            XCTAssertTrue(sender.canSend, "no credit after the receiver consumed \(consumed) messages")
            if consumed > 0 { XCTAssertEqual(consumed, EagerRing.slots / 2, "the sender stopped with a slot free, or waited past half a ring") }
            slotsTaken.append(sender.takeSendSlot())
            XCTAssertEqual(receiver.takeArrivalSlot(), slotsTaken.last, "the receiver finds message \(sent) where it was written")
            sent += 1
        }
        XCTAssertEqual(slotsTaken.prefix(EagerRing.slots + 1), ArraySlice(Array(0..<EagerRing.slots) + [0]))
        XCTAssertEqual(credits.first, UInt32(EagerRing.slots / 2), "credit goes back once half the ring is consumed, not per message")
        XCTAssertFalse(sender.peerConsumed(UInt32(sent + 1)), "credit for more than was sent is refused")
    }

    func testEveryRingSlotHoldsTheLargestSmallMessage() {
        XCTAssertEqual(EagerRing.bytes, EagerRing.slots * EagerRing.messageLimit)
        XCTAssertEqual(EagerRing.immediateFlag & InFlightQueue.indexMask, 0, "the ring flag and the index share no bit")
        for queuePairs in 1...VerbsOptions.queuePairLimit {
            XCTAssertEqual(StripePlan(length: EagerRing.messageLimit, queuePairs: queuePairs).count, 1,
                           "a small message is never striped: the ring is written on the first queue pair only")
        }
    }
}
