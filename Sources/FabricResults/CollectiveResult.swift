import FabricMeasure

/// One size of a collective run, out-of-place or in-place (nccl-tests prints the two side
/// by side; the JSON has one entry each).
public struct CollectiveResult: Codable, Sendable {
    /// Bytes of the full buffer (nccl-tests' "size").
    public var bytes: Int
    /// Elements per rank as nccl-tests counts them (all-gather: each rank's contribution,
    /// reduce-scatter: each rank's result).
    public var count: Int
    public var dtype: String
    public var op: String
    public var root: Int
    public var algo: String
    /// Why `algo` was used (--algo auto: the measured crossover).
    public var algoSelection: String
    public var inplace: Bool
    public var iterations: Int
    public var warmupIterations: Int
    /// Per iteration, the slowest rank's time; then the mean and percentiles over iterations.
    public var timeUs: Double
    public var timeP50Us: Double
    public var timeP99Us: Double
    public var algbwGbps: Double
    public var busbwGbps: Double
    /// Mismatching elements over all ranks; nil when the check was off (-c 0).
    public var wrong: Int?
    /// The first mismatches, for the error message.
    public var mismatches: [Mismatch]?
    /// HdrHistogram (V2 compressed, base64, nanoseconds) of the per-iteration times.
    public var histogram: String
    public var ranks: [RankTiming]

    public init(bytes: Int, count: Int, dtype: String, op: String, root: Int, algo: String, algoSelection: String, inplace: Bool,
                iterations: Int, warmupIterations: Int, timeUs: Double, timeP50Us: Double, timeP99Us: Double,
                algbwGbps: Double, busbwGbps: Double, wrong: Int?, mismatches: [Mismatch]?, histogram: String, ranks: [RankTiming]) {
        self.bytes = bytes
        self.count = count
        self.dtype = dtype
        self.op = op
        self.root = root
        self.algo = algo
        self.algoSelection = algoSelection
        self.inplace = inplace
        self.iterations = iterations
        self.warmupIterations = warmupIterations
        self.timeUs = timeUs
        self.timeP50Us = timeP50Us
        self.timeP99Us = timeP99Us
        self.algbwGbps = algbwGbps
        self.busbwGbps = busbwGbps
        self.wrong = wrong
        self.mismatches = mismatches
        self.histogram = histogram
        self.ranks = ranks
    }
}

public struct Mismatch: Codable, Sendable, Equatable {
    public var rank: Int
    public var index: Int
    public var expected: Double
    public var got: Double
    public init(rank: Int, index: Int, expected: Double, got: Double) {
        self.rank = rank
        self.index = index
        self.expected = expected
        self.got = got
    }
}

/// One rank's own view of the timed iterations.
public struct RankTiming: Codable, Sendable {
    public var rank: Int
    public var host: String
    /// The NIC it used (schema 4 on).
    public var nic: String?
    public var meanUs: Double
    public var p50Us: Double
    public var p99Us: Double
    public var maxUs: Double
    /// Median of (slowest rank's time − this rank's time) per iteration: how much later than
    /// the others this rank arrived (see StragglerReport).
    public var lateUs: Double

    public init(rank: Int, host: String, meanUs: Double, p50Us: Double, p99Us: Double, maxUs: Double, lateUs: Double) {
        self.rank = rank
        self.host = host
        self.meanUs = meanUs
        self.p50Us = p50Us
        self.p99Us = p99Us
        self.maxUs = maxUs
        self.lateUs = lateUs
    }
}

/// Which ranks held the collective up.
///
/// In a collective every rank waits for the last one to arrive, so the rank that is late
/// does not have the longest time: the others do, because they wait for it. Per iteration,
/// a rank's lateness is the slowest rank's time minus its own (the waiting it caused the
/// others); the straggler is the rank with the largest median lateness. A rank is flagged
/// when its median lateness exceeds the group's median by more than k·MAD (MAD floored at
/// 1 µs and at 2% of the median iteration time, so a quiet run flags nobody).
public struct StragglerReport: Codable, Sendable {
    public var k: Double
    public var slowestRank: Int?
    /// Median lateness of the slowest rank, in µs, and as a share of the median iteration time.
    public var slowestLateUs: Double
    public var slowestLateFraction: Double
    public var flaggedRanks: [Int]
    /// The hosts of the flagged ranks, each once: ranks sharing a host point at the host.
    public var flaggedHosts: [String]?
    public var perRankLateUs: [Double]
    public var perRankMedianUs: [Double]
    /// Iterations whose time exceeded the size's median by more than `spikeK`·MAD.
    public var spikes: [Spike]
    public var spikeK: Double
    public var summary: String

    public struct Spike: Codable, Sendable {
        public var bytes: Int
        public var inplace: Bool
        public var iteration: Int
        public var timeUs: Double
        public var medianUs: Double
        /// The rank that arrived last in that iteration.
        public var lateRank: Int
        public init(bytes: Int, inplace: Bool, iteration: Int, timeUs: Double, medianUs: Double, lateRank: Int) {
            self.bytes = bytes
            self.inplace = inplace
            self.iteration = iteration
            self.timeUs = timeUs
            self.medianUs = medianUs
            self.lateRank = lateRank
        }
    }

    public init(k: Double, slowestRank: Int?, slowestLateUs: Double, slowestLateFraction: Double, flaggedRanks: [Int],
                perRankLateUs: [Double], perRankMedianUs: [Double], spikes: [Spike], spikeK: Double, summary: String) {
        self.k = k
        self.slowestRank = slowestRank
        self.slowestLateUs = slowestLateUs
        self.slowestLateFraction = slowestLateFraction
        self.flaggedRanks = flaggedRanks
        self.perRankLateUs = perRankLateUs
        self.perRankMedianUs = perRankMedianUs
        self.spikes = spikes
        self.spikeK = spikeK
        self.summary = summary
    }
}
