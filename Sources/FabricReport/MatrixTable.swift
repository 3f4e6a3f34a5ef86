import FabricResults
/// `fabricbench matrix` in the terminal: one N×N grid per metric (rows and columns are
/// ranks; bandwidth rows send, columns receive), then the verdicts.
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
            ("bandwidth [GB/s], \(m.bandwidthBytes) B messages, row sends to column", m.bandwidthGbps, "%.3f"),
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
        if let hosts = m.hosts, Set(hosts).count > 1 {
            lines.append("# hosts: " + hosts.enumerated().map { "\($0.offset)=\($0.element)" }.joined(separator: " "))
        }
        lines.append("# outlier rule: a link is flagged when a figure is \(m.rule); hosts and ranks are judged against the links that do not touch them")
        if let retests = m.retests, !retests.isEmpty {
            lines.append("# flagged links and samples of each suspect's links were measured again, alone; only what held is a verdict")
        }
        let diagnosis = m.diagnosis ?? m.verdicts.map { Verdict(subject: .link, hosts: [], ranks: $0.ranks, direction: .both, metric: $0.metric,
                                                                betweenHosts: true, value: $0.value, reference: $0.median, text: $0.text) }
        if diagnosis.isEmpty {
            lines.append("# verdict: nothing wrong among \(m.links.count) links")
        } else {
            let suspects = m.suspectHosts, nics = m.suspectNICs
            lines.append("# verdict: \(diagnosis.count) finding\(diagnosis.count == 1 ? "" : "s")"
                         + (suspects.isEmpty ? "" : "; suspect host\(suspects.count == 1 ? "" : "s"): \(suspects.joined(separator: ", "))")
                         + (nics.isEmpty ? "" : "; suspect NIC\(nics.count == 1 ? "" : "s"): \(nics.joined(separator: ", "))"))
            lines += diagnosis.map { "# \($0.subject == .link ? "outlier" : "suspect"): \($0.text)" }
        }
        for v in m.transientSuspects ?? [] {
            lines.append("# transient: \(v.text); its links were fine when measured again alone")
        }
        for v in m.transient ?? [] {
            let again = m.retests?.first { $0.ranks == v.ranks.sorted() }.flatMap { link in
                LinkMetric(rawValue: v.metric).flatMap { metric in
                    metric.value(of: link, reverse: v.ranks[0] > v.ranks[1]).map { " (measured again: " + String(format: "%.3g", $0) + " \(metric.unit))" }
                }
            } ?? ""
            lines.append("# transient: \(v.text); not an outlier when measured again alone\(again)")
        }
        return lines.joined(separator: "\n")
    }
}
