import Foundation

/// Logarithmic bins from a histogram's minimum to its maximum, so a long tail stays
/// visible (what sockperf's summaries show); shared by the terminal and HTML renderers.
public struct HistogramBin: Sendable, Equatable {
    /// Nanoseconds.
    public let from: Double
    public let to: Double
    public let count: UInt64
}

extension LatencyHistogram {
    public func logBins(_ bins: Int = 20) -> [HistogramBin] {
        guard !isEmpty, bins > 0 else { return [] }
        let buckets = recordedBuckets
        let lo = max(Double(buckets.first!.value), 1)
        let hi = max(Double(buckets.last!.value), lo * 1.0001)
        let ratio = pow(hi / lo, 1 / Double(bins))
        var counts = [UInt64](repeating: 0, count: bins)
        for b in buckets {
            let i = min(bins - 1, max(0, Int((log(max(Double(b.value), lo) / lo) / log(ratio)).rounded(.down))))
            counts[i] += b.count
        }
        return counts.enumerated().map { i, c in HistogramBin(from: lo * pow(ratio, Double(i)), to: lo * pow(ratio, Double(i + 1)), count: c) }
    }
}
