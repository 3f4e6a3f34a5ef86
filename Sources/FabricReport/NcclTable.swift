import FabricMeasure
import FabricResults
import Foundation

/// nccl-tests' table: per size, out-of-place then in-place time, algbw, busbw and #wrong,
/// and its footer. Columns are kept exactly (13 fields a row) so scripts written for
/// nccl-tests output parse it; a placement that was not run shows N/A in its four fields.
public enum NcclTable {
    public static func header(_ document: RunDocument<CollectiveResult>, notes: [String]) -> String {
        let e = document.environment
        var lines = [TableHeader.render(document, notes: notes, columns: [])]
        lines.append("#")
        lines.append("# Using ranks")
        for (rank, host) in e.rankHosts.enumerated() {
            let nic = e.ranks.flatMap { rank < $0.count ? " device \($0[rank].nic)" : nil } ?? ""
            lines.append("#  Rank \(pad(String(rank), 2)) on \(host)\(nic)")
        }
        lines.append("#")
        lines.append("#                                                              out-of-place                       in-place          ")
        lines.append("#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong")
        lines.append("#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)       ")
        return lines.joined(separator: "\n")
    }

    /// The header without the table's columns (tune, which measures no sweep).
    public static func summaryHeader(_ document: RunDocument<CollectiveResult>, notes: [String]) -> String {
        TableHeader.render(document, notes: notes, columns: [])
    }

    /// One size: the out-of-place and/or in-place entries.
    public static func row(_ entries: [CollectiveResult]) -> String {
        guard let first = entries.first else { return "" }
        var line = pad(String(first.bytes), 12) + "  " + pad(String(first.count), 12) + "  " + pad(first.dtype, 8) + "  "
            + pad(first.op, 6) + "  " + pad(String(first.root), 6)
        for inplace in [false, true] {
            if let r = entries.first(where: { $0.inplace == inplace }) {
                line += "  " + pad(time(r.timeUs), 7) + "  " + pad(String(format: "%.2f", r.algbwGbps), 6) + "  "
                    + pad(String(format: "%.2f", r.busbwGbps), 6) + "  " + pad(r.wrong.map(String.init) ?? "N/A", 5)
            } else {
                line += "  " + pad("N/A", 7) + "  " + pad("N/A", 6) + "  " + pad("N/A", 6) + "  " + pad("N/A", 5)
            }
        }
        return line
    }

    public static func footer(_ results: [CollectiveResult], checked: Bool) -> String {
        let wrong = results.compactMap(\.wrong).reduce(0, +)
        let average = averageBusBandwidth(results)
        return [
            "# Out of bounds values : \(wrong) \(checked ? (wrong == 0 ? "OK" : "FAILED") : "(not checked: -c 0)")",
            "# Avg bus bandwidth    : \(String(format: "%.5g", average))",
            "#",
        ].joined(separator: "\n")
    }

    /// `--algo auto`'s choice, before the sweep: where it came from, then per size of the
    /// sweep the algorithm and why, with each candidate's median, p99 and noise where probed.
    public static func algorithmChoice(_ choice: AlgorithmChoice) -> String {
        var lines: [String] = []
        if let table = choice.table {
            lines.append("# algo auto: from tuning table \(table.path) (created \(table.created), \(age(table.ageSeconds)) old; no probe)")
        } else {
            let left = choice.unprobed.map { " (stopped at its time limit: \($0.map(ByteCount.format).joined(separator: ", ")) not probed)" } ?? ""
            lines.append("# algo auto: probed \(choice.probed.count) size(s) in \(String(format: "%.1f", choice.probeSeconds ?? 0)) s\(left)")
        }
        lines.append("# algo rule: \(choice.rule)")
        for size in choice.sizes {
            var line = "# algo " + pad(ByteCount.format(size.bytes), 9) + ": " + size.algo.padding(toLength: 5, withPad: " ", startingAt: 0)
            if let probed = choice.probed.first(where: { $0.bytes == size.bytes }), let first = probed.candidates.first {
                line += " [" + probed.candidates.map { c in
                    "\(c.algo) \(time(c.medianUs)) p99 \(time(c.p99Us)) ±\(time(c.spreadUs))"
                }.joined(separator: ", ") + " us; \(first.rounds) rounds x \(first.callsPerRound)]"
            }
            lines.append(line + " " + size.why)
        }
        return lines.joined(separator: "\n")
    }

    static func age(_ seconds: Double) -> String {
        seconds < 120 ? "\(Int(seconds)) s" : seconds < 7200 ? "\(Int(seconds / 60)) min" : seconds < 172_800 ? "\(Int(seconds / 3600)) h" : "\(Int(seconds / 86400)) days"
    }

    public static func averageBusBandwidth(_ results: [CollectiveResult]) -> Double {
        results.isEmpty ? 0 : results.map(\.busbwGbps).reduce(0, +) / Double(results.count)
    }

    static func time(_ us: Double) -> String {
        us >= 100_000 ? String(format: "%.0f", us) : us >= 10_000 ? String(format: "%.1f", us) : String(format: "%.2f", us)
    }

    static func pad(_ s: String, _ width: Int) -> String { LatencyTable.pad(s, width) }
}
