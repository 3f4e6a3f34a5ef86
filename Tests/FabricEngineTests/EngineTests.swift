import FabricMeasure
import FabricResults
import XCTest
@testable import FabricEngine
import FabricCore
import FabricVerbs

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

    /// A registry of made-up transports, so the choice is tested apart from this host.
    static func plugin(_ name: String, preference: Int?, usable: Bool, reason: String) -> TransportPlugin {
        TransportPlugin(kind: TransportKind(name), displayName: name.uppercased(), needs: "RDMA", summary: name, autoPreference: preference,
                        probe: { _ in TransportAvailability(usable: usable, reason: reason) },
                        make: { _, _ in throw FabricError.configuration("not built in this test") })
    }

    func testAutoSaysWhyItDidNotPickTheBetterTransport() {
        let sockets = Self.plugin("sock", preference: 0, usable: true, reason: "always")
        let missing = Self.plugin("rdma", preference: 10, usable: false, reason: "libibverbs could not be loaded: x")
        let auto = TransportSelection.select(.auto, registry: [sockets, missing])
        XCTAssertEqual(auto.kind, TransportKind("sock"))
        XCTAssertEqual(auto.reason, "auto chose SOCK: RDMA unavailable: libibverbs could not be loaded: x")
        let present = Self.plugin("rdma", preference: 10, usable: true, reason: "RDMA device(s) rxe0")
        XCTAssertEqual(TransportSelection.select(.auto, registry: [sockets, present]).reason, "auto chose RDMA: RDMA device(s) rxe0")
        let named = TransportSelection.select(.named(TransportKind("sock")), registry: [sockets, present])
        XCTAssertEqual(named.kind, TransportKind("sock"))
        XCTAssertEqual(named.reason, "requested with --transport sock")
        // Asked for by name but unusable: unavailable, with the probe's reason.
        let refused = TransportSelection.select(.named(TransportKind("rdma")), registry: [sockets, missing])
        XCTAssertFalse(refused.available)
        XCTAssertEqual(refused.reason, "libibverbs could not be loaded: x")
    }

    func testAutoNeverPicksATransportWithoutPreference() {
        let sockets = Self.plugin("sock", preference: 0, usable: true, reason: "always")
        let shm = Self.plugin("shm", preference: nil, usable: true, reason: "same host")
        XCTAssertEqual(TransportSelection.select(.auto, registry: [shm, sockets]).kind, TransportKind("sock"))
        XCTAssertEqual(TransportSelection.select(.named(TransportKind("shm")), registry: [shm, sockets]).kind, TransportKind("shm"))
    }

    func testTheJobAgreesOnWhatEveryRankCanUse() {
        let sockets = Self.plugin("sock", preference: 0, usable: true, reason: "always")
        let rdma = Self.plugin("rdma", preference: 10, usable: true, reason: "RDMA device(s) rxe0")
        let registry = [sockets, rdma]
        let able = TransportSelection.Candidates(kinds: [TransportKind("rdma"), TransportKind("sock")],
                                                 availability: [.init(usable: true, reason: "RDMA device(s) rxe0"), .init(usable: true, reason: "always")])
        var unable = able
        unable.availability[0] = .init(usable: false, reason: "no active RDMA port (rxe0 port 1 DOWN)")
        let all = TransportSelection.decide(among: [able, able, able], registry: registry)
        XCTAssertEqual(all.kind, TransportKind("rdma"))
        let one = TransportSelection.decide(among: [able, able, unable], registry: registry)
        XCTAssertEqual(one.kind, TransportKind("sock"))
        XCTAssertEqual(one.reason, "auto chose SOCK: rank 2 cannot use RDMA (no active RDMA port (rxe0 port 1 DOWN))")
        // A rank whose build lacks a transport cannot use it either.
        let old = TransportSelection.Candidates(kinds: [TransportKind("sock")], availability: [.init(usable: true, reason: "always")])
        XCTAssertEqual(TransportSelection.decide(among: [able, old], registry: registry).kind, TransportKind("sock"))
    }

    func testTheVerbsProbeOnThisHostMatchesSysfs() {
        // Ground truth from the kernel, not from the probe: devices under /sys/class/infiniband.
        let sysfs = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/infiniband")) ?? []
        let probe = VerbsTransport.plugin.probe(TransportContext())
        if sysfs.isEmpty {
            XCTAssertFalse(probe.usable, "no RDMA device in sysfs, yet the probe says usable: \(probe.reason)")
            XCTAssertFalse(probe.reason.isEmpty)
        } else if probe.usable {
            let named = RDMAAvailability.probe().deviceNames
            XCTAssertFalse(named.isEmpty)
            XCTAssertTrue(Set(named).isSubset(of: Set(sysfs)), "\(named) not all in sysfs \(sysfs)")
        }
    }

    func testBandwidthCapsTheBytesMovedPerSize() {
        var o = BandwidthOptions()
        o.iterations = 1000
        XCTAssertEqual(o.iterations(for: 8), 1000)
        XCTAssertEqual(o.iterations(for: 16 << 20), 256)  // 4 GiB / 16 MiB
        XCTAssertEqual(o.iterations(for: 4 << 30), 4)  // never fewer than 4
    }

}
