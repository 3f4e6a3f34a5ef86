import FabricMeasure
import FabricResults
import Foundation

/// `--algo auto`'s rule, as pure functions of measured times (the probe and the tuning table
/// both use it, and the tests drive it directly).
///
/// At a probed size: the candidate with the lowest median round time leads. Another candidate
/// is within noise of it when its median exceeds the leader's by no more than the larger of
/// `minimumEffect` (3%) of the leader's median and the larger of the two candidates' spreads
/// (MAD of round times). The leader wins outright when nobody is within noise; otherwise,
/// of the leader and those within noise of it, the lowest p99 wins.
///
/// Between probed sizes: when the two probed sizes around a size chose the same algorithm,
/// that one; otherwise, of those two choices, the one whose median, interpolated linearly in
/// log(size)-log(time) between the two probed sizes, is lower. Outside the probed range: the
/// nearest probed size's choice.
public enum AlgorithmDecision {
    public static let minimumEffect = 0.03

    public static let ruleText = "per probed size: lowest median of alternating rounds (slowest rank per call), "
        + "unless another is within noise (the larger of 3% and the rounds' MAD), then the lower p99; "
        + "between probed sizes: the two neighbours' choice if they agree, else the one with the lower log-log interpolated median; "
        + "beyond them: the nearest probed size's"

    /// One candidate's raw samples at one size: per round, each call's time (slowest rank), ns.
    public static func timing(algo: String, rounds: [[Double]]) -> CandidateTiming {
        let roundTimes = rounds.filter { !$0.isEmpty }.map { $0.reduce(0, +) / Double($0.count) }
        let median = RobustStatistics.median(roundTimes)
        let spread = RobustStatistics.median(roundTimes.map { abs($0 - median) })
        let calls = rounds.flatMap { $0 }.sorted()
        let p99 = calls.isEmpty ? 0 : calls[min(calls.count - 1, Int((Double(calls.count) * 0.99).rounded(.up)) - 1)]
        return CandidateTiming(algo: algo, medianUs: median / 1000, p99Us: p99 / 1000, spreadUs: spread / 1000,
                               rounds: roundTimes.count, callsPerRound: rounds.map(\.count).max() ?? 0)
    }

    public struct Verdict: Equatable, Sendable {
        /// Index into the candidates.
        public var winner: Int
        /// False when the winner was within noise of another (more rounds may separate them).
        public var clear: Bool
        public var reason: String
    }

    /// The rule at one probed size.
    public static func decide(_ candidates: [CandidateTiming], minimumEffect: Double = minimumEffect) -> Verdict {
        guard let leader = candidates.indices.min(by: { candidates[$0].medianUs < candidates[$1].medianUs }) else {
            return Verdict(winner: 0, clear: true, reason: "no candidate")
        }
        let l = candidates[leader]
        let tied = candidates.indices.filter { i in
            i == leader || candidates[i].medianUs - l.medianUs <= margin(l, candidates[i], minimumEffect)
        }
        if tied.count == 1 {
            let next = candidates.indices.filter { $0 != leader }.min { candidates[$0].medianUs < candidates[$1].medianUs }
            let versus = next.map { n in
                " (next \(candidates[n].algo) \(us(candidates[n].medianUs)), noise \(us(margin(l, candidates[n], minimumEffect))))"
            } ?? ""
            return Verdict(winner: leader, clear: true, reason: "\(l.algo) fastest: median \(us(l.medianUs))\(versus)")
        }
        let winner = tied.min { (candidates[$0].p99Us, $0) < (candidates[$1].p99Us, $1) }!
        let names = tied.map { "\(candidates[$0].algo) \(us(candidates[$0].medianUs)) p99 \(us(candidates[$0].p99Us))" }
        return Verdict(winner: winner, clear: false,
                       reason: "\(candidates[winner].algo): within noise of each other (\(names.joined(separator: ", "))), lower p99")
    }

    /// The difference of medians that counts as real between `leader` and `other`.
    static func margin(_ leader: CandidateTiming, _ other: CandidateTiming, _ minimumEffect: Double) -> Double {
        max(minimumEffect * leader.medianUs, leader.spreadUs, other.spreadUs)
    }

    /// The rule between probed sizes: the algorithm for `bytes`, and why.
    /// `probed` sorted by size, not empty.
    public static func choose(bytes: Int, probed: [ProbedSize]) -> SizeChoice {
        guard let first = probed.first, let last = probed.last else { return SizeChoice(bytes: bytes, algo: "", why: "nothing probed") }
        if let exact = probed.first(where: { $0.bytes == bytes }) {
            return SizeChoice(bytes: bytes, algo: exact.algo, why: "probed: \(exact.reason)")
        }
        if bytes < first.bytes { return SizeChoice(bytes: bytes, algo: first.algo, why: "nearest probed size \(ByteCount.format(first.bytes))") }
        if bytes > last.bytes { return SizeChoice(bytes: bytes, algo: last.algo, why: "nearest probed size \(ByteCount.format(last.bytes))") }
        let hi = probed.firstIndex { $0.bytes > bytes }!
        let below = probed[hi - 1], above = probed[hi]
        let between = "between \(ByteCount.format(below.bytes)) and \(ByteCount.format(above.bytes))"
        if below.algo == above.algo { return SizeChoice(bytes: bytes, algo: below.algo, why: "\(between): both \(below.algo)") }
        let estimates = [below.algo, above.algo].map { algo -> (String, Double?) in
            (algo, interpolate(bytes: bytes, below: below, above: above, algo: algo))
        }
        // An algorithm without times on both sides cannot be interpolated: the nearer side's choice.
        guard let a = estimates[0].1, let b = estimates[1].1 else {
            let nearer = log(Double(bytes)) - log(Double(max(below.bytes, 1))) <= log(Double(above.bytes)) - log(Double(bytes)) ? below : above
            return SizeChoice(bytes: bytes, algo: nearer.algo, why: "\(between): nearer \(ByteCount.format(nearer.bytes))")
        }
        let pick = b < a ? estimates[1].0 : estimates[0].0
        return SizeChoice(bytes: bytes, algo: pick,
                          why: "\(between), interpolated: \(estimates[0].0) \(us(a)), \(estimates[1].0) \(us(b))")
    }

    /// `algo`'s median at `bytes`, linear in log-log between the two probed sizes (µs).
    static func interpolate(bytes: Int, below: ProbedSize, above: ProbedSize, algo: String) -> Double? {
        guard let t0 = below.candidates.first(where: { $0.algo == algo })?.medianUs,
              let t1 = above.candidates.first(where: { $0.algo == algo })?.medianUs, t0 > 0, t1 > 0 else { return nil }
        let x0 = log(Double(max(below.bytes, 1))), x1 = log(Double(max(above.bytes, 1))), x = log(Double(max(bytes, 1)))
        guard x1 > x0 else { return t0 }
        let f = (x - x0) / (x1 - x0)
        return exp(log(t0) + f * (log(t1) - log(t0)))
    }

    /// Where to probe a sweep (sizes in bytes, any order): its smallest and largest size, and
    /// between them each size at least `spacing` times the previous probed one.
    public static func probeSizes(_ sweep: [Int], spacing: Int = 4) -> [Int] {
        let sizes = Array(Set(sweep)).sorted()
        guard let last = sizes.last else { return [] }
        var probes: [Int] = []
        for s in sizes where probes.isEmpty || s >= max(probes.last!, 1) * spacing { probes.append(s) }
        if probes.last != last { probes.append(last) }
        return probes
    }

    static func us(_ value: Double) -> String {
        value >= 10_000 ? String(format: "%.0f us", value) : value >= 100 ? String(format: "%.1f us", value) : String(format: "%.2f us", value)
    }
}
