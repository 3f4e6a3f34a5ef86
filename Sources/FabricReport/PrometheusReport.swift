import FabricMeasure
import FabricResults
import Foundation

/// One gauge sample. Figures are in base units (seconds, bytes per second), as Prometheus
/// naming asks, so dashboards never guess a scale.
public struct PromSample: Sendable {
    public var name: String
    public var help: String
    public var labels: [(String, String)]
    public var value: Double
    /// "gauge", or "summary" for a latency distribution (its quantiles, `_sum` and `_count`).
    public var type: String
    /// "", "_sum" or "_count": a summary's parts share its family's HELP and TYPE.
    public var suffix: String

    public init(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Double, type: String = "gauge", suffix: String = "") {
        self.name = name
        self.help = help
        self.labels = labels
        self.value = value
        self.type = type
        self.suffix = suffix
    }

    /// A latency distribution as a Prometheus summary: quantiles, then sum and count.
    static func summary(_ name: String, _ help: String, _ labels: [(String, String)], _ s: LatencySummary) -> [PromSample] {
        let quantiles = [("0.5", s.p50), ("0.9", s.p90), ("0.99", s.p99), ("0.999", s.p999), ("1", s.max)]
        return quantiles.map { PromSample(name, help, labels + [("quantile", $0.0)], $0.1 / 1e6, type: "summary") } + [
            PromSample(name, help, labels, s.mean * Double(s.count) / 1e6, type: "summary", suffix: "_sum"),
            PromSample(name, help, labels, Double(s.count), type: "summary", suffix: "_count"),
        ]
    }
}

/// The text exposition format that node_exporter's textfile collector reads: each family
/// once with HELP and TYPE, then its samples. Written atomically (a temporary file renamed
/// over), so the collector never scrapes half a file.
public enum PrometheusReport {
    public static func render(_ samples: [PromSample]) -> String {
        var order: [String] = []
        var families: [String: [PromSample]] = [:]
        for s in samples {
            if families[s.name] == nil { order.append(s.name) }
            families[s.name, default: []].append(s)
        }
        var out = ""
        var seen = Set<String>()
        for name in order {
            let family = families[name]!
            out += "# HELP \(name) \(escapeHelp(family[0].help))\n# TYPE \(name) \(family[0].type)\n"
            for s in family {
                let labels = s.labels.map { "\($0.0)=\"\(escapeLabel($0.1))\"" }.joined(separator: ",")
                let line = labels.isEmpty ? name + s.suffix : "\(name)\(s.suffix){\(labels)}"
                // A series twice is invalid exposition: keep the first.
                guard seen.insert(line).inserted else { continue }
                out += "\(line) \(number(s.value))\n"
            }
        }
        return out
    }

    /// The samples of one run: its own figures, then what every run says about itself.
    /// `extra` labels go on every sample (smoke's check name keeps its runs apart).
    public static func samples<R: MonitoredResult>(_ document: RunDocument<R>, extra: [(String, String)] = []) -> [PromSample] {
        let e = document.environment
        let run: [(String, String)] = [("command", document.command), ("host", e.hostname), ("transport", e.transport.kind)]
        let own = R.promSamples(document) + [
            PromSample("fabricbench_run_info", "The fabricbench build and transport of the last run (always 1).",
                       run + [("version", e.fabricbenchVersion), ("commit", e.fabricbenchCommit ?? "unknown"), ("status", document.status.rawValue)], 1),
            PromSample("fabricbench_run_success", "1 when the last run completed, 0 when it failed, was interrupted or is still running.",
                       run, document.status == .complete ? 1 : 0),
            PromSample("fabricbench_run_timestamp_seconds", "When this file was written (Unix time).", run, Date().timeIntervalSince1970),
        ]
        return own.map { s in var s = s; s.labels = extra + s.labels; return s }
    }

    public static func render<R: MonitoredResult>(_ document: RunDocument<R>) -> String { render(samples(document)) }

    static func number(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
        return String(format: "%.9g", v)
    }

    static func escapeLabel(_ text: String) -> String {
        var out = ""
        for c in text.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func escapeHelp(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

}

// MARK: each result type's samples

extension PointToPointResult {
    public static func promSamples(_ document: RunDocument<PointToPointResult>) -> [PromSample] {
        let transport = document.environment.transport.kind
        var out: [PromSample] = []
        for r in document.results {
            for pair in r.pairs where pair.ranks.count == 2 && pair.hosts.count == 2 {
                let labels = [("host", pair.hosts[0]), ("peer", pair.hosts[1]), ("ranks", "\(pair.ranks[0])-\(pair.ranks[1])"),
                              ("transport", transport), ("size", "\(r.bytes)")]
                if let s = pair.oneWayUs {
                    out += PromSample.summary("fabricbench_latency_one_way_seconds", "One-way latency (round trip / 2) of a rank pair.", labels, s)
                    out.append(PromSample("fabricbench_latency_jitter_mad_seconds", "Median absolute deviation of the one-way latency.", labels, s.mad / 1e6))
                }
                if let b = pair.bandwidth {
                    out.append(PromSample("fabricbench_bandwidth_bytes_per_second", "Streaming bandwidth of a rank pair (both directions summed when bidirectional).",
                                          labels + [("bidirectional", b.bidirectional ? "true" : "false")], b.gbps * 1e9))
                }
            }
        }
        return out
    }
}

extension CollectiveResult {
    public static func promSamples(_ document: RunDocument<CollectiveResult>) -> [PromSample] {
        let host = document.environment.hostname, transport = document.environment.transport.kind
        var out: [PromSample] = []
        for r in document.results {
            let labels = [("collective", document.command), ("host", host), ("transport", transport), ("size", "\(r.bytes)"),
                          ("algorithm", r.algo), ("placement", r.inplace ? "in-place" : "out-of-place")]
            out.append(PromSample("fabricbench_collective_busbw_bytes_per_second", "Bus bandwidth of a collective (nccl-tests' busbw).", labels, r.busbwGbps * 1e9))
            out.append(PromSample("fabricbench_collective_time_seconds", "Mean time per iteration of a collective (the slowest rank's).", labels, r.timeUs / 1e6))
            if let wrong = r.wrong {
                out.append(PromSample("fabricbench_collective_wrong_elements", "Elements whose result was wrong (the exact check).", labels, Double(wrong)))
            }
        }
        return out
    }
}

extension LinkMatrixResult {
    public static func promSamples(_ document: RunDocument<LinkMatrixResult>) -> [PromSample] {
        guard let m = document.results.first else { return [] }
        let transport = document.environment.transport.kind
        var out: [PromSample] = []
        for link in m.links where link.ranks.count == 2 && link.hosts.count == 2 {
            func labels(_ from: Int, _ to: Int, size: Int) -> [(String, String)] {
                [("host", link.hosts[from]), ("peer", link.hosts[to]), ("rank", "\(link.ranks[from])"), ("peer_rank", "\(link.ranks[to])"),
                 ("transport", transport), ("size", "\(size)")]
            }
            if let s = link.oneWayUs {
                out += PromSample.summary("fabricbench_matrix_latency_one_way_seconds", "One-way latency of a link of the all-pairs matrix.",
                                          labels(0, 1, size: m.latencyBytes), s)
            }
            // Row = sender: `host` sends to `peer`.
            if let b = link.bandwidth {
                out.append(PromSample("fabricbench_matrix_bandwidth_bytes_per_second", "Bandwidth of a link of the all-pairs matrix, from host (rank) to peer (peer_rank).",
                                      labels(0, 1, size: m.bandwidthBytes), b.gbps * 1e9))
            }
            if let b = link.reverseBandwidth {
                out.append(PromSample("fabricbench_matrix_bandwidth_bytes_per_second", "", labels(1, 0, size: m.bandwidthBytes), b.gbps * 1e9))
            }
        }
        let verdicts = m.diagnosis ?? []
        out.append(PromSample("fabricbench_matrix_verdicts", "Confirmed verdicts of the last matrix run (0: the fabric looks healthy).", [], Double(verdicts.count)))
        let hosts = m.hosts ?? []
        for h in m.suspectHosts {
            out.append(PromSample("fabricbench_matrix_suspect_host", "A host that a confirmed verdict names (1).", [("host", h)], 1))
        }
        for r in m.suspectRanks {
            out.append(PromSample("fabricbench_matrix_suspect_rank", "A rank that a confirmed verdict implicates (1).",
                                  [("rank", "\(r)"), ("host", r < hosts.count ? hosts[r] : "")], 1))
        }
        for (i, v) in verdicts.enumerated() {
            out.append(PromSample("fabricbench_matrix_verdict_ratio", "How many times worse the suspect is than the reference links, per verdict.",
                                  [("verdict", "\(i)"), ("subject", v.subject.rawValue), ("hosts", v.hosts.joined(separator: ",")),
                                   ("ranks", v.ranks.map(String.init).joined(separator: ",")), ("metric", v.metric),
                                   ("direction", v.direction.rawValue), ("transport", transport)], v.ratio))
        }
        return out
    }
}
