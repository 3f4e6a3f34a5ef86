import FabricMeasure
import FabricResults
import Foundation

/// A result type as spreadsheet rows (`--csv FILE`): one header, then rows, from the same
/// result model the JSON is written from.
public protocol CSVRecord {
    static var csvColumns: [String] { get }
    var csvRows: [[String]] { get }
}

public enum CSVReport {
    public static func render<R: CSVRecord>(_ results: [R]) -> String {
        ([R.csvColumns] + results.flatMap(\.csvRows)).map { $0.map(field).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    /// RFC 4180 quoting, only where needed.
    static func field(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    static func number(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "" }
}

extension PointToPointResult: CSVRecord {
    public static let csvColumns = ["bytes", "pair", "hosts", "iterations", "lat_min_us", "lat_p50_us", "lat_p90_us", "lat_p99_us",
                                    "lat_p999_us", "lat_p9999_us", "lat_max_us", "lat_mean_us", "lat_stdev_us", "lat_mad_us", "lat_cv",
                                    "bw_gbps", "msg_rate_mpps", "wrong_bytes"]

    /// The size over all pairs ("all"), then each pair.
    public var csvRows: [[String]] {
        func row(_ pair: String, _ hosts: String, _ s: LatencySummary?, _ b: BandwidthFigures?) -> [String] {
            let n = CSVReport.number
            return ["\(bytes)", pair, hosts, "\(iterations)", n(s?.min), n(s?.p50), n(s?.p90), n(s?.p99), n(s?.p999), n(s?.p9999), n(s?.max),
                    n(s?.mean), n(s?.stdev), n(s?.mad), n(s?.cv), n(b?.gbps), n(b?.messageRateMpps), wrongBytes.map(String.init) ?? ""]
        }
        return [row("all", "", oneWayUs, bandwidth)]
            + pairs.map { row($0.ranks.map(String.init).joined(separator: "-"), $0.hosts.joined(separator: " "), $0.oneWayUs, $0.bandwidth) }
    }
}

extension CollectiveResult: CSVRecord {
    public static let csvColumns = ["bytes", "count", "dtype", "op", "root", "algo", "inplace", "iterations", "time_us", "time_p50_us",
                                    "time_p99_us", "algbw_gbps", "busbw_gbps", "wrong"]

    public var csvRows: [[String]] {
        let n = CSVReport.number
        return [["\(bytes)", "\(count)", dtype, op, "\(root)", algo, "\(inplace)", "\(iterations)", n(timeUs), n(timeP50Us), n(timeP99Us),
                 n(algbwGbps), n(busbwGbps), wrong.map(String.init) ?? ""]]
    }
}

extension LinkMatrixResult: CSVRecord {
    public static let csvColumns = ["rank_a", "rank_b", "host_a", "host_b", "lat_bytes", "lat_p50_us", "lat_p999_us", "bw_bytes", "bw_gbps", "bw_gbps_reverse", "outlier"]

    /// One row per link; `bw_gbps` from rank_a to rank_b, `bw_gbps_reverse` back.
    public var csvRows: [[String]] {
        let flagged = outliers
        let n = CSVReport.number
        return links.map { l in
            ["\(l.ranks[0])", "\(l.ranks[1])", l.hosts[0], l.hosts[1], "\(latencyBytes)", n(l.oneWayUs?.p50), n(l.oneWayUs?.p999),
             "\(bandwidthBytes)", n(l.bandwidth?.gbps), n(l.reverseBandwidth?.gbps), "\(flagged.contains(l.ranks))"]
        }
    }
}
