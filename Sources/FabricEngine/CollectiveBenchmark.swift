import FabricCollectives
import FabricMeasure
import FabricResults
import FabricCore
import Foundation

public struct CollectiveOptions: Sendable {
    public var kind: CollectiveKind = .allreduce
    /// Full-buffer sizes in bytes (-b/-e/-f).
    public var sizes: [Int] = [8]
    public var iterations = 20
    public var warmup = 5
    public var check = true
    public var type: DataType = .float32
    public var op: ReduceOp = .sum
    /// An algorithm name, or "auto" (pick per size, by `AlgorithmDecision`'s rule).
    public var algo = "auto"
    /// `--tuning FILE`: under auto, rank 0 chooses from this table instead of probing.
    public var tuningTablePath: String?
    public var outOfPlace = true
    public var inPlace = true
    public var root = 0
    public var tuning = PipelineTuning()
    /// Testing aid: this rank sleeps this long before each timed iteration (outside its own timer).
    public var injectDelay: (rank: Int, microseconds: Int)?
    public var stragglerK = 3.0
    public var spikeK = 5.0
    /// `--barrier`: all ranks meet (through the store, outside the timing) before every timed
    /// call, so each call starts together: OSU's method, and what `model` predicts. Without
    /// it calls run back to back, and a rank that finished the last call early waits longer
    /// in this one.
    public var barrierEachCall = false
    public init() {}
}

/// The collective engine (nccl-tests' common.cu in spirit): per size, for out-of-place and
/// in-place, warm up, time every iteration on every rank, then check the result exactly.
/// Rank 0 gathers every rank's iteration times: an iteration's time is its slowest rank's.
public final class CollectiveBenchmark {
    let job: Job
    let options: CollectiveOptions
    let clock: Clock
    let comm: Communicator

    public init(job: Job, options: CollectiveOptions, clock: Clock) {
        self.job = job
        self.options = options
        self.clock = clock
        comm = Communicator(transport: job.transport)
    }

    struct RankReport: Codable {
        var nanoseconds: [UInt64]
        var wrong: Int?
        var mismatches: [Mismatch]
    }

    /// Per size and placement, what the straggler analysis needs (rank 0).
    struct Timings {
        var bytes: Int
        var inplace: Bool
        var perRank: [[UInt64]]
    }

    /// The setup a tuning table is keyed by: this collective, this job's transport and ranks' hosts.
    static func setup(job: Job, kind: CollectiveKind) throws -> TuningSetup {
        TuningSetup(collective: kind.rawValue, transport: job.selection.kind.rawValue, rankHosts: try job.hostNames())
    }

    /// The candidates, connected, and the buffers for the sweep's largest size.
    private func prepare() throws -> (algorithms: [CollectiveAlgorithm], counts: [Int], buffers: CollectiveBuffers) {
        guard options.root < job.worldSize else {
            throw FabricError.configuration("--root \(options.root) is not a rank of this \(job.worldSize)-rank job")
        }
        let names = Algorithms.names(for: options.kind)
        let candidates = options.algo == "auto" ? names : [options.algo]
        let algorithms = try candidates.map { name -> CollectiveAlgorithm in
            guard let a = Algorithms.named(name, for: options.kind) else {
                throw FabricError.configuration("--algo \(name) is not an algorithm for \(options.kind.rawValue) (choose from: \(names.joined(separator: ", ")), auto)")
            }
            return a
        }
        for a in algorithms { try comm.connect(a.peers(rank: job.rank, size: job.worldSize)) }
        let es = options.type.size
        let counts = options.sizes.map { options.kind.usableCount($0 / es, ranks: job.worldSize) }
        let buffers = try CollectiveBuffers(kind: options.kind, type: options.type, maxCount: counts.max() ?? 0,
                                            tuning: options.tuning, transport: job.transport)
        return (algorithms, counts, buffers)
    }

    /// `fabricbench tune`: only the auto choice (probed) for the sweep's sizes; rank 0 returns it
    /// with the setup it was measured on.
    public func tune() throws -> (AlgorithmChoice, TuningSetup)? {
        let (algorithms, counts, buffers) = try prepare()
        let chooser = try AlgorithmChooser(benchmark: self, algorithms: algorithms, buffers: buffers, sweepCounts: counts)
        guard job.rank == 0, let record = chooser.record else { return nil }
        return (record, try Self.setup(job: job, kind: options.kind))
    }

    /// Runs the sweep. Rank 0's `beforeSweep` gets auto's algorithm choice (nil when there was
    /// nothing to choose). Rank 0's `onSize` gets the entries of each size (out-of-place,
    /// in-place) as soon as they are measured; rank 0 returns the straggler report.
    public func run(beforeSweep: (AlgorithmChoice?) throws -> Void = { _ in }, onSize: ([CollectiveResult]) throws -> Void) throws -> StragglerReport? {
        let (algorithms, counts, buffers) = try prepare()
        let es = options.type.size
        let chooser = try AlgorithmChooser(benchmark: self, algorithms: algorithms, buffers: buffers, sweepCounts: counts)
        if job.rank == 0 { try beforeSweep(chooser.record) }
        let placements = job.rank == 0 ? try job.placements() : []
        let hosts = placements.map(\.host)
        var durations = [UInt64](repeating: 0, count: options.iterations)
        var timings: [Timings] = []

        for (index, count) in counts.enumerated() {
            let (algorithm, why) = chooser.choose(bytes: count * es)
            var entries: [CollectiveResult] = []
            for inPlace in [false, true] where inPlace ? options.inPlace : options.outOfPlace {
                try job.barrier("\(options.kind.rawValue)/\(index)/\(inPlace)")
                let a = buffers.arguments(count: count, inPlace: inPlace, op: options.op, root: options.root)
                buffers.fillInput(a)
                // Planned once per size and placement: a timed call allocates nothing.
                let call = try algorithm.plan(comm, a)
                for _ in 0..<options.warmup { try call.run() }
                for i in 0..<options.iterations {
                    if let d = options.injectDelay, d.rank == job.rank { usleep(UInt32(d.microseconds)) }
                    if options.barrierEachCall { try job.barrier("\(options.kind.rawValue)/\(index)/\(inPlace)/\(i)") }
                    let t0 = clock.now()
                    try call.run()
                    durations[i] = clock.nanoseconds(clock.now() &- t0)
                    try job.noticeLostRendezvous()
                }
                var report = RankReport(nanoseconds: durations, wrong: nil, mismatches: [])
                if options.check {
                    // Fresh inputs (in place, timing overwrote them), one more call, exact comparison.
                    buffers.fillInput(a)
                    try call.run()
                    let result = buffers.check(a)
                    report.wrong = result.wrong
                    report.mismatches = result.first.map { Mismatch(rank: job.rank, index: $0.index, expected: $0.expected, got: $0.got) }
                }
                let key = "\(options.kind.rawValue)/\(index)/\(inPlace ? "in" : "out")"
                guard let reports = try job.control.gather(key, report, what: "timing report") else { continue }
                for (r, report) in reports.enumerated() where report.nanoseconds.count != options.iterations {
                    throw FabricError.protocolViolation(peer: "rank \(r)", detail: "its timing report has \(report.nanoseconds.count) iterations, not \(options.iterations)")
                }
                entries.append(combine(count: count, inPlace: inPlace, algorithm: algorithm.name, why: why, reports: reports, placements: placements))
                timings.append(Timings(bytes: count * es, inplace: inPlace, perRank: reports.map(\.nanoseconds)))
            }
            if job.rank == 0 { try onSize(entries) }
        }
        return job.rank == 0 ? StragglerAnalysis.analyze(timings, ranks: job.worldSize, hosts: hosts, nics: placements.map(\.nic), k: options.stragglerK, spikeK: options.spikeK) : nil
    }

    private func combine(count: Int, inPlace: Bool, algorithm: String, why: String, reports: [RankReport], placements: [RankPlacement]) -> CollectiveResult {
        let n = job.worldSize
        let iterations = options.iterations
        let slowest = (0..<iterations).map { i in reports.map { $0.nanoseconds[i] }.max() ?? 0 }
        var histogram = LatencyHistogram()
        for t in slowest { histogram.record(nanoseconds: t) }
        let meanUs = slowest.isEmpty ? 0 : Double(slowest.reduce(0, +)) / Double(slowest.count) / 1000
        let bytes = count * options.type.size
        let algbw = meanUs > 0 ? Double(bytes) / (meanUs * 1e-6) / 1e9 : 0
        let ranks = reports.enumerated().map { r, report -> RankTiming in
            var h = LatencyHistogram()
            for t in report.nanoseconds { h.record(nanoseconds: t) }
            let s = LatencySummary(h)
            let late = RobustStatistics.median(zip(slowest, report.nanoseconds).map { Double($0 - $1) }) / 1000
            var timing = RankTiming(rank: r, host: placements[r].host, meanUs: s.mean, p50Us: s.p50, p99Us: s.p99, maxUs: s.max, lateUs: late)
            timing.nic = placements[r].nic
            return timing
        }
        let wrong = options.check ? reports.compactMap(\.wrong).reduce(0, +) : nil
        let mismatches = reports.flatMap(\.mismatches)
        let summary = LatencySummary(histogram)
        let kind = options.kind
        return CollectiveResult(
            bytes: bytes,
            count: kind == .allgather ? kind.inputCount(count, ranks: n) : kind.outputCount(count, ranks: n),
            dtype: options.type.rawValue, op: kind.reduces ? options.op.rawValue : "none",
            root: kind == .broadcast ? options.root : -1, algo: algorithm, algoSelection: why, inplace: inPlace,
            iterations: iterations, warmupIterations: options.warmup, timeUs: meanUs, timeP50Us: summary.p50, timeP99Us: summary.p99,
            algbwGbps: algbw, busbwGbps: algbw * kind.busBandwidthFactor(ranks: n), wrong: wrong,
            mismatches: mismatches.isEmpty ? nil : Array(mismatches.prefix(10)), histogram: HistogramEncoding.encode(histogram), ranks: ranks)
    }
}
