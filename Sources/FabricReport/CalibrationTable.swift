import FabricMeasure
import FabricResults
import Foundation

/// `calibrate`'s output: per link class its latency sweep and the bandwidth one rank gets
/// while every paired rank sends, then the reduction kernel per element type.
public enum CalibrationTable {
    static let columns: [(String, Int)] = [("#link", 6), ("#pairs", 7), ("#bytes", 10), ("p50[usec]", 11), ("p99[usec]", 11), ("mean[usec]", 11), ("max[usec]", 11)]

    public static func header(_ document: RunDocument<CalibrationProfile>) -> String {
        TableHeader.render(document, notes: [
            "clock: \(document.environment.clockSource)",
            "per link class (intra: both ranks on one host; inter: on two hosts), its pairs all at once: one-way latency (round trip / 2), then bandwidth with every paired rank sending and receiving",
        ], columns: columns)
    }

    /// The lines of one link class.
    public static func link(_ l: LinkCalibration) -> String {
        var lines = l.latency.compactMap { r -> String? in
            guard let s = r.oneWayUs else { return nil }
            let values = [l.level, "\(l.pairs.count)", "\(r.bytes)", f(s.p50), f(s.p99), f(s.mean), f(s.max)]
            return zip(values, columns).map { LatencyTable.pad($0, $1.1) }.joined(separator: " ")
        }
        let size = l.bandwidth.last.map { ByteCount.format($0.bytes) } ?? "?"
        lines.append("# \(l.level): \(String(format: "%.3f", l.perRankGbps)) GB/s a rank with \(2 * l.pairs.count) ranks sending \(size) messages both ways at once")
        return lines.joined(separator: "\n")
    }

    /// The profile's closing lines: ranks per host and the reduction kernel.
    public static func row(_ p: CalibrationProfile) -> String {
        var lines = ["# \(p.hosts.count) host(s), at most \(p.ranksPerHost) rank(s) a host"
                     + (p.links.count < 2 ? "; only the \(p.links.first?.level ?? "no") link could be measured here" : "")]
        lines += p.reduction.map { "# reduction (\($0.op), \($0.dtype)): \(String(format: "%.2f", $0.gbps)) GB/s of input, γ = \(String(format: "%.3g", $0.usPerByte)) us/B" }
        return lines.joined(separator: "\n")
    }

    static func f(_ v: Double) -> String { String(format: "%.2f", v) }
}

extension CalibrationProfile: CSVRecord {
    public static let csvColumns = ["kind", "link", "dtype", "bytes", "pairs", "lat_p50_us", "lat_p99_us", "lat_mean_us", "gbps"]

    /// A row per link and size, a bandwidth row per link, a row per element type.
    public var csvRows: [[String]] {
        let n = CSVReport.number
        var rows: [[String]] = []
        for l in links {
            rows += l.latency.map { ["latency", l.level, "", "\($0.bytes)", "\(l.pairs.count)", n($0.oneWayUs?.p50), n($0.oneWayUs?.p99), n($0.oneWayUs?.mean), ""] }
            rows.append(["bandwidth_per_rank", l.level, "", "\(l.bandwidth.last?.bytes ?? 0)", "\(l.pairs.count)", "", "", "", n(l.perRankGbps)])
        }
        rows += reduction.map { ["reduction", "", $0.dtype, "\($0.bytes)", "", "", "", "", n($0.gbps)] }
        return rows
    }
}

extension CalibrationProfile: MonitoredResult {
    public static func junitCases(_ document: RunDocument<CalibrationProfile>) -> [JUnitCase] {
        document.results.flatMap { p in
            p.links.map { l in
                JUnitCase(classname: "fabricbench.calibrate", name: "calibrate \(l.level)",
                          properties: [("pairs", "\(l.pairs.count)"), ("bandwidth_per_rank_gbps", JUnitReport.figure(l.perRankGbps))]
                            + (l.latency.first?.oneWayUs.map { [("latency_p50_us", JUnitReport.figure($0.p50)), ("latency_p99_us", JUnitReport.figure($0.p99))] } ?? []))
            }
        }
    }

    public static func promSamples(_ document: RunDocument<CalibrationProfile>) -> [PromSample] {
        document.results.flatMap { p in
            p.links.map { PromSample("fabricbench_calibrate_bandwidth_per_rank_bytes_per_second", "Bandwidth of one rank while every paired rank of the link class sends.",
                                     [("link", $0.level)], $0.perRankGbps * 1e9) }
                + p.reduction.map { PromSample("fabricbench_calibrate_reduction_bytes_per_second", "Reduction kernel (sum) throughput, input bytes.",
                                               [("dtype", $0.dtype)], $0.gbps * 1e9) }
        }
    }
}
