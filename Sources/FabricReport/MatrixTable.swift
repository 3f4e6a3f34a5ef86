import FabricResults
/// `fabricbench matrix` in the terminal: one N×N grid per metric (rows and columns are
/// ranks), then the verdict.
public enum MatrixTable {
    public static func header(_ document: RunDocument<LinkMatrixResult>, notes: [String]) -> String {
        TableHeader.render(document, notes: notes, columns: [])
    }

    public static func render(_ m: LinkMatrixResult) -> String {
        let n = m.latencyP50Us.count
        var lines: [String] = []
        let grids: [(String, [[Double?]], String)] = [
            ("one-way latency p50 [usec], \(m.latencyBytes) B", m.latencyP50Us, "%.2f"),
            ("one-way latency p99.9 [usec], \(m.latencyBytes) B", m.latencyP999Us, "%.2f"),
            ("bandwidth [GB/s], \(m.bandwidthBytes) B messages", m.bandwidthGbps, "%.3f"),
        ]
        let width = 10
        for (title, grid, format) in grids {
            lines.append("# \(title)")
            lines.append(LatencyTable.pad("rank", 6) + (0..<n).map { LatencyTable.pad("\($0)", width) }.joined())
            for i in 0..<n {
                let cells = (0..<n).map { j in LatencyTable.pad(grid[i][j].map { String(format: format, $0) } ?? "-", width) }
                lines.append(LatencyTable.pad("\(i)", 6) + cells.joined())
            }
        }
        lines.append("# outlier rule: a link is flagged when a figure is \(m.rule)")
        if let retests = m.retests, !retests.isEmpty {
            lines.append("# flagged links were measured again, alone; only what was flagged again is an outlier")
        }
        if m.verdicts.isEmpty {
            lines.append("# verdict: no outlier among \(m.links.count) links")
        } else {
            lines.append("# verdict: \(m.outliers.count) outlier link\(m.outliers.count == 1 ? "" : "s") among \(m.links.count)")
            lines += m.verdicts.map { "# outlier: \($0.text)" }
        }
        for v in m.transient ?? [] {
            let again = m.retests?.first { $0.ranks == v.ranks }.flatMap { link in
                LinkMetric(rawValue: v.metric).flatMap { metric in
                    metric.value(of: link).map { " (measured again: " + String(format: "%.3g", $0) + " \(metric.unit))" }
                }
            } ?? ""
            lines.append("# transient: \(v.text); not an outlier when measured again alone\(again)")
        }
        return lines.joined(separator: "\n")
    }
}
