import FabricMeasure
import FabricResults
import Foundation

/// `fabricbench report`: one self-contained HTML file (inline CSS and SVG, no network) with
/// a section per result file and, for several runs of one command, the comparison.
public enum HTMLReport {
    /// `models`: `model --json` predictions, each a section of its own after the runs.
    public static func render(_ runs: [(path: String, document: AnyRunDocument)], models: [(path: String, document: ModelDocument)] = [],
                              title: String, generated: Date = Date()) -> String {
        var body = "<h1>\(SVG.escape(title))</h1>"
        let files = runs.count + models.count
        body += "<p class=\"meta\">Generated \(ISO8601DateFormatter().string(from: generated)) by fabricbench from \(files) result file\(files == 1 ? "" : "s").</p>"
        body += filesTable(runs, models: models)
        body += overview(runs)
        for (index, run) in runs.enumerated() {
            body += "<section id=\"run-\(index)\"><h2>\(SVG.escape(name(run.path))): \(SVG.escape(run.document.command))</h2>"
            body += environment(run.document)
            switch run.document {
            case .pointToPoint(let d): body += pointToPoint(d, index: index)
            case .collective(let d): body += collective(d, index: index)
            case .matrix(let d): body += matrix(d, index: index)
            }
            body += "</section>"
        }
        for (index, model) in models.enumerated() {
            body += "<section id=\"model-\(index)\"><h2>\(SVG.escape(name(model.path))): model</h2>" + Self.model(model.document, index: index) + "</section>"
        }
        body += comparison(runs)
        body += "<p id=\"render-check\" class=\"meta\"></p>"
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
        <title>\(SVG.escape(title))</title><style>\(style)</style></head>
        <body>\(body)<script>\(renderCheck)</script></body></html>

        """
    }

    static func name(_ path: String) -> String { (path as NSString).lastPathComponent }

    // MARK: sections

    static func filesTable(_ runs: [(path: String, document: AnyRunDocument)], models: [(path: String, document: ModelDocument)] = []) -> String {
        let rows = runs.enumerated().map { i, r -> [String] in
            let e = r.document.environment
            // Every string from a result file is escaped: a file is input, not markup.
            return ["<a href=\"#run-\(i)\">\(SVG.escape(name(r.path)))</a>", SVG.escape(r.document.command), SVG.escape(r.document.status),
                    "\(e.worldSize)", SVG.escape(e.transport.kind), SVG.escape(Array(Set(e.rankHosts)).sorted().joined(separator: ", "))]
        } + models.enumerated().map { i, m -> [String] in
            let ranks = Set(m.document.predictions.map(\.ranks)).sorted().map { ranksText(Double($0)) }.joined(separator: ", ")
            return ["<a href=\"#model-\(i)\">\(SVG.escape(name(m.path)))</a>", "model", "prediction", SVG.escape(ranks), "-", "-"]
        }
        return table(["file", "command", "status", "ranks", "transport", "hosts"], rows, escaped: true)
    }

    /// Charts across files: the same figure of several runs on one set of axes.
    static func overview(_ runs: [(path: String, document: AnyRunDocument)]) -> String {
        var out = ""
        let latency = runs.compactMap { r -> (String, RunDocument<PointToPointResult>)? in
            if case .pointToPoint(let d) = r.document, d.command == "latency" { return (name(r.path), d) }
            return nil
        }
        if latency.count >= 2 {
            let series = latency.flatMap { file, d -> [LineChart.Series] in
                [LineChart.Series(name: "\(file) p50", points: d.results.compactMap { r in r.oneWayUs.map { (Double(r.bytes), $0.p50) } }),
                 LineChart.Series(name: "\(file) p99.9", points: d.results.compactMap { r in r.oneWayUs.map { (Double(r.bytes), $0.p999) } }, dashed: true)]
            }
            out += "<h2>Latency of every run</h2>" + LineChart(id: "latency-runs", title: "One-way latency vs message size", x: sizeAxis,
                                                               y: Axis(label: "one-way latency [µs]", log: true), series: series, xFormat: sizeText).svg()
        }
        let collectives = runs.compactMap { r -> (String, RunDocument<CollectiveResult>)? in
            if case .collective(let d) = r.document { return (name(r.path), d) }
            return nil
        }
        if !collectives.isEmpty {
            // One line per (file, algorithm), out-of-place: where ring and tree cross is visible.
            var series: [LineChart.Series] = []
            for (file, d) in collectives {
                let outOfPlace = d.results.filter { !$0.inplace }
                var algorithms: [String] = []
                for r in outOfPlace where !algorithms.contains(r.algo) { algorithms.append(r.algo) }
                for algo in algorithms {
                    let points = outOfPlace.filter { $0.algo == algo }.map { (Double($0.bytes), $0.busbwGbps) }
                    series.append(LineChart.Series(name: collectives.count > 1 ? "\(file) \(algo)" : algo, points: points))
                }
            }
            out += "<h2>Bus bandwidth by algorithm</h2>" + LineChart(id: "busbw", title: "busbw vs size (out-of-place), per algorithm", x: sizeAxis,
                                                                     y: Axis(label: "busbw [GB/s]"), series: series, xFormat: sizeText).svg()
        }
        return out
    }

    static func pointToPoint(_ d: RunDocument<PointToPointResult>, index: Int) -> String {
        var out = ""
        let latencies = d.results.filter { $0.oneWayUs != nil }
        if !latencies.isEmpty {
            // Percentile distribution: x = 1/(1−q) on a log scale, as HdrHistogram plots it.
            let ticks: [(Double, String)] = [(2, "50%"), (10, "90%"), (100, "99%"), (1000, "99.9%"), (10000, "99.99%")]
            var series: [LineChart.Series] = []
            var histograms = ""
            for r in latencies {
                guard let text = r.histogram, let h = try? HistogramEncoding.decode(text) else { continue }
                let reach = max(2, min(10_000, Double(h.count) / 2))
                let points = stride(from: 0.301, through: log10(reach), by: 0.05).map { t -> (x: Double, y: Double) in
                    let x = pow(10, t)
                    return (x, Double(h.value(atPercentile: 100 * (1 - 1 / x))) / 1000)
                }
                series.append(LineChart.Series(name: "\(sizeText(Double(r.bytes))) B", points: points))
                let bins = h.logBins(24).map { (from: $0.from / 1000, to: $0.to / 1000, count: Double($0.count)) }
                histograms += BarChart(id: "histogram-\(index)-\(r.bytes)", title: "\(sizeText(Double(r.bytes))) B: \(h.count) samples", bins: bins,
                                       xLabel: "one-way latency [µs], log bins").svg()
            }
            out += LineChart(id: "percentiles-\(index)", title: "Latency by percentile, per message size",
                             x: Axis(label: "percentile", log: true, ticks: ticks), y: Axis(label: "one-way latency [µs]", log: true), series: series).svg()
            out += "<h3>Latency histograms</h3><div class=\"grid\">\(histograms)</div>"
            out += table(["bytes", "iterations", "min", "p50", "p99", "p99.9", "p99.99", "max", "MAD", "CV"], latencies.map { r in
                let s = r.oneWayUs!
                return ["\(r.bytes)", "\(r.iterations)"] + [s.min, s.p50, s.p99, s.p999, s.p9999, s.max, s.mad].map(SVG.number) + [String(format: "%.3f", s.cv)]
            }, caption: "one-way latency [µs]")
        }
        let bandwidths = d.results.filter { $0.bandwidth != nil }
        if !bandwidths.isEmpty {
            let average = LineChart.Series(name: "average", points: bandwidths.map { (Double($0.bytes), $0.bandwidth!.gbps) })
            let slowest = LineChart.Series(name: "slowest window", points: bandwidths.compactMap { r in r.bandwidth!.windowGbps.map { (Double(r.bytes), $0.min) } }, dashed: true)
            out += LineChart(id: "bandwidth-\(index)", title: "Bandwidth vs message size", x: sizeAxis, y: Axis(label: "GB/s (1e9 B/s)"),
                             series: [average, slowest], xFormat: sizeText).svg()
            out += table(["bytes", "messages", "GB/s", "Mpps", "slowest window GB/s"], bandwidths.map { r in
                let b = r.bandwidth!
                return ["\(r.bytes)", "\(r.iterations)", SVG.number(b.gbps), SVG.number(b.messageRateMpps), b.windowGbps.map { SVG.number($0.min) } ?? "-"]
            })
        }
        return out
    }

    static func collective(_ d: RunDocument<CollectiveResult>, index: Int) -> String {
        let outOfPlace = d.results.filter { !$0.inplace }
        var out = LineChart(id: "collective-time-\(index)", title: "Time per call vs size (slowest rank per iteration)", x: sizeAxis,
                            y: Axis(label: "time [µs]", log: true),
                            series: [LineChart.Series(name: "p50", points: outOfPlace.map { (Double($0.bytes), max($0.timeP50Us, 1e-3)) }),
                                     LineChart.Series(name: "p99", points: outOfPlace.map { (Double($0.bytes), max($0.timeP99Us, 1e-3)) }, dashed: true)],
                            xFormat: sizeText).svg()
        out += table(["bytes", "algo", "in-place", "time µs", "p50 µs", "p99 µs", "algbw GB/s", "busbw GB/s", "wrong"], d.results.map { r in
            ["\(r.bytes)", r.algo, r.inplace ? "yes" : "no", SVG.number(r.timeUs), SVG.number(r.timeP50Us), SVG.number(r.timeP99Us),
             SVG.number(r.algbwGbps), SVG.number(r.busbwGbps), r.wrong.map(String.init) ?? "-"]
        })
        if let s = d.stragglers { out += "<p class=\"verdict\">\(SVG.escape(s.summary))</p>" }
        return out
    }

    static func matrix(_ d: RunDocument<LinkMatrixResult>, index: Int) -> String {
        guard let m = d.results.first else { return "<p>No links were measured (status \(d.status.rawValue)).</p>" }
        let flagged = { (metric: String) in m.verdicts.filter { $0.metric == metric }.map { $0.ranks.sorted() } }
        // The suspects first: what to pull comes before the evidence.
        let diagnosis = m.diagnosis ?? []
        var out = ""
        if !m.suspectHosts.isEmpty {
            out += "<p class=\"verdict bad\">Suspect hosts: \(SVG.escape(m.suspectHosts.joined(separator: ", ")))</p>"
        }
        if !m.suspectNICs.isEmpty {
            out += "<p class=\"verdict bad\">Suspect NICs: \(SVG.escape(m.suspectNICs.joined(separator: ", ")))</p>"
        }
        if diagnosis.isEmpty && m.verdicts.isEmpty {
            out += "<p class=\"verdict good\">Nothing wrong among \(m.links.count) links.</p>"
        }
        out += diagnosis.map { "<p class=\"verdict bad\">\($0.subject == .link ? "Outlier" : "Suspect"): \(SVG.escape($0.text))</p>" }.joined()
        if m.diagnosis == nil {
            out += m.verdicts.map { "<p class=\"verdict bad\">Outlier: \(SVG.escape($0.text))</p>" }.joined()
        }
        out += (m.transientSuspects ?? []).map { "<p class=\"verdict\">Transient (fine when measured again alone): \(SVG.escape($0.text))</p>" }.joined()
        out += (m.transient ?? []).map { "<p class=\"verdict\">Transient (not an outlier when measured again alone): \(SVG.escape($0.text))</p>" }.joined()
        out += "<div class=\"grid\">"
        out += Heatmap(id: "matrix-latency-\(index)", title: "Latency p50, \(m.latencyBytes) B", values: m.latencyP50Us, higherIsWorse: true,
                       flagged: flagged("latency_p50_us"), unit: "µs one-way").svg()
        out += Heatmap(id: "matrix-tail-\(index)", title: "Latency p99.9, \(m.latencyBytes) B", values: m.latencyP999Us, higherIsWorse: true,
                       flagged: flagged("latency_p999_us"), unit: "µs one-way").svg()
        out += Heatmap(id: "matrix-bandwidth-\(index)", title: "Bandwidth, \(sizeText(Double(m.bandwidthBytes))) B messages, row sends to column",
                       values: m.bandwidthGbps, higherIsWorse: false, flagged: flagged("bandwidth_gbps"), unit: "GB/s").svg()
        out += "</div>"
        if let hosts = m.hosts, Set(hosts).count > 1 {
            out += "<p class=\"meta\">Hosts: \(SVG.escape(hosts.enumerated().map { "rank \($0.offset) on \($0.element)" }.joined(separator: ", "))).</p>"
        }
        out += "<p class=\"meta\">Outlier rule: a figure \(SVG.escape(m.rule)); hosts and ranks are judged against the links that do not touch them.</p>"
        return out
    }

    static func comparison(_ runs: [(path: String, document: AnyRunDocument)]) -> String {
        guard runs.count >= 2 else { return "" }
        let c: ComparisonDocument
        do {
            c = try RunComparison.compare(runs)
        } catch {
            return "<section><h2>Comparison</h2><p class=\"meta\">Not compared: \(SVG.escape("\(error)"))</p></section>"
        }
        var out = "<section id=\"compare\"><h2>Comparison (baseline a = \(SVG.escape(name(c.files[0]))))</h2>"
        out += c.warnings.map { "<p class=\"warning\">Warning: \(SVG.escape($0))</p>" }.joined()
        out += c.verdicts.map { "<p class=\"verdict\">\(SVG.escape($0))</p>" }.joined()
        let rows = c.metrics.map { m -> [String] in
            let interval = m.ratioLow.flatMap { lo in m.ratioHigh.map { "\(RunComparison.ratio(lo))–\(RunComparison.ratio($0))" } } ?? (m.note ?? "-")
            let verdict = m.significant ? "<span class=\"\(m.better == "b" ? "good" : "bad")\">\(m.better) better</span>" : "no"
            return [SVG.escape(name(m.bFile)), "\(m.bytes)\(m.inplace == true ? " (in)" : "")", SVG.escape(m.name), SVG.number(m.a), SVG.number(m.b),
                    RunComparison.ratio(m.ratio), SVG.escape(interval), verdict]
        }
        out += table(["b", "bytes", "metric", "a", "b", "b/a", "\(Int(c.confidence * 100))% CI", "significant"], rows, escaped: true,
                     caption: c.method)
        return out + "</section>"
    }

    static func environment(_ d: AnyRunDocument) -> String {
        let e = d.environment
        let settings = e.transport.settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return "<p class=\"meta\">\(e.worldSize) ranks over \(SVG.escape(e.transport.kind)) (\(SVG.escape(settings))); "
            + "\(SVG.escape(e.cpuModel)), \(e.cores) cores, kernel \(SVG.escape(e.kernel)); launcher \(SVG.escape(e.launcher)); "
            + "fabricbench \(SVG.escape(e.fabricbenchVersion))</p>"
    }

    // MARK: pieces

    /// Message sizes: ticks at powers of 8 (1, 8, 64, 512, 4K, ...), in the sweep's units.
    static let sizeAxis = Axis(label: "message size [bytes]", log: true,
                               ticks: (0...10).map { (pow(8, Double($0)), sizeText(pow(8, Double($0)))) })

    static func sizeText(_ v: Double) -> String { v.isFinite && abs(v) < 9e18 ? ByteCount.format(Int(v.rounded())) : SVG.number(v) }

    static func table(_ header: [String], _ rows: [[String]], escaped: Bool = false, caption: String? = nil) -> String {
        let cell = { (s: String) in escaped ? s : SVG.escape(s) }
        var out = "<table>"
        if let caption { out += "<caption>\(SVG.escape(caption))</caption>" }
        out += "<tr>" + header.map { "<th>\(SVG.escape($0))</th>" }.joined() + "</tr>"
        out += rows.map { "<tr>" + $0.map { "<td>\(cell($0))</td>" }.joined() + "</tr>" }.joined()
        return out + "</table>"
    }

    static let style = """
    body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1240px;color:#222;padding:0 16px}
    h1{font-size:24px}h2{font-size:19px;margin-top:32px;border-bottom:1px solid #ddd}h3{font-size:15px}
    .meta{color:#666}.grid{display:flex;flex-wrap:wrap;gap:8px}
    table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}
    caption{text-align:left;color:#666;caption-side:bottom;font-size:12px;padding-top:4px}
    svg.chart{background:#fff;border:1px solid #e4e4e4;margin:6px 0}
    .title{font-weight:600;font-size:14px}.tick{font-size:11px;fill:#555}.axis{font-size:12px;fill:#333}.legend{font-size:12px}
    .grid line,line.grid{stroke:#eee}.frame{fill:none;stroke:#999}.series{fill:none;stroke-width:2}line.legend{stroke-width:3}
    .bar{fill:#1f77b4}.cell{stroke:#fff}.cell.outlier{stroke:#000;stroke-width:3}.cellText{font-size:11px;fill:#111}
    .verdict{font-weight:600}.good{color:#1a7f37}.bad{color:#c62828}.warning{color:#9a6700}
    """

    /// Runs in the browser: counts the charts that were laid out with something drawn in
    /// them, so a test (or a reader) can tell the report rendered.
    static let renderCheck = """
    (function(){var all=document.querySelectorAll('svg.chart'),drawn=0;
    all.forEach(function(c){var r=c.getBoundingClientRect();
    if(r.width>0&&r.height>0&&c.querySelector('path.series,rect.bar,rect.cell'))drawn++;});
    document.body.setAttribute('data-charts-drawn',drawn);document.body.setAttribute('data-charts',all.length);
    document.getElementById('render-check').textContent='charts drawn: '+drawn+' of '+all.length;})();
    """
}
