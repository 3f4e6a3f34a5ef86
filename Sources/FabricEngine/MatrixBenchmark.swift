import FabricMeasure
import FabricResults
import FabricCore
import Foundation

public struct MatrixOptions: Sendable {
    public var latencyBytes = 8
    public var latencyIterations = 1000
    public var bandwidthBytes = 1 << 20
    public var bandwidthMessages = 64
    public var window = 16
    public var warmup = 50
    /// One pair at a time instead of rounds of disjoint pairs.
    public var serial = false
    /// Measure each flagged link again, alone, and keep only the verdicts that hold.
    public var retest = true
    public var rule = OutlierRule()
    public init() {}
}

/// The all-pairs link check: every pair of ranks measures latency (ping-pong) and then
/// bandwidth (a stream) between the two of them, in rounds of disjoint pairs; rank 0 builds
/// the N×N matrices and names the links whose figures are outliers.
public final class MatrixBenchmark {
    let job: Job
    let options: MatrixOptions
    let latency: LatencyBenchmark
    let bandwidth: BandwidthBenchmark

    public init(job: Job, options: MatrixOptions, clock: Clock) {
        self.job = job
        self.options = options
        var l = LatencyOptions()
        l.sizes = [options.latencyBytes]
        l.iterations = options.latencyIterations
        l.warmup = options.warmup
        latency = LatencyBenchmark(job: job, options: l, clock: clock)
        var b = BandwidthOptions()
        b.sizes = [options.bandwidthBytes]
        b.iterations = options.bandwidthMessages
        b.warmup = min(options.window, options.bandwidthMessages)
        b.window = options.window
        bandwidth = BandwidthBenchmark(job: job, options: b, clock: clock)
    }

    struct LinkReport: Codable {
        var latency: LatencyBenchmark.PairReport
        var bandwidth: BandwidthBenchmark.PairReport
    }

    public var rounds: [[(Int, Int)]] {
        options.serial ? PairSchedule.serial(worldSize: job.worldSize) : PairSchedule.rounds(worldSize: job.worldSize)
    }

    /// Runs every round; rank 0 gets the matrix, the others nil. `onRound` (rank 0) hears
    /// each round's number as it completes, for progress.
    public func run(onRound: (_ done: Int, _ of: Int) -> Void = { _, _ in }) throws -> LinkMatrixResult? {
        let n = job.worldSize
        guard n >= 2 else { throw FabricError.configuration("matrix needs at least 2 ranks (got \(n))") }
        try job.transport.connect(to: (0..<n).filter { $0 != job.rank })
        let hosts = job.rank == 0 ? try job.hostNames() : []
        let schedule = rounds
        var links: [PairResult] = []
        for (index, round) in schedule.enumerated() {
            links += try measure(round, key: "matrix/\(index)", hosts: hosts)
            onRound(index + 1, schedule.count)
        }
        links.sort { ($0.ranks[0], $0.ranks[1]) < ($1.ranks[0], $1.ranks[1]) }
        let verdicts = job.rank == 0 ? Self.verdicts(links, rule: options.rule) : []

        // A passing hiccup on a host (another tenant, a stalled scheduler) can make a healthy
        // link look bad once; a bad link stays bad. So each flagged link is measured again,
        // alone, and a verdict stands only if that measurement is flagged the same way.
        let flagged = try agreeOnRetests(verdicts)
        var retests: [PairResult] = []
        for (index, pair) in flagged.enumerated() {
            retests += try measure([(pair[0], pair[1])], key: "matrix/retest/\(index)", hosts: hosts)
        }
        guard job.rank == 0 else { return nil }
        // Without re-tests the sweep's figures stand, and so every verdict holds.
        let (outliers, transient) = Self.settle(verdicts, links: links, retests: retests, rule: options.rule)
        return LinkMatrixResult(latencyBytes: options.latencyBytes, latencyIterations: options.latencyIterations,
                                bandwidthBytes: options.bandwidthBytes, bandwidthMessages: options.bandwidthMessages,
                                rounds: schedule.map { $0.map { [$0.0, $0.1] } }, links: links, worldSize: n,
                                rule: options.rule.description, verdicts: outliers,
                                transient: options.retest ? transient : nil, retests: options.retest ? retests : nil)
    }

    /// The sweep's verdicts split by the re-test: a verdict holds when the rule, applied with
    /// the re-measured links in place of their sweep figures, flags the same link and metric.
    static func settle(_ verdicts: [LinkVerdict], links: [PairResult], retests: [PairResult],
                       rule: OutlierRule) -> (outliers: [LinkVerdict], transient: [LinkVerdict]) {
        let second = Self.verdicts(links.map { link in retests.first { $0.ranks == link.ranks } ?? link }, rule: rule)
        let holds = { (v: LinkVerdict) in second.contains { $0.ranks == v.ranks && $0.metric == v.metric } }
        return (verdicts.filter(holds), verdicts.filter { !holds($0) })
    }

    /// Rank 0 names the links to measure again (each flagged link once); every rank learns them.
    private func agreeOnRetests(_ verdicts: [LinkVerdict]) throws -> [[Int]] {
        guard options.retest else { return [] }
        return try job.control.decide("matrix/retest", what: "list of links to measure again") {
            var pairs: [[Int]] = []
            for v in verdicts where !pairs.contains(v.ranks) { pairs.append(v.ranks) }
            return pairs
        }
    }

    /// One round: each pair measures latency then bandwidth between its two ranks; rank 0
    /// gets the pairs' results, the others an empty list.
    private func measure(_ round: [(Int, Int)], key: String, hosts: [String]) throws -> [PairResult] {
        try job.barrier(key)
        var payload: LinkReport?
        if let role = PairSchedule.role(of: job.rank, in: round) {
            let l = try latency.measure(size: options.latencyBytes, role: role)
            let b = try bandwidth.measure(size: options.bandwidthBytes, role: role)
            if let l, let b { payload = LinkReport(latency: l, bandwidth: b) }
        }
        guard let reports = try job.control.gather(key, payload, from: round.map(\.0), what: "link report") else { return [] }
        return try zip(round, reports).map { pair, report in
            let (a, b) = pair
            var link = PairResult(ranks: [a, b], hosts: [hosts[a], hosts[b]])
            link.histogram = report.latency.histogram
            link.oneWayUs = LatencySummary(try HistogramEncoding.decode(report.latency.histogram))
            let windows = try HistogramEncoding.decode(report.bandwidth.windowHistogram)
            link.bandwidth = bandwidth.figures(size: options.bandwidthBytes, iterations: report.bandwidth.iterations,
                                               nanoseconds: report.bandwidth.nanoseconds, windows: windows)
            return link
        }
    }

    /// Applies the rule to each metric over all links.
    static func verdicts(_ links: [PairResult], rule: OutlierRule) -> [LinkVerdict] {
        var verdicts: [LinkVerdict] = []
        for metric in LinkMetric.allCases {
            for flag in rule.flag(links.map { metric.value(of: $0) ?? 0 }, higherIsWorse: metric.higherIsWorse) {
                let link = links[flag.index]
                let (a, b) = (link.ranks[0], link.ranks[1])
                let times = flag.ratio >= 1 ? String(format: "%.1f×", flag.ratio) : String(format: "%.2g×", flag.ratio)
                let text = "rank \(a) ↔ rank \(b) (\(link.hosts[0]) ↔ \(link.hosts[1])): \(metric.label) "
                    + String(format: "%.3g", flag.value) + " \(metric.unit), \(times) the median link ("
                    + String(format: "%.3g", flag.median) + " \(metric.unit))"
                verdicts.append(LinkVerdict(ranks: [a, b], metric: metric.rawValue, value: flag.value, median: flag.median,
                                            ratio: flag.ratio, text: text))
            }
        }
        return verdicts
    }
}
