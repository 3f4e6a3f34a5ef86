import FabricMeasure
import Foundation

/// `fabricbench compare`: the same command run twice (two NICs, two fabrics, two settings),
/// side by side per size, each difference with a confidence interval and a verdict.
public struct ComparisonDocument: Codable, Sendable {
    public var schemaVersion = currentSchemaVersion
    public var command: String
    /// The baseline first; every other file is compared with it.
    public var files: [String]
    /// How significance is decided, in words.
    public var method: String
    public var minEffect: Double
    public var confidence: Double
    public var metrics: [ComparedMetric]
    /// One line per metric and compared file.
    public var verdicts: [String]
    /// Environment or argument differences that may explain a difference.
    public var warnings: [String]
}

public struct ComparedMetric: Codable, Sendable {
    /// e.g. "latency_p50_us", "bandwidth_gbps", "busbw_gbps".
    public var name: String
    public var bytes: Int
    /// Collectives: out-of-place (false) or in-place (true).
    public var inplace: Bool?
    public var a: Double
    public var b: Double
    /// b / a.
    public var ratio: Double
    /// Confidence interval of the ratio; nil when a run recorded no samples for it.
    public var ratioLow: Double?
    public var ratioHigh: Double?
    public var significant: Bool
    /// Why there is no interval, when there is none.
    public var note: String?
    /// "a", "b", or "neither" (not significant).
    public var better: String
    public var aFile: String
    public var bFile: String
}

extension ComparedMetric {
    /// As synthesized, except that a figure JSON cannot hold (the ratio against a baseline of 0
    /// is infinite) is written as null, "n/a", instead of failing the whole file.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        func number(_ v: Double?, _ key: CodingKeys) throws {
            if let v, v.isFinite { try c.encode(v, forKey: key) } else if v != nil { try c.encodeNil(forKey: key) }
        }
        try c.encode(name, forKey: .name)
        try c.encode(bytes, forKey: .bytes)
        try c.encodeIfPresent(inplace, forKey: .inplace)
        try number(a, .a)
        try number(b, .b)
        try number(ratio, .ratio)
        try number(ratioLow, .ratioLow)
        try number(ratioHigh, .ratioHigh)
        try c.encode(significant, forKey: .significant)
        try c.encodeIfPresent(note, forKey: .note)
        try c.encode(better, forKey: .better)
        try c.encode(aFile, forKey: .aFile)
        try c.encode(bFile, forKey: .bFile)
    }
}

public enum RunComparison {
    public struct Settings: Sendable {
        /// The smallest relative difference that counts (0.05: 5%), whatever the interval:
        /// below it, run-to-run noise of a shared machine dominates.
        public var minEffect = 0.05
        public var bootstrap = RatioBootstrap()
        public init() {}
    }

    /// One figure of one size of one run, with the samples it was computed from.
    struct Point {
        var name: String
        var label: String
        var bytes: Int
        var inplace: Bool?
        var value: Double
        var higherIsBetter: Bool
        var sample: WeightedSample?
        /// Points sharing samples (one size's latency histogram, say) are resampled together.
        var samples: String
        var statistic: (WeightedSample) -> Double
        /// A difference smaller than this (absolute, in the metric's unit) never counts: for
        /// jitter, a fraction of the typical latency, since a MAD of 0.1 µs against 0.13 µs is
        /// a large ratio of nothing.
        var floor: Double = 0
        /// Samples each run needs for an interval: a percentile's bootstrap is only sound with
        /// at least 10 samples beyond it (1,000 for p99, 10,000 for p99.9).
        var minimumSamples = 20

        var key: String { "\(name)/\(bytes)/\(inplace.map { $0 ? "in" : "out" } ?? "")" }
    }

    public static func compare(_ runs: [(path: String, document: AnyRunDocument)], settings: Settings = .init()) throws -> ComparisonDocument {
        guard runs.count >= 2 else { throw ReportError("compare needs at least two result files (the first is the baseline)") }
        let (basePath, base) = runs[0]
        try checkComparable(runs)
        let baseline = try points(base, path: basePath)
        var metrics: [ComparedMetric] = []
        var verdicts: [String] = []
        var warnings: [String] = []
        for (path, document) in runs.dropFirst() {
            warnings += environmentDifferences(base, basePath, document, path)
            let candidate = Dictionary(try points(document, path: path).map { ($0.key, $0) }) { first, _ in first }
            var compared: [(Point, ComparedMetric)] = []
            // Points of one size share their resamples, so group them by their samples.
            for group in Dictionary(grouping: baseline, by: { "\($0.bytes)/\($0.inplace.map(String.init) ?? "")/\($0.samples)" }).values {
                let pairs = group.compactMap { a in candidate[a.key].map { (a, $0) } }
                guard let first = pairs.first else { continue }
                let intervals: [RatioBootstrap.Interval?]
                if let sa = first.0.sample, let sb = first.1.sample {
                    intervals = settings.bootstrap.intervals(baseline: sa, candidate: sb, statistics: pairs.map { $0.0.statistic })
                } else {
                    intervals = pairs.map { _ in nil }
                }
                for ((a, b), interval) in zip(pairs, intervals) {
                    let counts = [a.sample?.total ?? 0, b.sample?.total ?? 0]
                    let enough = counts.min()! >= a.minimumSamples
                    var metric = judge(a, b, enough ? interval : nil, settings: settings, aFile: basePath, bFile: path)
                    if counts.min()! == 0 {
                        metric.note = "no recorded samples"
                    } else if !enough {
                        metric.note = "too few samples (\(counts.min()!); needs \(a.minimumSamples))"
                    }
                    compared.append((a, metric))
                }
            }
            compared.sort { ($0.1.bytes, $0.1.inplace == true ? 1 : 0, order($0.1.name)) < ($1.1.bytes, $1.1.inplace == true ? 1 : 0, order($1.1.name)) }
            metrics += compared.map(\.1)
            verdicts += summarize(compared, aFile: basePath, bFile: path, minEffect: settings.minEffect)
        }
        let level = Int((settings.bootstrap.confidence * 100).rounded())
        let method = "\(level)% percentile-bootstrap confidence interval of the ratio b/a (\(settings.bootstrap.resamples) resamples "
            + "of each run's recorded samples: latency histograms, bandwidth windows, collective iterations); significant when the "
            + "interval excludes 1 and the ratio differs from 1 by at least \(percent(settings.minEffect)) (jitter: and by at least "
            + "\(percent(settings.minEffect)) of the baseline's p50 latency); a percentile is tested only with at least 10 samples beyond it"
        return ComparisonDocument(command: base.command, files: runs.map(\.path), method: method, minEffect: settings.minEffect,
                                  confidence: settings.bootstrap.confidence, metrics: metrics, verdicts: verdicts, warnings: warnings)
    }

    private static let metricOrder = ["latency_p50_us", "latency_p99_us", "latency_p999_us", "jitter_mad_us",
                                      "bandwidth_gbps", "time_p50_us", "time_p99_us", "busbw_gbps"]
    private static func order(_ name: String) -> Int { metricOrder.firstIndex(of: name) ?? metricOrder.count }

    private static func judge(_ a: Point, _ b: Point, _ interval: RatioBootstrap.Interval?, settings: Settings,
                              aFile: String, bFile: String) -> ComparedMetric {
        let ratio = a.value > 0 ? b.value / a.value : (b.value > 0 ? .infinity : 1)
        let large = abs(Foundation.log(max(ratio, 1e-300))) >= Foundation.log(1 + settings.minEffect)
            && abs(b.value - a.value) >= a.floor * settings.minEffect
        let significant = interval.map { !$0.contains(1) } == true && large && ratio.isFinite
        let bBetter = b.higherIsBetter ? ratio > 1 : ratio < 1
        return ComparedMetric(name: a.name, bytes: a.bytes, inplace: a.inplace, a: a.value, b: b.value, ratio: ratio,
                              ratioLow: interval?.low, ratioHigh: interval?.high, significant: significant, note: nil,
                              better: significant ? (bBetter ? "b" : "a") : "neither", aFile: aFile, bFile: bFile)
    }

    private static func summarize(_ compared: [(Point, ComparedMetric)], aFile: String, bFile: String, minEffect: Double) -> [String] {
        var lines: [String] = []
        var seen: [String] = []
        for (p, _) in compared where !seen.contains(p.name) { seen.append(p.name) }
        let b = (bFile as NSString).lastPathComponent, a = (aFile as NSString).lastPathComponent
        for name in seen.sorted(by: { order($0) < order($1) }) {
            let entries = compared.filter { $0.0.name == name }
            let label = entries[0].0.label
            let ratios = entries.map(\.1.ratio)
            let range = ratios.count == 1 ? ratio(ratios[0]) : "\(ratio(ratios.min()!))–\(ratio(ratios.max()!))"
            let better = entries.filter { $0.1.better == "b" }.count, worse = entries.filter { $0.1.better == "a" }.count
            let untested = entries.filter { $0.1.note != nil }.count
            let same = entries.count - better - worse - untested
            let scope = "of \(entries.count) size\(entries.count == 1 ? "" : "s")"
            var line = "\(label): "
            if untested == entries.count {
                line += "untested at every size: \(entries[0].1.note!) (\(b)/\(a) = \(range))"
            } else if better == 0 && worse == 0 {
                line += "no significant difference at any \(untested > 0 ? "tested size (\(same) \(scope))" : scope) (\(b)/\(a) = \(range))"
            } else {
                var parts: [String] = []
                if better > 0 { parts.append("better than \(a) at \(better)") }
                if worse > 0 { parts.append("worse at \(worse)") }
                if same > 0 { parts.append("not significantly different at \(same)") }
                if untested > 0 { parts.append("untested at \(untested)") }
                line += "\(b) " + parts.joined(separator: ", ") + " \(scope) (\(b)/\(a) = \(range))"
            }
            lines.append(line)
        }
        return lines
    }

    public static func ratio(_ r: Double) -> String { r.isFinite ? String(format: r >= 10 ? "%.0f×" : "%.2f×", r) : "∞" }
    public static func percent(_ f: Double) -> String { String(format: "%g%%", f * 100) }

    // MARK: what can be compared

    static func checkComparable(_ runs: [(path: String, document: AnyRunDocument)]) throws {
        let (basePath, base) = runs[0]
        if case .matrix = base {
            throw ReportError("compare takes latency, bandwidth and collective results; a matrix result is a verdict of its own (see 'fabricbench report' for its heatmap)")
        }
        for (path, document) in runs.dropFirst() {
            guard document.command == base.command else {
                throw ReportError("cannot compare a \(base.command) run (\(basePath)) with a \(document.command) run (\(path)): compare runs of the same command")
            }
            let sizesA = sizes(base), sizesB = sizes(document)
            guard sizesA == sizesB else {
                throw ReportError("\(basePath) measured \(describe(sizesA)) but \(path) measured \(describe(sizesB))"
                    + statusNote(base, basePath) + statusNote(document, path) + ": compare runs over the same sizes (same -b, -e, -f)")
            }
            if case .collective(let a) = base, case .collective(let b) = document {
                for key in ["dtype", "op"] where a.arguments[key] != b.arguments[key] {
                    throw ReportError("\(basePath) ran --\(key) \(a.arguments[key] ?? "?") but \(path) ran --\(key) \(b.arguments[key] ?? "?"): the times are not comparable")
                }
            }
        }
    }

    private static func sizes(_ d: AnyRunDocument) -> [Int] {
        switch d {
        case .pointToPoint(let doc): return doc.results.map(\.bytes)
        case .collective(let doc): return Array(Set(doc.results.map(\.bytes))).sorted()
        case .matrix: return []  // refused before sizes are compared
        }
    }

    private static func describe(_ sizes: [Int]) -> String {
        guard let first = sizes.first, let last = sizes.last else { return "no sizes" }
        return sizes.count == 1 ? "1 size (\(ByteCount.format(first)))" : "\(sizes.count) sizes (\(ByteCount.format(first)) to \(ByteCount.format(last)))"
    }

    private static func statusNote(_ d: AnyRunDocument, _ path: String) -> String {
        d.status == "complete" ? "" : " (\(path) is a \(d.status) run)"
    }

    static func environmentDifferences(_ a: AnyRunDocument, _ aPath: String, _ b: AnyRunDocument, _ bPath: String) -> [String] {
        let ea = a.environment, eb = b.environment
        var fields: [(String, String, String)] = [
            ("kernel", ea.kernel, eb.kernel), ("CPU", ea.cpuModel, eb.cpuModel), ("cores", "\(ea.cores)", "\(eb.cores)"),
            ("fabricbench version", ea.fabricbenchVersion, eb.fabricbenchVersion),
            ("fabricbench commit", ea.fabricbenchCommit ?? "unknown", eb.fabricbenchCommit ?? "unknown"), ("transport", ea.transport.kind, eb.transport.kind),
            ("world size", "\(ea.worldSize)", "\(eb.worldSize)"), ("clock", ea.clockSource, eb.clockSource),
        ]
        for key in Set(ea.libraries.keys).union(eb.libraries.keys).sorted() {
            fields.append(("library \(key)", ea.libraries[key] ?? "none", eb.libraries[key] ?? "none"))
        }
        let ignored: Set<String> = ["json", "csv", "junit", "prom"]
        for key in Set(a.arguments.keys).union(b.arguments.keys).sorted() where !ignored.contains(key) {
            fields.append(("argument \(key)", a.arguments[key] ?? "unset", b.arguments[key] ?? "unset"))
        }
        return fields.filter { $0.1 != $0.2 }.map { "\($0.0) differs: \(aPath): \($0.1); \(bPath): \($0.2)" }
    }

    // MARK: figures of each command

    static func points(_ d: AnyRunDocument, path: String) throws -> [Point] {
        let p50: (WeightedSample) -> Double = { $0.percentile(50) }
        let inverseMean: (WeightedSample) -> Double = { s in let m = s.mean; return m > 0 ? 1 / m : 0 }
        func sample(_ encoded: String?) throws -> WeightedSample? {
            guard let encoded else { return nil }
            do {
                return WeightedSample(try HistogramEncoding.decode(encoded))
            } catch {
                throw ReportError("\(path): a histogram does not decode: \(error)")
            }
        }
        switch d {
        case .pointToPoint(let doc):
            return try doc.results.flatMap { r -> [Point] in
                var points: [Point] = []
                if let s = r.oneWayUs {
                    let h = try sample(r.histogram)
                    points += [
                        Point(name: "latency_p50_us", label: "latency p50", bytes: r.bytes, value: s.p50, higherIsBetter: false, sample: h, samples: "latency", statistic: p50),
                        Point(name: "latency_p99_us", label: "latency p99", bytes: r.bytes, value: s.p99, higherIsBetter: false, sample: h, samples: "latency", statistic: { $0.percentile(99) },
                              minimumSamples: 1_000),
                        Point(name: "latency_p999_us", label: "latency p99.9", bytes: r.bytes, value: s.p999, higherIsBetter: false, sample: h, samples: "latency", statistic: { $0.percentile(99.9) },
                              minimumSamples: 10_000),
                        Point(name: "jitter_mad_us", label: "jitter (MAD)", bytes: r.bytes, value: s.mad, higherIsBetter: false, sample: h, samples: "latency", statistic: { $0.mad },
                              floor: s.p50),
                    ]
                }
                if let b = r.bandwidth {
                    points.append(Point(name: "bandwidth_gbps", label: "bandwidth", bytes: r.bytes, value: b.gbps, higherIsBetter: true,
                                        sample: try sample(b.windowHistogram), samples: "windows", statistic: inverseMean, minimumSamples: 5))
                }
                return points
            }
        case .collective(let doc):
            return try doc.results.flatMap { r -> [Point] in
                let h = try sample(r.histogram)
                return [
                    Point(name: "time_p50_us", label: "time p50", bytes: r.bytes, inplace: r.inplace, value: r.timeP50Us, higherIsBetter: false, sample: h, samples: "iterations", statistic: p50,
                          minimumSamples: 5),
                    Point(name: "time_p99_us", label: "time p99", bytes: r.bytes, inplace: r.inplace, value: r.timeP99Us, higherIsBetter: false, sample: h, samples: "iterations", statistic: { $0.percentile(99) },
                          minimumSamples: 1_000),
                    Point(name: "busbw_gbps", label: "busbw", bytes: r.bytes, inplace: r.inplace, value: r.busbwGbps, higherIsBetter: true, sample: h, samples: "iterations", statistic: inverseMean, minimumSamples: 5),
                ]
            }
        case .matrix:
            return []
        }
    }
}
