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

    static func link(_ a: Int, _ b: Int, gbps: Double, back: Double? = nil) -> PairResult {
        var l = PairResult(ranks: [a, b], hosts: ["h\(a)", "h\(b)"])
        func figures(_ g: Double) -> BandwidthFigures { BandwidthFigures(gbps: g, messageRateMpps: 0, bidirectional: false, window: 16, seconds: 1, windowGbps: nil) }
        l.bandwidth = figures(gbps)
        l.reverseBandwidth = figures(back ?? gbps)
        return l
    }

    /// Every pair of `n` ranks at `gbps`, except the given figures (pair → forward, back).
    static func links(_ n: Int, gbps: Double = 1.3, except: [[Int]: (Double, Double)] = [:]) -> [PairResult] {
        (0..<n).flatMap { a in (a + 1..<n).map { b in
            let f = except[[a, b]]
            // A little spread, as measured links have.
            return link(a, b, gbps: f?.0 ?? gbps * (1 + 0.01 * Double((a * 7 + b * 3) % 5)), back: f?.1 ?? gbps * (1 + 0.01 * Double((a * 3 + b * 7) % 5)))
        } }
    }

    func testAFlaggedLinkStaysAnOutlierOnlyIfItsRetestIsFlaggedToo() {
        // Six hosts; the sweep finds 0-3 and 2-4 slow (one bad link each: no host explains
        // them). Measured again, 0-3 is healthy (a passing hiccup) and 2-4 still slow.
        let sweep = Self.links(6, except: [[0, 3]: (0.07, 0.07), [2, 4]: (0.01, 0.01)])
        let diagnosis = MatrixDiagnosis(rule: OutlierRule(k: 5, minimumRatio: 4), hosts: (0..<6).map { "h\($0)" })
        let outcome = diagnosis.diagnose(sweep)
        XCTAssertEqual(Set(outcome.verdicts.map(\.subject)), [.link], "\(outcome.verdicts.map(\.text))")
        XCTAssertEqual(Set(outcome.verdicts.map { $0.ranks.sorted() }), [[0, 3], [2, 4]])
        XCTAssertEqual(Set(diagnosis.retestPlan(outcome)), [[0, 3], [2, 4]])
        let settled = diagnosis.settle(outcome, links: sweep, retests: [Self.link(0, 3, gbps: 1.25), Self.link(2, 4, gbps: 0.012)])
        XCTAssertEqual(Set(settled.holds.map { $0.ranks.sorted() }), [[2, 4]])
        XCTAssertEqual(settled.holds.first?.value, 0.01, "the verdict keeps the sweep's figure")
        XCTAssertEqual(Set(settled.transient.map { $0.ranks.sorted() }), [[0, 3]])
        XCTAssertTrue(settled.links.allSatisfy { $0.ranks.sorted() == [2, 4] })
        // Nothing measured again: the sweep's figures stand, and so do its verdicts.
        XCTAssertEqual(diagnosis.settle(outcome, links: sweep, retests: []).holds.count, outcome.verdicts.count)
    }

    func testASuspectHostIsNamedOnceAndStandsOnlyIfItsLinksAreSlowAgain() {
        // Host h3's sends are slow to everyone (its receives are fine): one verdict naming the
        // host and the direction, not five link verdicts.
        var slow: [[Int]: (Double, Double)] = [:]
        for p in 0..<6 where p != 3 { slow[[min(p, 3), max(p, 3)]] = p < 3 ? (1.3, 0.02) : (0.02, 1.3) }
        let sweep = Self.links(6, except: slow)
        let diagnosis = MatrixDiagnosis(rule: OutlierRule(), hosts: (0..<6).map { "h\($0)" })
        let outcome = diagnosis.diagnose(sweep)
        XCTAssertEqual(outcome.verdicts.map(\.subject), [.host], "\(outcome.verdicts.map(\.text))")
        let v = outcome.verdicts[0]
        XCTAssertEqual(v.hosts, ["h3"])
        XCTAssertEqual(v.direction, .sends)
        XCTAssertTrue(v.text.hasPrefix("host h3: its sends are slow: median 0.02 GB/s against 1.3"), v.text)
        let plan = diagnosis.retestPlan(outcome)
        XCTAssertEqual(plan.count, 3, "three samples of the suspect's links")
        XCTAssertTrue(plan.allSatisfy { $0.contains(3) })
        let slowAgain = plan.map { p in Self.link(p[0], p[1], gbps: p[0] == 3 ? 0.03 : 1.3, back: p[0] == 3 ? 1.3 : 0.03) }
        let confirmed = diagnosis.settle(outcome, links: sweep, retests: slowAgain)
        XCTAssertEqual(confirmed.holds.map(\.hosts), [["h3"]])
        XCTAssertEqual(confirmed.links.count, 5, "the links it explains stand with it (each of h3's five sends)")
        let fineAgain = plan.map { p in Self.link(p[0], p[1], gbps: 1.3) }
        let settled = diagnosis.settle(outcome, links: sweep, retests: fineAgain)
        XCTAssertEqual(settled.holds.count, 0)
        XCTAssertEqual(settled.transient.map(\.hosts), [["h3"]])
        XCTAssertEqual(settled.transientLinks.count, 5, "and fall with it")
        // Fine again but for one link that is slow again: the suspect falls, and that link,
        // measured again and flagged again, is a verdict of its own; the links nobody measured
        // again are not.
        let oneStillSlow = plan.map { p in p == [0, 3] ? Self.link(0, 3, gbps: 1.3, back: 0.03) : Self.link(p[0], p[1], gbps: 1.3) }
        let mixed = diagnosis.settle(outcome, links: sweep, retests: oneStillSlow)
        XCTAssertEqual(mixed.holds.map(\.subject), [.link])
        XCTAssertEqual(mixed.holds.map(\.ranks), [[3, 0]])
        XCTAssertEqual(mixed.links.map(\.ranks), [[3, 0]])
    }

    func testStragglersSharingAHostAreNamedTogether() {
        XCTAssertEqual(StragglerAnalysis.byHost([1, 2, 5], hosts: ["a", "b", "b", "c", "c", "d"]), "host b (ranks 1, 2), rank 5 (host d)")
        XCTAssertEqual(StragglerAnalysis.byHost([1], hosts: []), "rank 1", "without hosts, ranks alone")
        let nics = ["mlx5_0", "mlx5_1", "mlx5_0", "mlx5_1", "mlx5_0", "mlx5_1"]
        XCTAssertEqual(StragglerAnalysis.byHost([1, 2, 5], hosts: ["a", "a", "b", "b", "c", "c"], nics: nics),
                       "rank 1 (host a mlx5_1), rank 2 (host b mlx5_0), rank 5 (host c mlx5_1)")
        XCTAssertEqual(StragglerAnalysis.byHost([2, 3], hosts: ["a", "a", "b", "b"], nics: nics), "host b (ranks 2 mlx5_0, 3 mlx5_1)")
    }

    /// Placements of `hosts` hosts with `perHost` ranks each, local rank i on NIC i.
    static func placements(hosts: Int, perHost: Int, localRanks: Bool = true) -> [RankPlacement] {
        (0..<hosts * perHost).map { r in
            RankPlacement(rank: r, host: "node\(r / perHost)", localRank: localRanks ? r % perHost : nil, cpu: nil, nic: "mlx5_\(r % perHost)",
                          nicChoice: nil, port: 1, gidIndex: 3, numaNode: nil, address: nil)
        }
    }

    func testRailLinksJoinTheSameLocalRankOfDifferentHosts() {
        let p = Self.placements(hosts: 3, perHost: 2)
        XCTAssertEqual(Rails.of(p), [0, 1, 0, 1, 0, 1])
        XCTAssertEqual(Rails.links(p), [[0, 2], [0, 4], [2, 4], [1, 3], [1, 5], [3, 5]])
        // Without a launcher's local rank, a rank's place among its host's ranks.
        XCTAssertEqual(Rails.of(Self.placements(hosts: 2, perHost: 3, localRanks: false)), [0, 1, 2, 0, 1, 2])
        XCTAssertEqual(Rails.links(Self.placements(hosts: 1, perHost: 4)), [], "one host: no rail links")
    }

    /// Rails of 4 hosts × 2 NICs, node2's mlx5_1 (rank 5) slow both ways: named as the
    /// (host, NIC) pair on its rail, not as the host; its re-tests stay on its rail.
    func testARailSuspectIsNamedByHostNICAndRail() throws {
        let placements = Self.placements(hosts: 4, perHost: 2)
        let pairs = Rails.links(placements)
        let sweep = pairs.map { p in
            p.contains(5) ? Self.link(p[0], p[1], gbps: 0.02) : Self.link(p[0], p[1], gbps: 1.3 * (1 + 0.01 * Double((p[0] * 7 + p[1] * 3) % 5)))
        }
        let diagnosis = MatrixDiagnosis(rule: OutlierRule(), hosts: placements.map(\.host), nics: placements.map(\.nic), rails: Rails.of(placements))
        let outcome = diagnosis.diagnose(sweep)
        let suspects = outcome.verdicts.filter { $0.subject != .link }
        XCTAssertFalse(suspects.isEmpty, "\(outcome.verdicts.map(\.text))")
        for v in outcome.verdicts {
            XCTAssertEqual(v.subject, .ranks, v.text)
            XCTAssertEqual(v.ranks, [5], v.text)
            XCTAssertEqual(v.nics, ["mlx5_1"], v.text)
            XCTAssertEqual(v.rail, 1, v.text)
        }
        let text = try XCTUnwrap(suspects.first?.text)
        XCTAssertTrue(text.hasPrefix("node2 mlx5_1 (rank 5): slow both ways on rail 1"), text)
        let plan = diagnosis.retestPlan(outcome)
        XCTAssertFalse(plan.isEmpty)
        XCTAssertTrue(plan.allSatisfy { $0.contains(5) && $0.allSatisfy { $0 % 2 == 1 } }, "re-tests stay on rail 1: \(plan)")
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
