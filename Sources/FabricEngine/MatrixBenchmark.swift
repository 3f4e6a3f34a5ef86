import FabricMeasure
import FabricReport
import FabricTransport
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
            let key = "matrix/\(index)"
            try job.barrier(key)
            var payload: [UInt8]?
            if let role = PairSchedule.role(of: job.rank, in: round) {
                let l = try latency.measure(size: options.latencyBytes, role: role)
                let b = try bandwidth.measure(size: options.bandwidthBytes, role: role)
                if let l, let b { payload = Array(try JSONEncoder().encode(LinkReport(latency: l, bandwidth: b))) }
            }
            guard let raw = try job.gather(key, payload, from: round.map(\.0)) else { continue }
            for ((a, b), bytes) in zip(round, raw) {
                let report: LinkReport
                do {
                    report = try JSONDecoder().decode(LinkReport.self, from: Data(bytes))
                } catch {
                    throw FabricError.protocolViolation(peer: "rank \(a)", detail: "its link report does not decode: \(error)")
                }
                var link = PairResult(ranks: [a, b], hosts: [hosts[a], hosts[b]])
                link.histogram = report.latency.histogram
                link.oneWayUs = LatencySummary(try HistogramEncoding.decode(report.latency.histogram))
                let windows = try HistogramEncoding.decode(report.bandwidth.windowHistogram)
                link.bandwidth = bandwidth.figures(size: options.bandwidthBytes, iterations: report.bandwidth.iterations,
                                                   nanoseconds: report.bandwidth.nanoseconds, windows: windows)
                links.append(link)
            }
            onRound(index + 1, schedule.count)
        }
        guard job.rank == 0 else { return nil }
        links.sort { ($0.ranks[0], $0.ranks[1]) < ($1.ranks[0], $1.ranks[1]) }
        return LinkMatrixResult(latencyBytes: options.latencyBytes, latencyIterations: options.latencyIterations,
                                bandwidthBytes: options.bandwidthBytes, bandwidthMessages: options.bandwidthMessages,
                                rounds: schedule.map { $0.map { [$0.0, $0.1] } }, links: links, worldSize: n,
                                rule: options.rule.description, verdicts: Self.verdicts(links, rule: options.rule))
    }

    /// Applies the rule to each metric over all links.
    static func verdicts(_ links: [PairResult], rule: OutlierRule) -> [LinkVerdict] {
        let metrics: [(name: String, label: String, unit: String, higherIsWorse: Bool, value: (PairResult) -> Double)] = [
            ("latency_p50_us", "latency p50", "us", true, { $0.oneWayUs?.p50 ?? 0 }),
            ("latency_p999_us", "latency p99.9", "us", true, { $0.oneWayUs?.p999 ?? 0 }),
            ("bandwidth_gbps", "bandwidth", "GB/s", false, { $0.bandwidth?.gbps ?? 0 }),
        ]
        var verdicts: [LinkVerdict] = []
        for metric in metrics {
            for flag in rule.flag(links.map(metric.value), higherIsWorse: metric.higherIsWorse) {
                let link = links[flag.index]
                let (a, b) = (link.ranks[0], link.ranks[1])
                let times = flag.ratio >= 1 ? String(format: "%.1f×", flag.ratio) : String(format: "%.2g×", flag.ratio)
                let text = "rank \(a) ↔ rank \(b) (\(link.hosts[0]) ↔ \(link.hosts[1])): \(metric.label) "
                    + String(format: "%.3g", flag.value) + " \(metric.unit), \(times) the median link ("
                    + String(format: "%.3g", flag.median) + " \(metric.unit))"
                verdicts.append(LinkVerdict(ranks: [a, b], metric: metric.name, value: flag.value, median: flag.median,
                                            ratio: flag.ratio, text: text))
            }
        }
        return verdicts
    }
}
