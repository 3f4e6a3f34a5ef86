import FabricMeasure
import FabricResults
import Foundation

/// One JUnit test case: a size, a gate or a check of a run. CI servers (Jenkins, GitLab,
/// GitHub) show each as a test, its failure message, and its properties as the figures.
public struct JUnitCase: Sendable {
    public var classname: String
    public var name: String
    /// nil: passed.
    public var failure: String?
    public var properties: [(String, String)]
    public var seconds: Double

    public init(classname: String, name: String, failure: String? = nil, properties: [(String, String)] = [], seconds: Double = 0) {
        self.classname = classname
        self.name = name
        self.failure = failure
        self.properties = properties
        self.seconds = seconds
    }
}

/// What a result type contributes to the CI and monitoring files (JUnit, Prometheus), so
/// ReportSink writes them for every measuring command without knowing the command.
public protocol MonitoredResult: Codable & Sendable {
    static func junitCases(_ document: RunDocument<Self>) -> [JUnitCase]
    static func promSamples(_ document: RunDocument<Self>) -> [PromSample]
}

/// JUnit XML as Jenkins, GitLab and the junit-xml schema read it: one <testsuites> of
/// <testsuite>s, each <testcase> with <properties> and at most one <failure>.
public enum JUnitReport {
    public struct Suite: Sendable {
        public var name: String
        public var cases: [JUnitCase]
        public var properties: [(String, String)]
        public init(name: String, cases: [JUnitCase], properties: [(String, String)] = []) {
            self.name = name
            self.cases = cases
            self.properties = properties
        }
    }

    public static func render(_ suites: [Suite], name: String) -> String {
        let failures = suites.reduce(0) { $0 + $1.cases.filter { $0.failure != nil }.count }
        let tests = suites.reduce(0) { $0 + $1.cases.count }
        let time = suites.reduce(0.0) { $0 + $1.cases.reduce(0) { $0 + $1.seconds } }
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"\(xml(name))\" tests=\"\(tests)\" failures=\"\(failures)\" errors=\"0\" time=\"\(seconds(time))\">\n"
        let stamp = ISO8601DateFormatter().string(from: Date())
        let host = xml(ProcessInfo.processInfo.hostName)
        for (id, suite) in suites.enumerated() {
            let suiteFailures = suite.cases.filter { $0.failure != nil }.count
            let suiteTime = suite.cases.reduce(0) { $0 + $1.seconds }
            out += "  <testsuite name=\"\(xml(suite.name))\" id=\"\(id)\" tests=\"\(suite.cases.count)\" failures=\"\(suiteFailures)\" errors=\"0\" skipped=\"0\" "
                + "time=\"\(seconds(suiteTime))\" timestamp=\"\(stamp)\" hostname=\"\(host)\">\n"
            out += properties(suite.properties, indent: "    ")
            for c in suite.cases {
                out += "    <testcase classname=\"\(xml(c.classname))\" name=\"\(xml(c.name))\" time=\"\(seconds(c.seconds))\">\n"
                out += properties(c.properties, indent: "      ")
                if let failure = c.failure {
                    let firstLine = failure.split(whereSeparator: \.isNewline).first.map(String.init) ?? failure
                    out += "      <failure message=\"\(xml(firstLine))\" type=\"fabricbench\">\(xml(failure))</failure>\n"
                }
                out += "    </testcase>\n"
            }
            out += "  </testsuite>\n"
        }
        return out + "</testsuites>\n"
    }

    /// The cases every run has besides its own: whether it finished.
    public static func runCase<R>(_ document: RunDocument<R>) -> JUnitCase {
        let failure: String? = switch document.status {
        case .complete: nil
        case .running: "the run has not finished (or was killed before it could say why)"
        case .failed, .interrupted: "\(document.status.rawValue): \(document.error ?? "no reason recorded")"
        }
        return JUnitCase(classname: "fabricbench.\(document.command)", name: "\(document.command) run", failure: failure,
                         properties: [("status", document.status.rawValue), ("transport", document.environment.transport.kind),
                                      ("world_size", "\(document.environment.worldSize)")])
    }

    public static func render<R: MonitoredResult>(_ document: RunDocument<R>) -> String {
        render([suite(document)], name: "fabricbench \(document.command)")
    }

    public static func suite<R: MonitoredResult>(_ document: RunDocument<R>, name: String? = nil) -> Suite {
        let e = document.environment
        return Suite(name: name ?? "fabricbench \(document.command)", cases: R.junitCases(document) + [runCase(document)],
                     properties: [("fabricbench_version", e.fabricbenchVersion), ("fabricbench_commit", e.fabricbenchCommit ?? "unknown"),
                                  ("host", e.hostname), ("transport", e.transport.kind), ("argv", document.argv.joined(separator: " "))])
    }

    private static func properties(_ list: [(String, String)], indent: String) -> String {
        guard !list.isEmpty else { return "" }
        var out = "\(indent)<properties>\n"
        for (name, value) in list { out += "\(indent)  <property name=\"\(xml(name))\" value=\"\(xml(value))\"/>\n" }
        return out + "\(indent)</properties>\n"
    }

    static func seconds(_ s: Double) -> String { String(format: "%.3f", s.isFinite ? max(s, 0) : 0) }

    /// Escaped for an attribute or text; characters XML 1.0 cannot hold at all (most
    /// control characters) become U+FFFD, so a hostile host name never breaks the file.
    static func xml(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n": out += "&#10;"
            case "\t": out += "&#9;"
            default:
                let v = scalar.value
                if v < 0x20 || (0xD800...0xDFFF).contains(v) || v == 0xFFFE || v == 0xFFFF {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    static func figure(_ v: Double) -> String { String(format: "%.6g", v) }
}

// MARK: each result type's cases

extension PointToPointResult: MonitoredResult {
    public static func junitCases(_ document: RunDocument<PointToPointResult>) -> [JUnitCase] {
        document.results.map { r in
            var properties: [(String, String)] = [("bytes", "\(r.bytes)"), ("iterations", "\(r.iterations)")]
            if let s = r.oneWayUs {
                properties += [("latency_p50_us", JUnitReport.figure(s.p50)), ("latency_p99_us", JUnitReport.figure(s.p99)),
                               ("latency_p999_us", JUnitReport.figure(s.p999)), ("latency_max_us", JUnitReport.figure(s.max)),
                               ("jitter_mad_us", JUnitReport.figure(s.mad))]
            }
            if let b = r.bandwidth {
                properties += [("bandwidth_gbps", JUnitReport.figure(b.gbps)), ("message_rate_mpps", JUnitReport.figure(b.messageRateMpps))]
            }
            let failure = (r.wrongBytes ?? 0) > 0 ? "\(r.wrongBytes!) received bytes differed from those sent" : nil
            let seconds = r.bandwidth?.seconds ?? r.oneWayUs.map { $0.mean * 2 * Double(r.iterations) / 1e6 } ?? 0
            return JUnitCase(classname: "fabricbench.\(document.command)", name: "\(document.command) \(ByteCount.format(r.bytes))",
                             failure: failure, properties: properties, seconds: seconds)
        }
    }
}

extension CollectiveResult: MonitoredResult {
    public static func junitCases(_ document: RunDocument<CollectiveResult>) -> [JUnitCase] {
        let command = document.command, classname = "fabricbench.\(document.command)"
        var cases = document.results.map { r in
            let failure = (r.wrong ?? 0) > 0
                ? "\(r.wrong!) wrong element(s)" + ((r.mismatches ?? []).first.map { "; first: rank \($0.rank) [\($0.index)] expected \($0.expected), got \($0.got)" } ?? "")
                : nil
            return JUnitCase(classname: classname, name: "\(command) \(ByteCount.format(r.bytes)) \(r.inplace ? "in-place" : "out-of-place")",
                             failure: failure,
                             properties: [("bytes", "\(r.bytes)"), ("algorithm", r.algo), ("time_us", JUnitReport.figure(r.timeUs)),
                                          ("time_p50_us", JUnitReport.figure(r.timeP50Us)), ("algbw_gbps", JUnitReport.figure(r.algbwGbps)),
                                          ("busbw_gbps", JUnitReport.figure(r.busbwGbps)), ("checked", r.wrong == nil ? "no" : "yes")],
                             seconds: r.timeUs * Double(r.iterations) / 1e6)
        }
        // The CI gates the command enforces, as cases of their own (same rule as its exit code).
        if let floor = document.arguments["min_busbw"].flatMap(Double.init), !document.results.isEmpty {
            let average = NcclTable.averageBusBandwidth(document.results)
            cases.append(JUnitCase(classname: classname, name: "\(command) --min-busbw \(JUnitReport.figure(floor))",
                                   failure: average < floor ? String(format: "average bus bandwidth %.3f GB/s is below --min-busbw %.3f", average, floor) : nil,
                                   properties: [("busbw_avg_gbps", JUnitReport.figure(average)), ("min_busbw_gbps", JUnitReport.figure(floor))]))
        }
        if let ceiling = document.arguments["max_time_us"].flatMap(Double.init), let worst = document.results.max(by: { $0.timeUs < $1.timeUs }) {
            cases.append(JUnitCase(classname: classname, name: "\(command) --max-time-us \(JUnitReport.figure(ceiling))",
                                   failure: worst.timeUs > ceiling ? String(format: "%d B took %.2f us, above --max-time-us %.2f", worst.bytes, worst.timeUs, ceiling) : nil,
                                   properties: [("time_max_us", JUnitReport.figure(worst.timeUs)), ("max_time_us", JUnitReport.figure(ceiling))]))
        }
        return cases
    }
}

extension LinkMatrixResult: MonitoredResult {
    public static func junitCases(_ document: RunDocument<LinkMatrixResult>) -> [JUnitCase] {
        guard let m = document.results.first else { return [] }
        let classname = "fabricbench.matrix"
        var cases = m.links.map { link in
            let flagged = m.verdicts.filter { Set($0.ranks) == Set(link.ranks) }
            var properties: [(String, String)] = [("hosts", link.hosts.joined(separator: " "))]
            if let s = link.oneWayUs { properties += [("latency_p50_us", JUnitReport.figure(s.p50)), ("latency_p999_us", JUnitReport.figure(s.p999))] }
            if let b = link.bandwidth { properties.append(("bandwidth_gbps_\(link.ranks[0])_to_\(link.ranks[1])", JUnitReport.figure(b.gbps))) }
            if let b = link.reverseBandwidth { properties.append(("bandwidth_gbps_\(link.ranks[1])_to_\(link.ranks[0])", JUnitReport.figure(b.gbps))) }
            return JUnitCase(classname: classname, name: "link \(link.ranks[0])-\(link.ranks[1])",
                             failure: flagged.isEmpty ? nil : "flagged (confirmed by its re-test): " + flagged.map(\.metric).joined(separator: ", "),
                             properties: properties)
        }
        let verdicts = m.diagnosis ?? []
        cases.append(JUnitCase(classname: classname, name: "matrix verdicts",
                               failure: verdicts.isEmpty ? nil : verdicts.map(\.text).joined(separator: "\n"),
                               properties: [("verdicts", "\(verdicts.count)"), ("suspect_hosts", m.suspectHosts.joined(separator: " ")),
                                            ("suspect_ranks", m.suspectRanks.map(String.init).joined(separator: " "))]))
        return cases
    }
}
