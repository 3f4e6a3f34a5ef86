import XCTest
@testable import FabricEngine
@testable import FabricTransport

final class EngineTests: XCTestCase {
    func testPairsCrossTheHalvesAndAnOddRankSitsOut() {
        XCTAssertEqual(RankPairs.role(of: 0, worldSize: 2), .init(peer: 1, initiator: true))
        XCTAssertEqual(RankPairs.role(of: 1, worldSize: 2), .init(peer: 0, initiator: false))
        XCTAssertEqual((0..<4).map { RankPairs.role(of: $0, worldSize: 4)!.peer }, [2, 3, 0, 1])
        XCTAssertNil(RankPairs.role(of: 4, worldSize: 5))
        XCTAssertEqual(RankPairs.initiators(worldSize: 5), [0, 1])
    }

    func testMatrixRoundsCoverEveryPairOnceWithDisjointPairs() {
        for n in 2...9 {
            let rounds = PairSchedule.rounds(worldSize: n)
            XCTAssertEqual(rounds.count, n % 2 == 0 ? n - 1 : n, "n = \(n)")
            var seen = Set<[Int]>()
            for round in rounds {
                let ranks = round.flatMap { [$0.0, $0.1] }
                XCTAssertEqual(Set(ranks).count, ranks.count, "n = \(n): a rank in two pairs of one round")
                XCTAssertEqual(round.count, n / 2, "n = \(n): every round keeps all but at most one rank busy")
                for (a, b) in round {
                    XCTAssertLessThan(a, b)
                    XCTAssertTrue(seen.insert([a, b]).inserted, "n = \(n): pair \(a)-\(b) twice")
                }
            }
            XCTAssertEqual(seen.count, n * (n - 1) / 2, "n = \(n): every pair")
            XCTAssertEqual(PairSchedule.serial(worldSize: n).count, n * (n - 1) / 2)
        }
        XCTAssertEqual(PairSchedule.role(of: 3, in: [(0, 1), (2, 3)]), .init(peer: 2, initiator: false))
        XCTAssertNil(PairSchedule.role(of: 4, in: [(0, 1), (2, 3)]))
    }

    func testAutoSaysWhyItDidNotPickVerbs() {
        let none = RDMAAvailability(librariesLoaded: false, deviceNames: [], reason: "libibverbs could not be loaded: x")
        let auto = TransportSelection.select(.auto, rdma: none)
        XCTAssertEqual(auto.kind, .tcp)
        XCTAssertTrue(auto.reason.contains("libibverbs could not be loaded"), auto.reason)
        let present = RDMAAvailability(librariesLoaded: true, deviceNames: ["rxe0"], reason: "")
        XCTAssertTrue(TransportSelection.select(.auto, rdma: present).reason.contains("rxe0"))
        XCTAssertEqual(TransportSelection.select(.tcp, rdma: present).kind, .tcp)
    }

    func testBandwidthCapsTheBytesMovedPerSize() {
        var o = BandwidthOptions()
        o.iterations = 1000
        XCTAssertEqual(o.iterations(for: 8), 1000)
        XCTAssertEqual(o.iterations(for: 16 << 20), 256)  // 4 GiB / 16 MiB
        XCTAssertEqual(o.iterations(for: 4 << 30), 4)  // never fewer than 4
    }

    func testTheProbeOnThisHostExplainsItself() {
        let probe = RDMAAvailability.probe()
        XCTAssertEqual(probe.usable, probe.reason.isEmpty)
        if !probe.usable { XCTAssertFalse(probe.reason.isEmpty) } else { XCTAssertFalse(probe.deviceNames.isEmpty) }
    }
}
