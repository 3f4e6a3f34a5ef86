import FabricEngine
import FabricResults
import Foundation
import XCTest

/// `--algo auto`'s rule as pure functions: times in, choice out.
final class AlgorithmDecisionTests: XCTestCase {
    /// `rounds` rounds of `calls` calls of `median` ns, each round shifted by up to
    /// ±`roundNoise` (as alternation on a busy host sees it); the first round's first `spikes`
    /// calls take `spike` ns (a tail that moves the p99, not the median round).
    func samples(median: Double, roundNoise: Double = 0, rounds: Int = 7, calls: Int = 50, spikes: Int = 0, spike: Double = 0) -> [[Double]] {
        (0..<rounds).map { r in
            let shift = roundNoise * Double((r * 5) % 7 - 3) / 3  // -1...1, no two rounds alike
            return (0..<calls).map { c in r == 0 && c < spikes ? spike : median + shift }
        }
    }

    func testAClearlyFasterCandidateWinsOutright() {
        let timings = [
            AlgorithmDecision.timing(algo: "ring", rounds: samples(median: 100_000, roundNoise: 2_000)),
            AlgorithmDecision.timing(algo: "tree", rounds: samples(median: 80_000, roundNoise: 2_000)),
            AlgorithmDecision.timing(algo: "rd", rounds: samples(median: 130_000, roundNoise: 2_000)),
        ]
        XCTAssertEqual(timings[1].medianUs, 80, accuracy: 1)
        XCTAssertEqual(timings[1].rounds, 7)
        XCTAssertEqual(timings[1].callsPerRound, 50)
        let verdict = AlgorithmDecision.decide(timings)
        XCTAssertEqual(verdict.winner, 1)
        XCTAssertTrue(verdict.clear)
        XCTAssertTrue(verdict.reason.hasPrefix("tree fastest"), verdict.reason)
    }

    func testWithinTheMinimumEffectTheLowerP99Wins() {
        // ring's median is 1.5% lower, inside the 3% minimum effect; its tail is far worse.
        let ring = AlgorithmDecision.timing(algo: "ring", rounds: samples(median: 100_000, spikes: 4, spike: 400_000))
        let tree = AlgorithmDecision.timing(algo: "tree", rounds: samples(median: 101_500))
        XCTAssertLessThan(ring.medianUs, tree.medianUs)
        XCTAssertGreaterThan(ring.p99Us, tree.p99Us)
        let verdict = AlgorithmDecision.decide([ring, tree])
        XCTAssertEqual(verdict.winner, 1, verdict.reason)
        XCTAssertFalse(verdict.clear)
        XCTAssertTrue(verdict.reason.contains("within noise"), verdict.reason)
        // The same medians with the tails swapped: ring wins on p99 too.
        let ringQuiet = AlgorithmDecision.timing(algo: "ring", rounds: samples(median: 100_000))
        let treeSpiky = AlgorithmDecision.timing(algo: "tree", rounds: samples(median: 101_500, spikes: 4, spike: 400_000))
        XCTAssertEqual(AlgorithmDecision.decide([ringQuiet, treeSpiky]).winner, 0)
    }

    func testADifferenceInsideTheMeasuredNoiseIsATie() {
        // 8% apart, beyond the minimum effect, but the rounds scatter by more than that.
        let noisy = AlgorithmDecision.timing(algo: "ring", rounds: samples(median: 100_000, roundNoise: 30_000, spikes: 4, spike: 300_000))
        let steady = AlgorithmDecision.timing(algo: "tree", rounds: samples(median: 108_000, roundNoise: 1_000))
        XCTAssertGreaterThan(noisy.spreadUs, 8)
        let verdict = AlgorithmDecision.decide([noisy, steady])
        XCTAssertEqual(verdict.winner, 1, verdict.reason)
        XCTAssertFalse(verdict.clear)
        // Quiet rounds make the same 8% a real difference.
        let quiet = AlgorithmDecision.timing(algo: "ring", rounds: samples(median: 100_000, roundNoise: 1_000, spikes: 4, spike: 300_000))
        XCTAssertEqual(AlgorithmDecision.decide([quiet, steady]).winner, 0)
        XCTAssertTrue(AlgorithmDecision.decide([quiet, steady]).clear)
    }

    func probed(_ bytes: Int, _ algo: String, _ times: [String: Double]) -> ProbedSize {
        ProbedSize(bytes: bytes, algo: algo, reason: "test",
                   candidates: times.sorted { $0.key < $1.key }.map { CandidateTiming(algo: $0.key, medianUs: $0.value, p99Us: $0.value, spreadUs: 0, rounds: 3, callsPerRound: 2) })
    }

    func testBetweenProbedSizesTheInterpolatedMedianDecides() {
        // rd leads at 1 KiB, ring at 1 MiB; in log-log, rd's time grows 40x over the range and
        // ring's 5x, so they cross a third of the way (in log size), near 10 KiB.
        let table = [probed(1 << 10, "rd", ["rd": 10, "ring": 20, "tree": 15]),
                     probed(1 << 20, "ring", ["rd": 400, "ring": 100, "tree": 90])]
        XCTAssertEqual(AlgorithmDecision.choose(bytes: 1 << 10, probed: table).algo, "rd")
        XCTAssertTrue(AlgorithmDecision.choose(bytes: 1 << 10, probed: table).why.hasPrefix("probed"))
        XCTAssertEqual(AlgorithmDecision.choose(bytes: 1 << 11, probed: table).algo, "rd")   // rd 14.5, ring 23.5
        XCTAssertEqual(AlgorithmDecision.choose(bytes: 1 << 13, probed: table).algo, "rd")   // rd 30.2, ring 32.4
        XCTAssertEqual(AlgorithmDecision.choose(bytes: 1 << 14, probed: table).algo, "ring") // rd 43.7, ring 38.1
        XCTAssertEqual(AlgorithmDecision.choose(bytes: 1 << 19, probed: table).algo, "ring")
        // Only the neighbours' choices compete: tree is never the fastest at either end.
        XCTAssertFalse((10...20).map { AlgorithmDecision.choose(bytes: 1 << $0, probed: table).algo }.contains("tree"))
        // Outside the probed range: the nearest probed size's choice.
        XCTAssertEqual(AlgorithmDecision.choose(bytes: 8, probed: table).algo, "rd")
        XCTAssertEqual(AlgorithmDecision.choose(bytes: 1 << 28, probed: table).algo, "ring")
        XCTAssertTrue(AlgorithmDecision.choose(bytes: 1 << 28, probed: table).why.contains("nearest probed size 1M"),
                      AlgorithmDecision.choose(bytes: 1 << 28, probed: table).why)
        // Neighbours that agree decide alone, whatever the numbers between say.
        let agreeing = [probed(1 << 10, "tree", ["rd": 10, "tree": 11]), probed(1 << 20, "tree", ["rd": 400, "tree": 401])]
        XCTAssertEqual(AlgorithmDecision.choose(bytes: 1 << 15, probed: agreeing).algo, "tree")
    }

    func testProbeSizesSpanTheSweep() {
        let sweep = (3...28).map { 1 << $0 }  // 8 B ... 256 MiB, factor 2
        let probes = AlgorithmDecision.probeSizes(sweep)
        XCTAssertEqual(probes.first, 8)
        XCTAssertEqual(probes.last, 1 << 28)
        XCTAssertEqual(probes.count, 14)
        for (a, b) in zip(probes, probes.dropFirst()) { XCTAssertLessThanOrEqual(b, a * 4) }
        XCTAssertEqual(AlgorithmDecision.probeSizes([4096]), [4096])
        XCTAssertEqual(AlgorithmDecision.probeSizes([64, 8, 8, 16]), [8, 64])
        XCTAssertEqual(AlgorithmDecision.probeSizes([]), [])
    }
}

/// The tuning table's file: written atomically, read back whole, and every damage a one-line refusal.
final class TuningTableTests: XCTestCase {
    let setup = TuningSetup(collective: "allreduce", transport: "tcp", rankHosts: ["a", "a", "b", "b"])
    func names(_ collective: String) -> [String] { collective == "allreduce" ? ["ring", "tree", "rd"] : [] }

    func table() -> TuningTable {
        TuningTable(created: Date(timeIntervalSince1970: 1_700_000_000), fabricbenchVersion: "test", setup: setup, dtype: "float", op: "sum",
                    chunkBytes: 1 << 20, slots: 4, rule: AlgorithmDecision.ruleText, probeSeconds: 1.5, sizes: [
                        ProbedSize(bytes: 1 << 20, algo: "ring", reason: "r", candidates: [CandidateTiming(algo: "ring", medianUs: 500, p99Us: 600, spreadUs: 5, rounds: 3, callsPerRound: 32)]),
                        ProbedSize(bytes: 8, algo: "rd", reason: "r", candidates: [CandidateTiming(algo: "rd", medianUs: 5, p99Us: 9, spreadUs: 0.1, rounds: 9, callsPerRound: 200)]),
                    ])
    }

    func path() -> String { FileManager.default.temporaryDirectory.appendingPathComponent("tuning-\(UUID().uuidString).json").path }

    func testWrittenTablesReadBackSortedAndApplyOnlyToTheirSetup() throws {
        XCTAssertEqual(setup.ranksPerHost, 2)
        XCTAssertEqual(setup.hosts, ["a", "b"])
        let p = path()
        try table().write(to: p)
        let read = try TuningTable.load(p, algorithms: names)
        XCTAssertEqual(read.sizes.map(\.bytes), [8, 1 << 20])
        XCTAssertEqual(read.setup, setup)
        XCTAssertEqual(read.createdDate, Date(timeIntervalSince1970: 1_700_000_000))
        XCTAssertNil(read.refusal(for: setup, path: p))
        for other in [TuningSetup(collective: "allreduce", transport: "verbs", rankHosts: ["a", "a", "b", "b"]),
                      TuningSetup(collective: "allreduce", transport: "tcp", rankHosts: ["a", "a", "b"]),
                      TuningSetup(collective: "allreduce", transport: "tcp", rankHosts: ["a", "b", "c", "d"]),
                      TuningSetup(collective: "allreduce", transport: "tcp", rankHosts: ["a", "a", "c", "c"])] {
            let refusal = try XCTUnwrap(read.refusal(for: other, path: p))
            XCTAssertFalse(refusal.contains("\n"))
            XCTAssertTrue(refusal.contains("fabricbench tune"), refusal)
        }
        XCTAssertTrue(read.refusal(for: TuningSetup(collective: "allreduce", transport: "verbs", rankHosts: ["a", "a", "b", "b"]), path: p)!
            .contains("(the transport differ)"))
    }

    func testEveryDamagedTableIsOneLineNamingTheFile() throws {
        let good = String(decoding: try JSONReport.encoder().encode(table()), as: UTF8.self)
        let damaged: [(String, String)] = [
            ("", "not valid JSON"),
            ("{", "not valid JSON"),
            (String(good.prefix(good.count / 2)), "not valid JSON"),
            ("[1, 2]", "is not"),
            (good.replacingOccurrences(of: "\"world_size\" : 4", with: "\"world_size\" : \"four\""), "world_size"),
            (good.replacingOccurrences(of: "\"world_size\" : 4", with: "\"world_size\" : -4"), "impossible"),
            (good.replacingOccurrences(of: "\"format\" : \"fabricbench-tuning\"", with: "\"format\" : \"other\""), "format"),
            (good.replacingOccurrences(of: "\"version\" : 1", with: "\"version\" : 99"), "version 99"),
            (good.replacingOccurrences(of: "\"algo\" : \"rd\"", with: "\"algo\" : \"bogus\""), "bogus"),
            (good.replacingOccurrences(of: "\"bytes\" : 8", with: "\"bytes\" : 1048576"), "listed twice"),
            (good.replacingOccurrences(of: "\"median_us\" : 5", with: "\"median_us\" : -5"), "not a positive number"),
            (good.replacingOccurrences(of: "\"created\" : \"", with: "\"created\" : \"yesterday"), "ISO 8601"),
            (good.replacingOccurrences(of: "\"setup\"", with: "\"set\\nup\""), "lacks 'setup'"),
            ("\u{1b}[2J\u{00}\u{ff}", "not valid JSON"),
        ]
        for (text, expected) in damaged {
            let p = path()
            try Data(text.utf8).write(to: URL(fileURLWithPath: p))
            XCTAssertThrowsError(try TuningTable.load(p, algorithms: names), text) { error in
                let line = (error as? ReportError)?.singleLine ?? "\(error)"
                XCTAssertFalse(line.contains("\n"), line)
                XCTAssertTrue(line.hasPrefix("--tuning \(p): "), line)
                XCTAssertTrue(line.contains(expected), "\(expected) not in: \(line)")
            }
        }
        XCTAssertThrowsError(try TuningTable.load(path(), algorithms: names)) { error in
            XCTAssertTrue("\(error)".contains("cannot read it"), "\(error)")
        }
    }
}
