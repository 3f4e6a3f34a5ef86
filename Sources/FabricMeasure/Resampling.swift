/// A distribution as distinct values with counts (a histogram's recorded buckets), and the
/// statistics the comparisons need, computed without expanding it into samples.
public struct WeightedSample: Sendable {
    /// Ascending.
    public let values: [Double]
    public var counts: [Int]

    public init(values: [Double], counts: [Int]) {
        self.values = values
        self.counts = counts
    }

    public init(_ h: LatencyHistogram) {
        let buckets = h.recordedBuckets
        values = buckets.map { Double($0.value) }
        counts = buckets.map { Int($0.count) }
    }

    public var total: Int { counts.reduce(0, +) }

    /// The value at percentile p (0...100): the smallest value with at least p% of the
    /// samples at or below it.
    public func percentile(_ p: Double) -> Double {
        let n = total
        guard n > 0 else { return 0 }
        let rank = max(1, Int((p / 100 * Double(n)).rounded(.up)))
        var seen = 0
        for (v, c) in zip(values, counts) {
            seen += c
            if seen >= rank { return v }
        }
        return values.last ?? 0
    }

    public var mean: Double {
        let n = total
        return n == 0 ? 0 : zip(values, counts).reduce(0) { $0 + $1.0 * Double($1.1) } / Double(n)
    }

    /// Median absolute deviation from the median.
    public var mad: Double {
        let m = percentile(50)
        let deviations = zip(values, counts).map { (abs($0.0 - m), $0.1) }.sorted { $0.0 < $1.0 }
        return WeightedSample(values: deviations.map(\.0), counts: deviations.map(\.1)).percentile(50)
    }
}

/// Percentile-bootstrap confidence intervals for the ratio of a statistic between two
/// distributions (candidate / baseline): both are resampled with replacement, the statistic
/// recomputed, and the interval read from the spread of the resampled ratios. Free of any
/// assumption about the shape of the distributions, which for latency is anything but
/// normal. A seeded generator makes every report reproducible.
public struct RatioBootstrap: Sendable {
    public var resamples: Int
    /// Draws per resample at most; a longer run is resampled at this size, which widens its
    /// interval a little (conservative) and bounds the cost.
    public var maximumDraws: Int
    public var confidence: Double

    public init(resamples: Int = 400, maximumDraws: Int = 50_000, confidence: Double = 0.95) {
        self.resamples = resamples
        self.maximumDraws = maximumDraws
        self.confidence = confidence
    }

    public struct Interval: Sendable, Equatable {
        public let low: Double
        public let high: Double
        public func contains(_ v: Double) -> Bool { low <= v && v <= high }
    }

    /// One interval per statistic, all from the same resamples.
    public func intervals(baseline a: WeightedSample, candidate b: WeightedSample,
                          statistics: [(WeightedSample) -> Double], seed: UInt64 = 0x5EED) -> [Interval?] {
        guard a.total > 0, b.total > 0 else { return statistics.map { _ in nil } }
        var rng = SplitMix64(seed: seed)
        var ratios = [[Double]](repeating: [], count: statistics.count)
        for _ in 0..<resamples {
            let ra = resample(a, &rng), rb = resample(b, &rng)
            for (i, statistic) in statistics.enumerated() {
                let sa = statistic(ra), sb = statistic(rb)
                if sa > 0 { ratios[i].append(sb / sa) }
            }
        }
        let tail = (1 - confidence) / 2 * 100
        return ratios.map { r in
            guard r.count >= resamples / 2 else { return nil }
            let sample = WeightedSample(values: r.sorted(), counts: [Int](repeating: 1, count: r.count))
            return Interval(low: sample.percentile(tail), high: sample.percentile(100 - tail))
        }
    }

    private func resample(_ s: WeightedSample, _ rng: inout SplitMix64) -> WeightedSample {
        let n = s.total
        var cumulative: [Int] = []
        cumulative.reserveCapacity(s.counts.count)
        var running = 0
        for c in s.counts { running += c; cumulative.append(running) }
        var counts = [Int](repeating: 0, count: s.counts.count)
        for _ in 0..<min(n, maximumDraws) {
            let r = Int(rng.next() % UInt64(n))
            // First bucket whose cumulative count exceeds r.
            var lo = 0, hi = cumulative.count - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if cumulative[mid] > r { hi = mid } else { lo = mid + 1 }
            }
            counts[lo] += 1
        }
        return WeightedSample(values: s.values, counts: counts)
    }
}

/// A small, fast, seedable generator (Steele, Lea and Flood's SplitMix64).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
