import FabricMeasure
import FabricResults
import Foundation

/// A binned histogram drawn with bars, as sockperf's --full-log summaries are read:
/// logarithmic bins from the minimum to the maximum, so a long tail stays visible.
public enum TerminalHistogram {
    public static func render(_ h: LatencyHistogram, bins: Int = 20, width: Int = 50, scale: Double = 1) -> String {
        guard !h.isEmpty else { return "  (no samples)" }
        let bins = h.logBins(bins)
        let peak = bins.map(\.count).max() ?? 1
        var lines = ["  " + [("from[usec]", 12), ("to[usec]", 12), ("count", 10), ("%", 7)].map { LatencyTable.pad($0.0, $0.1) }.joined(separator: "  ")]
        for bin in bins {
            let count = bin.count, from = bin.from * scale / 1000, to = bin.to * scale / 1000
            let share = 100 * Double(count) / Double(h.count)
            let length = count == 0 ? 0 : max(1, Int(Double(width) * Double(count) / Double(peak)))
            lines.append(String(format: "  %12.3f  %12.3f  %10llu  %6.2f%%  ", from, to, count, share) + String(repeating: "#", count: length))
        }
        return lines.joined(separator: "\n")
    }
}
