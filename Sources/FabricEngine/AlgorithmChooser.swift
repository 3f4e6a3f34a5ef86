import FabricCollectives
import FabricCore
import FabricMeasure
import FabricResults
import Foundation

/// `--algo auto`: the algorithm of every size of the sweep, chosen before the sweep by
/// `AlgorithmDecision`'s rule from a probe, or from a tuning table (`--tuning FILE`). Rank 0
/// decides and tells the others through the control plane, so every rank runs the same one.
///
/// The probe, at each probed size (`AlgorithmDecision.probeSizes` of the sweep), runs rounds;
/// a round times every candidate in turn (the order rotates each round, so none always runs
/// first), each for a warm-up and `calls` timed calls. A call's time is its slowest rank's.
/// Rounds go on from `minRounds` to `maxRounds` while the leader is within noise of another
/// candidate and the probe has run less than `budgetSeconds`; past the budget every size
/// still gets `minRounds`, and past `limitSeconds` no further size is probed.
public struct AlgorithmChooser {
    static let minRounds = 3
    static let maxRounds = 9
    static let budgetSeconds = 30.0
    /// No probed size starts after this: the sizes left take the nearest probed size's choice.
    static let limitSeconds = 120.0
    /// Timed calls per candidate per round: about `roundSeconds` by a pilot call of each
    /// (its slowest rank's time), 2...200.
    static let roundSeconds = 0.01
    static func calls(pilotNanoseconds: UInt64) -> Int {
        Int(max(2, min(200, roundSeconds * 1e9 / Double(max(pilotNanoseconds, 1)))))
    }
    /// Untimed calls before a candidate's timed ones in each round. Calls slow enough that
    /// fewer than 10 fill a round are long enough for the switch not to matter.
    static func warmup(calls: Int) -> Int { calls / 10 }

    /// What --help says of the probe's bounds.
    public static let probeHelp = "auto probes sizes 4x apart across the sweep, each in \(minRounds)-\(maxRounds) rounds that alternate the algorithms, "
        + "\(Int(roundSeconds * 1000)) ms (2-200 calls) per algorithm a round; rounds past \(minRounds) only while two are within noise and the probe has run under \(Int(budgetSeconds)) s; "
        + "no size starts after \(Int(limitSeconds)) s (the rest take the nearest probed size's choice)"

    let algorithms: [CollectiveAlgorithm]
    /// Per sweep size in bytes: index into `algorithms`, and why.
    private var picks: [Int: (index: Int, why: String)] = [:]
    private var fallback: (index: Int, why: String)
    /// Rank 0, under auto with several candidates: what it chose and from what.
    private(set) var record: AlgorithmChoice?

    /// What rank 0 tells the others: the choice, or why the run cannot go on.
    private struct Message: Codable {
        var choice: AlgorithmChoice?
        var refusal: String?
    }

    init(benchmark: CollectiveBenchmark, algorithms: [CollectiveAlgorithm], buffers: CollectiveBuffers, sweepCounts: [Int]) throws {
        self.algorithms = algorithms
        let options = benchmark.options, job = benchmark.job, es = options.type.size
        guard algorithms.count > 1 else {
            fallback = (0, options.algo == "auto" ? "auto: the only algorithm" : "requested with --algo")
            return
        }
        fallback = (0, "auto")
        let sweepBytes = sweepCounts.map { $0 * es }
        let message: Message
        if let path = options.tuningTablePath {
            message = try job.control.decide("auto/table", what: "tuning table verdict") {
                do {
                    let table = try TuningTable.load(path) { CollectiveKind(rawValue: $0).map(Algorithms.names(for:)) ?? [] }
                    let setup = try CollectiveBenchmark.setup(job: job, kind: options.kind)
                    if let refusal = table.refusal(for: setup, path: path) { return Message(refusal: refusal) }
                    let age = table.createdDate.map { Date().timeIntervalSince($0) } ?? 0
                    return Message(choice: AlgorithmChoice(
                        source: "table", rule: table.rule, table: TableUse(path: path, created: table.created, ageSeconds: age.rounded()),
                        probeSeconds: nil, probed: table.sizes, sizes: Self.sizes(sweepBytes, probed: table.sizes, path: path, first: algorithms[0].name)))
                } catch let e as ReportError {
                    return Message(refusal: e.singleLine)
                }
            }
        } else {
            let (probed, skipped, seconds) = try Self.probe(benchmark, algorithms, buffers, sweepBytes: sweepBytes)
            message = try job.control.decide("auto/choice", what: "algorithm choice") {
                var choice = AlgorithmChoice(source: "probe", rule: AlgorithmDecision.ruleText, table: nil, probeSeconds: seconds, probed: probed,
                                             sizes: Self.sizes(sweepBytes, probed: probed, path: nil, first: algorithms[0].name))
                choice.unprobed = skipped.isEmpty ? nil : skipped
                return Message(choice: choice)
            }
        }
        if let refusal = message.refusal { throw FabricError.configuration(refusal) }
        guard let choice = message.choice else { throw FabricError.protocolViolation(peer: "rank 0", detail: "its algorithm choice is empty") }
        for size in choice.sizes {
            guard let index = algorithms.firstIndex(where: { $0.name == size.algo }) else {
                throw FabricError.protocolViolation(peer: "rank 0", detail: "chose algorithm '\(size.algo)', not one of \(algorithms.map(\.name))")
            }
            picks[size.bytes] = (index, size.why)
        }
        record = job.rank == 0 ? choice : nil
    }

    func choose(bytes: Int) -> (CollectiveAlgorithm, String) {
        let pick = picks[bytes] ?? fallback
        return (algorithms[pick.index], pick.why)
    }

    /// Every sweep size's choice, by the rule between probed sizes (with none probed, as when
    /// no size holds an element, the first candidate).
    private static func sizes(_ sweepBytes: [Int], probed: [ProbedSize], path: String?, first: String) -> [SizeChoice] {
        Array(Set(sweepBytes)).sorted().map { bytes in
            guard !probed.isEmpty else { return SizeChoice(bytes: bytes, algo: first, why: "auto: no size to probe") }
            var c = AlgorithmDecision.choose(bytes: bytes, probed: probed)
            if let path { c.why = "table \(path): \(c.why)" }
            return c
        }
    }

    /// Runs the probe on every rank; rank 0 returns the evidence and decisions at each probed
    /// size and the probe's wall time, the others nothing.
    private static func probe(_ benchmark: CollectiveBenchmark, _ algorithms: [CollectiveAlgorithm], _ buffers: CollectiveBuffers,
                              sweepBytes: [Int]) throws -> ([ProbedSize], [Int], Double) {
        let options = benchmark.options, job = benchmark.job, clock = benchmark.clock, comm = benchmark.comm
        let es = options.type.size
        let started = clock.now()
        func elapsed() -> Double { Double(clock.nanoseconds(clock.now() &- started)) / 1e9 }
        var probed: [ProbedSize] = []
        var skipped: [Int] = []
        let sizes = AlgorithmDecision.probeSizes(sweepBytes.filter { $0 > 0 })
        for (i, bytes) in sizes.enumerated() {
            let go = try i == 0 || job.control.decide("auto/\(i)/start", what: "probe time limit") { elapsed() < limitSeconds }
            if !go { skipped = Array(sizes[i...]); break }
            let a = buffers.arguments(count: bytes / es, inPlace: false, op: options.op, root: options.root)
            buffers.fillInput(a)
            // Planned once, as the sweep runs them: the probe times what the sweep will time.
            let plans = try algorithms.map { try $0.plan(comm, a) }
            // One call of each, timed: how many calls fill a round, by the slowest rank's view.
            var pilot: UInt64 = 0
            for plan in plans {
                let t0 = clock.now()
                try plan.run()
                pilot = max(pilot, clock.nanoseconds(clock.now() &- t0))
            }
            let pilots = try job.control.gather("auto/\(i)/pilot", pilot, what: "probe pilot time")
            let calls = try job.control.decide("auto/\(i)/calls", what: "probe calls per round") {
                Self.calls(pilotNanoseconds: pilots?.max() ?? pilot)
            }
            guard (2...200).contains(calls) else { throw FabricError.protocolViolation(peer: "rank 0", detail: "asked for \(calls) probe calls a round") }
            let warmup = Self.warmup(calls: calls)
            // Rank 0: per candidate, per round, each call's slowest-rank time (ns).
            var samples = [[[Double]]](repeating: [], count: algorithms.count)
            var verdict: AlgorithmDecision.Verdict?
            var timings: [CandidateTiming] = []
            for round in 0..<maxRounds {
                var mine = [[UInt64]](repeating: [], count: algorithms.count)
                for j in algorithms.indices { mine[j].reserveCapacity(calls) }
                for k in algorithms.indices {
                    let j = (k + round) % algorithms.count
                    for _ in 0..<warmup { try plans[j].run() }
                    for _ in 0..<calls {
                        let t0 = clock.now()
                        try plans[j].run()
                        mine[j].append(clock.nanoseconds(clock.now() &- t0))
                    }
                }
                let all = try job.control.gather("auto/\(i)/\(round)", mine, what: "probe times")
                let more: Bool = try job.control.decide("auto/\(i)/\(round)/more", what: "probe verdict") {
                    for (r, theirs) in (all ?? []).enumerated() where theirs.count != algorithms.count || theirs.contains(where: { $0.count != calls }) {
                        throw FabricError.protocolViolation(peer: "rank \(r)", detail: "its probe times are not \(algorithms.count) x \(calls)")
                    }
                    for j in algorithms.indices {
                        samples[j].append((0..<calls).map { c in Double((all ?? []).map { $0[j][c] }.max() ?? 0) })
                    }
                    timings = algorithms.indices.map { AlgorithmDecision.timing(algo: algorithms[$0].name, rounds: samples[$0]) }
                    verdict = AlgorithmDecision.decide(timings)
                    let done = round + 1
                    if done < minRounds { return true }
                    return done < maxRounds && verdict?.clear == false && elapsed() < budgetSeconds
                }
                if !more { break }
            }
            if job.rank == 0, let verdict {
                probed.append(ProbedSize(bytes: bytes, algo: algorithms[verdict.winner].name, reason: verdict.reason, candidates: timings))
            }
        }
        return (probed, skipped, (elapsed() * 10).rounded() / 10)
    }
}
