import FabricMeasure
import FabricResults
import Foundation

/// `fabricbench smoke`'s judgement and files: each check's own cases (sizes, data checks,
/// whether it finished), then the thresholds given to smoke, then the baseline comparison.
public enum SmokeReport {
    /// The thresholds a smoke run gates on; each is optional.
    public struct Thresholds: Sendable {
        /// GB/s floor for all-reduce busbw at the largest (medium) size.
        public var minBusbw: Double?
        /// Median one-way latency ceiling (us) by size; the nil key holds for every size.
        public var maxLatencyUs: [Int?: Double] = [:]
        /// Earlier runs by check name, from a smoke --json file, and that file's name.
        public var baseline: [String: AnyRunDocument]?
        public var baselineName = ""
        /// A significant regression beyond this fraction fails (0.1: 10%).
        public var maxRegression = 0.1
        public init() {}
    }

    /// One check as it ran.
    public struct CheckRun: Sendable {
        public var name: String
        public var what: String
        public var argv: [String]
        public var exitStatus: Int32
        public var seconds: Double
        /// nil when the run wrote no result file (it failed before measuring).
        public var document: AnyRunDocument?
        /// The child's error line, if it printed one.
        public var message: String?
        public init(name: String, what: String, argv: [String], exitStatus: Int32, seconds: Double, document: AnyRunDocument?, message: String?) {
            self.name = name
            self.what = what
            self.argv = argv
            self.exitStatus = exitStatus
            self.seconds = seconds
            self.document = document
            self.message = message
        }
    }

    public struct Verdict: Sendable {
        public var check: CheckRun
        public var cases: [JUnitCase]
        public var failures: [String] { cases.compactMap { c in c.failure.map { "\(c.name): \($0.split(whereSeparator: \.isNewline).joined(separator: "; "))" } } }
        public var passed: Bool { failures.isEmpty }
    }

    /// The metrics a baseline gates on: the typical figure of each kind (tails are too noisy
    /// for a short CI run, and compare leaves them untested with so few samples anyway).
    static let gatedMetrics: Set<String> = ["latency_p50_us", "bandwidth_gbps", "busbw_gbps"]

    /// What smoke's matrix does not fail on: tail latency. On a shared CI runner with 3 ranks
    /// on 2 cores a scheduler stall makes a p99.9 verdict that survives its re-test in about
    /// one run in ten; median latency and bandwidth verdicts hold. Tail verdicts stay in the
    /// report (a property of "matrix verdicts", and the JSON and Prometheus files).
    static let unjudgedMatrixMetrics: Set<String> = ["latency_p999_us"]

    /// The matrix's JUnit cases, failing only on verdicts smoke judges.
    static func matrixCases(_ document: RunDocument<LinkMatrixResult>) -> [JUnitCase] {
        var judged = document
        guard var m = judged.results.first else { return LinkMatrixResult.junitCases(document) }
        let tails = (m.diagnosis ?? []).filter { unjudgedMatrixMetrics.contains($0.metric) }
        m.verdicts.removeAll { unjudgedMatrixMetrics.contains($0.metric) }
        m.diagnosis = m.diagnosis?.filter { !unjudgedMatrixMetrics.contains($0.metric) }
        judged.results[0] = m
        var cases = LinkMatrixResult.junitCases(judged)
        if let i = cases.lastIndex(where: { $0.name == "matrix verdicts" }) {
            cases[i].properties.append(("tail_verdicts_not_judged", tails.map(\.text).joined(separator: "\n")))
        }
        return cases
    }

    public static func judge(_ run: CheckRun, _ t: Thresholds) -> Verdict {
        let classname = "fabricbench.smoke.\(run.name)"
        var cases: [JUnitCase] = []
        guard let document = run.document else {
            cases.append(JUnitCase(classname: classname, name: "\(run.name) run",
                                   failure: "exited with status \(run.exitStatus) before writing results: \(run.message ?? "no message")",
                                   properties: [("argv", run.argv.joined(separator: " "))], seconds: run.seconds))
            return Verdict(check: run, cases: cases)
        }
        var own: [JUnitCase]
        switch document {
        case .pointToPoint(let d): own = PointToPointResult.junitCases(d) + [JUnitReport.runCase(d)]
        case .collective(let d): own = CollectiveResult.junitCases(d) + [JUnitReport.runCase(d)]
        case .matrix(let d): own = matrixCases(d) + [JUnitReport.runCase(d)]
        }
        // The run case carries the exit status and the time the whole check took.
        if var last = own.popLast() {
            last.name = "\(run.name) run"
            last.seconds = run.seconds
            last.properties.append(("argv", run.argv.joined(separator: " ")))
            if run.exitStatus != 0 && last.failure == nil { last.failure = "exited with status \(run.exitStatus): \(run.message ?? "no message")" }
            own.append(last)
        }
        cases += own.map { c in var c = c; c.classname = classname; return c }

        if case .pointToPoint(let d) = document, !t.maxLatencyUs.isEmpty {
            for r in d.results {
                guard let s = r.oneWayUs, let ceiling = t.maxLatencyUs[r.bytes] ?? t.maxLatencyUs[nil] else { continue }
                cases.append(JUnitCase(classname: classname, name: "\(run.name) \(ByteCount.format(r.bytes)) --max-latency-us \(JUnitReport.figure(ceiling))",
                                       failure: s.p50 > ceiling ? String(format: "median one-way latency %.2f us is above --max-latency-us %.2f", s.p50, ceiling) : nil,
                                       properties: [("latency_p50_us", JUnitReport.figure(s.p50)), ("max_latency_us", JUnitReport.figure(ceiling))]))
            }
        }
        if case .collective(let d) = document, let floor = t.minBusbw, let largest = d.results.map(\.bytes).max() {
            let atLargest = d.results.filter { $0.bytes == largest }
            let busbw = NcclTable.averageBusBandwidth(atLargest)
            cases.append(JUnitCase(classname: classname, name: "\(run.name) \(ByteCount.format(largest)) --min-busbw \(JUnitReport.figure(floor))",
                                   failure: busbw < floor ? String(format: "bus bandwidth %.3f GB/s at %@ is below --min-busbw %.3f", busbw, ByteCount.format(largest), floor) : nil,
                                   properties: [("busbw_gbps", JUnitReport.figure(busbw)), ("min_busbw_gbps", JUnitReport.figure(floor))]))
        }
        if let baseline = t.baseline {
            cases += compare(run.name, document, baseline[run.name], t, classname: classname)
        }
        return Verdict(check: run, cases: cases)
    }

    /// compare's significance test against the baseline's run of the same check: only a
    /// difference whose confidence interval excludes no change, and that is larger than
    /// --max-regression, fails; noise within the interval never does.
    static func compare(_ name: String, _ current: AnyRunDocument, _ base: AnyRunDocument?, _ t: Thresholds, classname: String) -> [JUnitCase] {
        if case .matrix = current { return [] }  // compare judges no matrix: its verdicts are its gate
        let caseName = "\(name) vs baseline"
        guard let base else {
            return [JUnitCase(classname: classname, name: caseName, failure: "\(t.baselineName) has no \(name) check to compare with")]
        }
        var settings = RunComparison.Settings()
        settings.minEffect = t.maxRegression
        let comparison: ComparisonDocument
        do {
            comparison = try RunComparison.compare([(path: "\(t.baselineName)#\(name)", document: base), (path: name, document: current)], settings: settings)
        } catch {
            return [JUnitCase(classname: classname, name: caseName, failure: "\(error)")]
        }
        return comparison.metrics.filter { gatedMetrics.contains($0.name) }.map { m in
            let placement = m.inplace.map { $0 ? " in-place" : " out-of-place" } ?? ""
            let regressed = m.significant && m.better == "a"
            var properties: [(String, String)] = [("metric", m.name), ("baseline", JUnitReport.figure(m.a)), ("current", JUnitReport.figure(m.b)),
                                                  ("ratio", JUnitReport.figure(m.ratio)), ("significant", m.significant ? "yes" : "no")]
            if let low = m.ratioLow, let high = m.ratioHigh { properties += [("ratio_low", JUnitReport.figure(low)), ("ratio_high", JUnitReport.figure(high))] }
            if let note = m.note { properties.append(("note", note)) }
            return JUnitCase(classname: classname, name: "\(name) \(ByteCount.format(m.bytes))\(placement) \(m.name) vs baseline",
                             failure: regressed ? String(format: "%@ regressed: %.4g → %.4g (%@, interval %@–%@), beyond --max-regression %@", m.name, m.a, m.b,
                                                         RunComparison.ratio(m.ratio), m.ratioLow.map(RunComparison.ratio) ?? "?",
                                                         m.ratioHigh.map(RunComparison.ratio) ?? "?", RunComparison.percent(t.maxRegression)) : nil,
                             properties: properties)
        }
    }

    public static func junit(_ verdicts: [Verdict], properties: [(String, String)]) -> String {
        JUnitReport.render(verdicts.map { JUnitReport.Suite(name: "smoke \($0.check.name)", cases: $0.cases, properties: properties) }, name: "fabricbench smoke")
    }

    public static func prom(_ verdicts: [Verdict]) -> String {
        var samples: [PromSample] = []
        for v in verdicts {
            let check = [("check", v.check.name)]
            samples.append(PromSample("fabricbench_smoke_check_success", "1 when a smoke check passed every gate, else 0.", check, v.passed ? 1 : 0))
            samples.append(PromSample("fabricbench_smoke_check_duration_seconds", "How long a smoke check took.", check, v.check.seconds))
            switch v.check.document {
            case .pointToPoint(let d)?: samples += PrometheusReport.samples(d, extra: check)
            case .collective(let d)?: samples += PrometheusReport.samples(d, extra: check)
            case .matrix(let d)?: samples += PrometheusReport.samples(d, extra: check)
            case nil: break
            }
        }
        samples.append(PromSample("fabricbench_smoke_success", "1 when every smoke check passed.", [], verdicts.allSatisfy(\.passed) ? 1 : 0))
        return PrometheusReport.render(samples)
    }

    /// One line per check for the terminal.
    public static func line(_ v: Verdict) -> String {
        let name = v.check.name.padding(toLength: max(15, v.check.name.count), withPad: " ", startingAt: 0)
        let head = "\(v.passed ? "PASS" : "FAIL") \(name) " + String(format: "%5.1f s  ", v.check.seconds) + v.check.what
        return ([head] + v.failures.map { "     - \($0)" }).joined(separator: "\n")
    }
}
