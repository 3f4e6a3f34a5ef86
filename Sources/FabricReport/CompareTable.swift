import FabricResults
import Foundation

/// `fabricbench compare` in the terminal: one row per size and metric, then the verdicts.
public enum CompareTable {
    public static func render(_ c: ComparisonDocument) -> String {
        let name = { (path: String) in (path as NSString).lastPathComponent }
        var lines = ["# fabricbench compare: \(c.command), baseline a = \(name(c.files[0]))"]
        lines += c.warnings.map { "# warning: \($0)" }
        lines.append("# method: \(c.method)")
        let level = Int((c.confidence * 100).rounded())
        let columns: [(String, Int)] = [("#bytes", 10), ("metric", 16), ("a", 12), ("b", 12), ("b/a", 8), ("\(level)% CI of b/a", 16), ("significant", 14)]
        var file = ""
        for m in c.metrics {
            if m.bFile != file {
                file = m.bFile
                lines.append("# b = \(name(file))")
                lines.append(columns.map { LatencyTable.pad($0.0, $0.1) }.joined(separator: " "))
            }
            let label = m.name.replacingOccurrences(of: "_", with: " ") + (m.inplace == true ? " (in)" : "")
            let interval = m.ratioLow.flatMap { lo in m.ratioHigh.map { "\(RunComparison.ratio(lo))–\(RunComparison.ratio($0))" } } ?? "-"
            let verdict = m.significant ? "yes (\(m.better) better)" : m.note == nil ? "no" : "untested"
            let values = ["\(m.bytes)", label, figure(m.a), figure(m.b), RunComparison.ratio(m.ratio), interval, verdict]
            lines.append(zip(values, columns).map { LatencyTable.pad($0, $1.1) }.joined(separator: " "))
        }
        let notes = Set(c.metrics.compactMap(\.note))
        if !notes.isEmpty { lines.append("# untested: " + notes.sorted().joined(separator: "; ")) }
        lines += c.verdicts.map { "# verdict: \($0)" }
        return lines.joined(separator: "\n")
    }

    static func figure(_ v: Double) -> String { String(format: v >= 100 ? "%.1f" : "%.3f", v) }
}
