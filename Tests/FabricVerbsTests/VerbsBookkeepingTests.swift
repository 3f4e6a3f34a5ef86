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

    func testIndicesWrapAroundAtThirtyTwoBits() {
        var queue = InFlightQueue(firstIndex: UInt32.max - 1)
        let indices = (0..<4).map { queue.append(InFlight(length: 1, id: UInt64($0), stripesLeft: 1)) }
        XCTAssertEqual(indices, [UInt32.max - 1, UInt32.max, 0, 1])
        for index in indices.reversed() { XCTAssertTrue(queue.finishStripe(of: index, bytes: 1)) }
        var order: [UInt64] = []
        while let done = queue.popFinished() { order.append(done.id) }
        XCTAssertEqual(order, [0, 1, 2, 3])
        XCTAssertEqual(queue.headIndex, 2)
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

    func testClearToSendRoundTrips() {
        let message = UnsafeMutableRawPointer.allocate(byteCount: ControlMemory.slotBytes, alignment: 8)
        defer { message.deallocate() }
        let target = PeerLink.Target(address: 0x7fff_1234_5678_9abc, rkey: 0xdead_beef, length: 1 << 30, index: UInt32.max - 2)
        ControlMemory.encode(target, into: message)
        let back = ControlMemory.decode(message)
        XCTAssertEqual([back.address, UInt64(back.rkey), UInt64(back.length), UInt64(back.index)],
                       [target.address, UInt64(target.rkey), UInt64(target.length), UInt64(target.index)])
    }
}
