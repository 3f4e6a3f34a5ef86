import FabricMeasure
import FabricReport
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

    func testAFlaggedLinkStaysAnOutlierOnlyIfItsRetestIsFlaggedToo() {
        // Four ranks; the sweep finds 0-3 and 2-3 slow. Measured again, 0-3 is healthy (a
        // passing hiccup) and 2-3 is still slow (a bad link).
        func link(_ a: Int, _ b: Int, gbps: Double) -> PairResult {
            var l = PairResult(ranks: [a, b], hosts: ["h\(a)", "h\(b)"])
            l.bandwidth = BandwidthFigures(gbps: gbps, messageRateMpps: 0, bidirectional: false, window: 16, seconds: 1, windowGbps: nil)
            return l
        }
        let sweep = [link(0, 1, gbps: 1.28), link(0, 2, gbps: 1.26), link(0, 3, gbps: 0.07),
                     link(1, 2, gbps: 1.47), link(1, 3, gbps: 1.35), link(2, 3, gbps: 0.01)]
        let rule = OutlierRule(k: 5, minimumRatio: 4)
        let verdicts = MatrixBenchmark.verdicts(sweep, rule: rule)
        XCTAssertEqual(Set(verdicts.map(\.ranks)), [[0, 3], [2, 3]])
        let (outliers, transient) = MatrixBenchmark.settle(verdicts, links: sweep,
                                                           retests: [link(0, 3, gbps: 1.25), link(2, 3, gbps: 0.012)], rule: rule)
        XCTAssertEqual(outliers.map(\.ranks), [[2, 3]])
        XCTAssertEqual(outliers.first?.value, 0.01, "the verdict keeps the sweep's figure")
        XCTAssertEqual(transient.map(\.ranks), [[0, 3]])
        // Nothing measured again: the sweep's figures stand, and so do its verdicts.
        XCTAssertEqual(MatrixBenchmark.settle(verdicts, links: sweep, retests: [], rule: rule).outliers.count, verdicts.count)
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
