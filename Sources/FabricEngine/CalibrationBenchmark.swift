import FabricCollectives
import FabricCore
import FabricMeasure
import FabricResults
import Foundation

public struct CalibrationOptions: Sendable {
    /// The latency sweep, per link class.
    public var sizes: [Int] = [8]
    public var iterations = 1000
    public var warmup = 100
    /// The bandwidth run's message size and count, per link class.
    public var bandwidthBytes = 1 << 20
    public var bandwidthIterations = 200
    public var window = 16
    /// Elements of each input the reduction kernel is timed on.
    public var reductionBytes = 4 << 20
    public init() {}
}

/// Which pairs measure which link: within a host, consecutive ranks of the host; between
/// hosts, the ranks of host 2k with those of host 2k + 1 (hosts in order of their lowest
/// rank), local rank by local rank. Every rank is in at most one pair of a class, so a
/// class's pairs all measure at once, as the ranks of a collective send at once.
public struct CalibrationPlan: Equatable, Sendable {
    public var hosts: [HostRanks]
    public var intra: [[Int]]
    public var inter: [[Int]]
    public var ranksPerHost: Int { hosts.map(\.ranks.count).max() ?? 1 }

    public init(hosts byRank: [String]) {
        var hosts: [HostRanks] = []
        for (rank, host) in byRank.enumerated() {
            if let i = hosts.firstIndex(where: { $0.host == host }) { hosts[i].ranks.append(rank) } else { hosts.append(HostRanks(host: host, ranks: [rank])) }
        }
        self.hosts = hosts
        intra = hosts.flatMap { h in stride(from: 0, to: h.ranks.count - 1, by: 2).map { [h.ranks[$0], h.ranks[$0 + 1]] } }
        inter = stride(from: 0, to: hosts.count - 1, by: 2).flatMap { k in zip(hosts[k].ranks, hosts[k + 1].ranks).map { [$0, $1] } }
    }
}

/// `fabricbench calibrate`: what the scale model needs, measured on this job. Per link class
/// (intra-host, inter-host; each where two ranks exist to measure it): a latency sweep
/// with every pair of the class pinging at once, and a bidirectional bandwidth run with every
/// paired rank sending and receiving at once (a ring or tree step's load, which a single
/// pair's ping-pong lacks); then the reduction kernel per element type, timed on every rank
/// at once.
public final class CalibrationBenchmark {
    let job: Job
    let options: CalibrationOptions
    let clock: Clock

    public init(job: Job, options: CalibrationOptions, clock: Clock) {
        self.job = job
        self.options = options
        self.clock = clock
    }

    /// On rank 0, `onLink` gets each link class as it is measured, and the profile comes
    /// back; nil on the other ranks.
    public func run(onLink: (LinkCalibration) throws -> Void) throws -> CalibrationProfile? {
        let plan = CalibrationPlan(hosts: try job.hostNames())
        guard !plan.intra.isEmpty || !plan.inter.isEmpty else {
            throw FabricError.configuration("calibrate measures links between ranks, and this job has \(job.worldSize): run it on at least 2 ranks (--np 2)")
        }
        var links: [LinkCalibration] = []
        for (level, pairs) in [("intra", plan.intra), ("inter", plan.inter)] where !pairs.isEmpty {
            let pairing = Pairing(label: level, pairs: pairs)
            var latencyOptions = LatencyOptions()
            latencyOptions.sizes = options.sizes
            latencyOptions.iterations = options.iterations
            latencyOptions.warmup = options.warmup
            latencyOptions.pairing = pairing
            var latency: [PointToPointResult] = []
            try LatencyBenchmark(job: job, options: latencyOptions, clock: clock).run { latency.append($0) }
            var bandwidthOptions = BandwidthOptions()
            bandwidthOptions.sizes = [options.bandwidthBytes]
            bandwidthOptions.iterations = options.bandwidthIterations
            bandwidthOptions.warmup = min(16, options.bandwidthIterations)
            bandwidthOptions.window = options.window
            bandwidthOptions.bidirectional = true
            bandwidthOptions.pairing = pairing
            var bandwidth: [PointToPointResult] = []
            try undelayed { try BandwidthBenchmark(job: job, options: bandwidthOptions, clock: clock).run { bandwidth.append($0) } }
            guard job.rank == 0 else { continue }
            // Bidirectional totals count both directions of every pair: one a sending rank.
            let total = bandwidth.last?.bandwidth?.gbps ?? 0
            let link = LinkCalibration(level: level, pairs: pairs, latency: latency, bandwidth: bandwidth, perRankGbps: total / Double(2 * pairs.count))
            links.append(link)
            try onLink(link)
        }
        try job.barrier("calibrate/reduction")
        let mine = DataType.allCases.map { ReductionProbe.measure($0, bytes: options.reductionBytes, clock: clock) }
        guard let all = try job.control.gather("calibrate/reduction", mine, what: "reduction kernel times") else { return nil }
        let reduction = DataType.allCases.indices.map { i in
            let usPerByte = RobustStatistics.median(all.map { $0[i] })
            return ReductionThroughput(dtype: DataType.allCases[i].rawValue, op: ReduceOp.sum.rawValue, bytes: options.reductionBytes,
                                       gbps: usPerByte > 0 ? 1 / (usPerByte * 1000) : 0, usPerByte: usPerByte)
        }
        return CalibrationProfile(hosts: plan.hosts, ranksPerHost: plan.ranksPerHost, links: links, reduction: reduction)
    }

    /// `--inject-jitter` delays the latency sweep only: the model adds a latency draw to every
    /// message and bytes·β on top, so a bandwidth figure with the delays in it would count
    /// them twice.
    private func undelayed<T>(_ body: () throws -> T) rethrows -> T {
        guard let jittered = job.transport as? JitteredTransport else { return try body() }
        return try jittered.withoutDelays(body)
    }
}

/// γ on this host: the reduction kernel's time per input byte (sum, out of place as a
/// collective's step runs it), the median of nine timed passes.
public enum ReductionProbe {
    public static func measure(_ type: DataType, bytes: Int = 4 << 20, clock: Clock) -> Double {
        let count = max(1, bytes / type.size), size = count * type.size
        let a = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64), b = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        defer { a.deallocate(); b.deallocate() }
        // Small integers: exact in every type, so no denormals or overflow slow a pass.
        memset(a, 0, size)
        memset(b, 0, size)
        let reduce = Reducer(type: type, op: .sum)
        var times: [Double] = []
        for _ in 0..<9 {
            let t0 = clock.now()
            reduce(a, a, b, count: count)
            times.append(Double(clock.nanoseconds(clock.now() &- t0)) / 1000)
        }
        return RobustStatistics.median(times) / Double(size)
    }

    /// float32 sum, as the model uses when no calibration gives γ.
    public static func microsecondsPerByte() -> Double { measure(.float32, clock: Clock.make(.monotonicRaw)) }
}
