import FabricResults
import Foundation

/// A `model --json` document's charts: per message size, time against rank count (log axes)
/// per algorithm and profile, the simulated mean solid and p99 dashed; and the jitter
/// amplification (p99 ÷ the α–β–γ time) against rank count.
extension HTMLReport {
    static func model(_ d: ModelDocument, index: Int) -> String {
        let profiles: [(name: String, predictions: [Prediction])] =
            [("A", d.predictions)] + (d.predictionsB.map { [("B", $0)] } ?? [])
        let named = { (profile: String, algo: String) in profiles.count > 1 ? "\(profile) \(algo)" : algo }
        var algorithms: [String] = [], sizes: [Int] = []
        for p in d.predictions + (d.predictionsB ?? []) {
            if !algorithms.contains(p.algo) { algorithms.append(p.algo) }
            if !sizes.contains(p.bytes) { sizes.append(p.bytes) }
        }
        var out = "<p class=\"meta\">\(SVG.escape(inputsText(d)))</p><p class=\"meta\">Method: \(SVG.escape(d.method))</p><div class=\"grid\">"
        for bytes in sizes.sorted() {
            var time: [LineChart.Series] = [], amplification: [LineChart.Series] = []
            for (profile, predictions) in profiles {
                for algo in algorithms {
                    let rows = predictions.filter { $0.algo == algo && $0.bytes == bytes }.sorted { $0.ranks < $1.ranks }
                    guard !rows.isEmpty else { continue }
                    time.append(LineChart.Series(name: "\(named(profile, algo)) mean", points: rows.map { (Double($0.ranks), $0.meanUs) }))
                    time.append(LineChart.Series(name: "\(named(profile, algo)) p99", points: rows.map { (Double($0.ranks), $0.p99Us) }, dashed: true))
                    amplification.append(LineChart.Series(name: named(profile, algo), points: rows.map { (Double($0.ranks), $0.amplification) }))
                }
            }
            let size = sizeText(Double(bytes))
            out += LineChart(id: "model-time-\(index)-\(bytes)", title: "\(size) B all-reduce: time vs ranks", x: ranksAxis,
                             y: Axis(label: "time [µs]", log: true), series: time, xFormat: ranksText, width: 600, height: 340).svg()
            out += LineChart(id: "model-amplification-\(index)-\(bytes)", title: "\(size) B: jitter amplification (p99 ÷ α–β–γ)", x: ranksAxis,
                             y: Axis(label: "amplification"), series: amplification, xFormat: ranksText, width: 600, height: 340).svg()
        }
        out += "</div>"
        for (profile, predictions) in profiles {
            out += table(["algo", "bytes", "ranks", "mean", "p50", "p99", "lower", "upper", "α–β–γ", "sync", "p99/αβγ", "extrapolated"], predictions.map { p in
                [p.algo, "\(p.bytes)", "\(p.ranks)"] + [p.meanUs, p.p50Us, p.p99Us, p.lowerUs, p.upperUs, p.alphaBetaUs, p.synchronousUs].map(SVG.number)
                    + [String(format: "%.2f", p.amplification), p.extrapolated ? "yes" : "no"]
            }, caption: "predictions\(profiles.count > 1 ? " of profile \(profile)" : "") [µs]")
        }
        return out
    }

    static func inputsText(_ d: ModelDocument) -> String {
        (d.profiles ?? [d.inputs]).enumerated().map { i, p in
            var text = (d.profiles == nil ? "" : "Profile \(i == 0 ? "A" : "B"): ") + "\(p.files.joined(separator: " + ")): α \(SVG.number(p.alphaUs)) µs at \(p.latencyBytes) B "
                + "(\(SVG.integer(p.latencySamples)) samples), β \(String(format: "%.3g", p.betaUsPerByte)) µs/B (\(p.betaSource)), γ \(String(format: "%.3g", p.gammaUsPerByte)) µs/B"
                + (p.gammaSource.map { " (\($0))" } ?? "")
            if let r = p.ranksPerHost, r > 1 {
                text += "; \(r) ranks a host, intra-host α \(SVG.number(p.intra?.alphaUs ?? 0)) µs, β \(String(format: "%.3g", p.intra?.betaUsPerByte ?? 0)) µs/B"
            }
            if let f = p.oversubscription, f != 1 { text += "; inter-host β × \(SVG.number(f)) oversubscription" }
            if p.delayAt == "sender" { text += "; each message's delay holds its sender (--delay-at sender)" }
            return text
        }.joined(separator: ". ")
    }

    /// Rank counts: a tick a decade.
    static let ranksAxis = Axis(label: "ranks", log: true)

    static func ranksText(_ v: Double) -> String {
        guard v.isFinite, v >= 1, v < 9e18 else { return SVG.number(v) }
        let n = Int(v.rounded())
        if n >= 1_000_000 && n % 1_000_000 == 0 { return "\(n / 1_000_000)M" }
        if n >= 1000 && n % 1000 == 0 { return "\(n / 1000)K" }
        return "\(n)"
    }
}
