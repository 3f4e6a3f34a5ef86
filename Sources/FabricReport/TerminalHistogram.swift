import FabricMeasure
import Foundation

/// A binned histogram drawn with bars, as sockperf's --full-log summaries are read:
/// logarithmic bins from the minimum to the maximum, so a long tail stays visible.
public enum TerminalHistogram {
    public static func render(_ h: LatencyHistogram, bins: Int = 20, width: Int = 50, scale: Double = 1) -> String {
        guard !h.isEmpty else { return "  (no samples)" }
        let buckets = h.recordedBuckets
        let lo = max(Double(buckets.first!.value), 1)
        let hi = max(Double(buckets.last!.value), lo * 1.0001)
        let ratio = pow(hi / lo, 1 / Double(bins))
        var counts = [UInt64](repeating: 0, count: bins)
        for (value, count) in buckets {
            let i = min(bins - 1, max(0, Int((log(max(Double(value), lo) / lo) / log(ratio)).rounded(.down))))
            counts[i] += count
        }
        let peak = counts.max() ?? 1
        var lines = ["  " + [("from[usec]", 12), ("to[usec]", 12), ("count", 10), ("%", 7)].map { LatencyTable.pad($0.0, $0.1) }.joined(separator: "  ")]
        for (i, count) in counts.enumerated() {
            let from = lo * pow(ratio, Double(i)) * scale / 1000, to = lo * pow(ratio, Double(i + 1)) * scale / 1000
            let share = 100 * Double(count) / Double(h.count)
            let length = count == 0 ? 0 : max(1, Int(Double(width) * Double(count) / Double(peak)))
            lines.append(String(format: "  %12.3f  %12.3f  %10llu  %6.2f%%  ", from, to, count, share) + String(repeating: "#", count: length))
        }
        return lines.joined(separator: "\n")
    }
}
