/// The figures reported for one distribution, in microseconds.
/// Percentiles and extremes come from the histogram (accurate to 0.1%); mean and standard
/// deviation too. Jitter is given two ways: MAD (median absolute deviation, robust to a
/// few spikes) and CV (stdev / mean, sensitive to them): a gap between the two means a tail.
public struct LatencySummary: Codable, Sendable, Equatable {
    public var count: UInt64
    public var min: Double
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var p999: Double
    public var p9999: Double
    public var max: Double
    public var mean: Double
    public var stdev: Double
    public var mad: Double
    public var cv: Double

    public init(_ h: LatencyHistogram, scale: Double = 1) {
        let us = scale / 1000
        let s = h.storage
        count = s.totalCount
        min = Double(h.isEmpty ? 0 : s.min) * us
        p50 = Double(s.valueAtPercentile(50)) * us
        p90 = Double(s.valueAtPercentile(90)) * us
        p99 = Double(s.valueAtPercentile(99)) * us
        p999 = Double(s.valueAtPercentile(99.9)) * us
        p9999 = Double(s.valueAtPercentile(99.99)) * us
        max = Double(s.max) * us
        mean = s.mean * us
        stdev = s.stdDeviation * us
        mad = Self.medianAbsoluteDeviation(h) * us
        cv = mean > 0 ? stdev / mean : 0
    }

    enum CodingKeys: String, CodingKey {
        case count, min, p50, p90, p99, p999, p9999, max, mean, stdev, mad, cv
    }

    /// MAD in nanoseconds: the weighted median of |x - median| over the recorded buckets.
    static func medianAbsoluteDeviation(_ h: LatencyHistogram) -> Double {
        guard !h.isEmpty else { return 0 }
        let median = Double(h.storage.valueAtPercentile(50))
        let deviations = h.recordedBuckets
            .map { (abs(Double($0.value) - median), $0.count) }
            .sorted { $0.0 < $1.0 }
        let half = (h.count + 1) / 2
        var seen: UInt64 = 0
        for (deviation, count) in deviations {
            seen += count
            if seen >= half { return deviation }
        }
        return deviations.last?.0 ?? 0
    }
}
