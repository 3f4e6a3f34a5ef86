import FabricMeasure
import FabricResults
import Foundation

/// perftest's latency table (ib_write_lat's columns), extended with the deep tail and jitter.
/// All times are one-way latency in microseconds (round trip / 2).
public enum LatencyTable {
    static let columns: [(String, Int)] = [
        ("#bytes", 10), ("#iterations", 12), ("t_min[usec]", 12), ("t_max[usec]", 12), ("t_typical[usec]", 16),
        ("t_avg[usec]", 12), ("t_stdev[usec]", 14), ("99% percentile[usec]", 21), ("99.9% percentile[usec]", 23),
        ("99.99%[usec]", 13), ("MAD[usec]", 10), ("CV", 7),
    ]

    public static func header(_ document: RunDocument<PointToPointResult>) -> String {
        TableHeader.render(document, notes: [
            "clock: \(document.environment.clockSource)",
            "one-way latency = round-trip time / 2; t_typical = median; MAD = median absolute deviation; CV = stdev / mean",
        ], columns: columns)
    }

    public static func row(_ r: PointToPointResult) -> String {
        guard let s = r.oneWayUs else { return "" }
        let values: [String] = [
            "\(r.bytes)", "\(r.iterations)", f(s.min), f(s.max), f(s.p50), f(s.mean), f(s.stdev), f(s.p99), f(s.p999),
            f(s.p9999), f(s.mad), String(format: "%.3f", s.cv),
        ]
        return zip(values, columns).map { pad($0, $1.1) }.joined(separator: " ")
    }

    static func f(_ v: Double) -> String { String(format: "%.2f", v) }
    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }

}

/// The lines above every table: what ran, over which transport and why, then the
/// command's own notes and the column titles.
enum TableHeader {
    static func render<R>(_ document: RunDocument<R>, notes: [String], columns: [(String, Int)]) -> String {
        let e = document.environment
        // Granted buffer sizes are known only after connecting; the JSON has them.
        let settings = e.transport.settings.filter { $0.key != "socket_buffer_granted_bytes" }
            .sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        var lines = [
            "# fabricbench \(document.command): \(e.worldSize) ranks over \(e.transport.kind) (\(settings))",
            "# transport: \(e.transport.selection)",
        ]
        // Ranks on different NICs (a list or auto): the settings above are rank 0's.
        if let ranks = e.ranks, Set(ranks.map(\.nic)).count > 1 {
            let shown = ranks.prefix(16).map { "\($0.rank) \($0.host) \($0.nic)" }.joined(separator: ", ")
            lines.append("# NICs (rank host NIC): \(shown)\(ranks.count > 16 ? ", ... (every rank in the JSON's environment.ranks)" : ""); the settings above are rank 0's")
        }
        lines += notes.map { "# \($0)" }
        if !columns.isEmpty {
            lines.append("-" + String(repeating: "-", count: columns.map(\.1).reduce(0, +) + columns.count))
            lines.append(columns.map { LatencyTable.pad($0.0, $0.1) }.joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }
}

/// perftest's bandwidth table: average GB/s (1e9 B/s) and message rate, with the spread
/// between the slowest and fastest window.
public enum BandwidthTable {
    static let columns: [(String, Int)] = [
        ("#bytes", 10), ("#iterations", 12), ("BW average[GB/s]", 17), ("MsgRate[Mpps]", 14),
        ("BW min window[GB/s]", 20), ("BW p50 window[GB/s]", 20), ("BW max window[GB/s]", 20),
    ]

    public static func header(_ document: RunDocument<PointToPointResult>, bidirectional: Bool, window: Int) -> String {
        TableHeader.render(document, notes: [
            "\(bidirectional ? "bidirectional (both directions summed)" : "unidirectional"), window \(window) messages in flight; GB/s = 1e9 bytes/s",
        ], columns: columns)
    }

    public static func row(_ r: PointToPointResult) -> String {
        guard let b = r.bandwidth else { return "" }
        let g = { (v: Double) in String(format: "%.3f", v) }
        let values = ["\(r.bytes)", "\(r.iterations)", g(b.gbps), String(format: "%.6f", b.messageRateMpps),
                      b.windowGbps.map { g($0.min) } ?? "-", b.windowGbps.map { g($0.p50) } ?? "-", b.windowGbps.map { g($0.max) } ?? "-"]
        return zip(values, columns).map { LatencyTable.pad($0, $1.1) }.joined(separator: " ")
    }
}
