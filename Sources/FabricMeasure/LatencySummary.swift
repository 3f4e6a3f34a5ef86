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
        // Every figure comes from one walk over the recorded buckets. The library's mean,
        // stdDeviation and valueAtPercentile each walk the whole counts array again, through
        // unspecialized generic code: with a summary per rank and size, that was most of a
        // collective sweep's CPU (seconds per size in the Soft-RoCE VM).
        let buckets = h.recordedBuckets
        let lowest = h.storage.min  // 0 when empty
        let highest = h.storage.maxRecorded
        let total = h.count
        func nanoseconds(atPercentile p: Double) -> UInt64 {
            Self.value(atPercentile: p, buckets, total: total, lowest: lowest, highest: highest)
        }
        func percentile(_ p: Double) -> Double { Double(nanoseconds(atPercentile: p)) * us }
        let median = nanoseconds(atPercentile: 50)
        count = total
        min = Double(lowest) * us
        p50 = Double(median) * us
        p90 = percentile(90)
        p99 = percentile(99)
        p999 = percentile(99.9)
        p9999 = percentile(99.99)
        max = Double(h.storage.max) * us
        let (meanNs, stdevNs) = Self.meanAndStandardDeviation(buckets, total: total)
        mean = meanNs * us
        stdev = stdevNs * us
        mad = Self.medianAbsoluteDeviation(buckets, median: Double(median), total: total) * us
        cv = mean > 0 ? stdev / mean : 0
    }

    enum CodingKeys: String, CodingKey {
        case count, min, p50, p90, p99, p999, p9999, max, mean, stdev, mad, cv
    }

    /// HdrHistogram's percentile: the top of the first bucket holding the ceil(p% x total)-th
    /// sample, kept within [lowest, highest] recorded.
    static func value(atPercentile p: Double, _ buckets: [LatencyHistogram.RecordedBucket], total: UInt64,
                      lowest: UInt64, highest: UInt64) -> UInt64 {
        guard total > 0 else { return 0 }
        guard p < 100 else { return highest }
        // One ulp less, so that rounding up cannot step into the next bucket.
        let rank = Swift.max(1, UInt64((Swift.max(p.nextDown, 0) * Double(total) / 100).rounded(.up)))
        var seen: UInt64 = 0
        for b in buckets {
            seen += b.count
            if seen >= rank { return Swift.max(Swift.min(b.highest, highest), lowest) }
        }
        return highest
    }

    /// Mean and population standard deviation of bucket midpoints, as HdrHistogram defines them.
    static func meanAndStandardDeviation(_ buckets: [LatencyHistogram.RecordedBucket], total: UInt64) -> (Double, Double) {
        guard total > 0 else { return (0, 0) }
        var sum = 0.0
        for b in buckets { sum += Double(b.value) * Double(b.count) }
        let mean = sum / Double(total)
        var squares = 0.0
        for b in buckets {
            let deviation = Double(b.value) - mean
            squares += deviation * deviation * Double(b.count)
        }
        return (mean, (squares / Double(total)).squareRoot())
    }

    /// MAD in nanoseconds: the weighted median of |x - median| over the recorded buckets.
    static func medianAbsoluteDeviation(_ buckets: [LatencyHistogram.RecordedBucket], median: Double, total: UInt64) -> Double {
        guard total > 0 else { return 0 }
        let deviations = buckets
            .map { (abs(Double($0.value) - median), $0.count) }
            .sorted { $0.0 < $1.0 }
        let half = (total + 1) / 2
        var seen: UInt64 = 0
        for (deviation, count) in deviations {
            seen += count
            if seen >= half { return deviation }
        }
        return deviations.last?.0 ?? 0
    }
}
