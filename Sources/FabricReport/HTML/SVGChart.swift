import FabricResults
import Foundation

/// Charts as inline SVG, drawn here rather than by a JavaScript library, so the report is
/// one file that opens anywhere without network access.
enum SVG {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A whole number as digits; past Int's range (or not finite) as `number` writes it, never trapping.
    static func integer(_ v: Double) -> String {
        v.isFinite && abs(v) < 9e18 ? "\(Int(v))" : number(v)
    }

    static func number(_ v: Double) -> String {
        if v == 0 { return "0" }
        let a = abs(v)
        if a >= 1e6 || a < 1e-3 { return String(format: "%.2g", v) }
        if a >= 100 { return String(format: "%.0f", v) }
        if a >= 10 { return String(format: "%.1f", v) }
        return String(format: "%.3g", v)
    }
}

/// One axis: linear or log10, with the ticks to draw.
///
/// Total on any input: values are clamped to ±1e300 (a log axis also from below, to 1e-300)
/// and non-finite ones dropped, so a range always has a finite, non-zero span, positions are
/// finite, and tick loops end. Inside those limits (every validated result file) nothing
/// changes what is drawn.
struct Axis {
    var label: String
    var log = false
    /// Fixed ticks (value, text); nil picks them.
    var ticks: [(Double, String)]?

    static let limit = 1e300

    func range(_ values: [Double]) -> (Double, Double) {
        let v = (log ? values.filter { $0 > 0 } : values).filter(\.isFinite)
            .map { min(max($0, log ? 1 / Self.limit : -Self.limit), Self.limit) }
        guard var lo = v.min(), var hi = v.max() else { return (log ? 1 : 0, 1) }
        if !log { lo = min(lo, 0) }
        if let t = ticks?.map(\.0).sorted(), log, let first = t.first, let last = t.last {
            // Fixed ticks on a log axis: span from the tick at or below the data to the one at or above it.
            return (t.last { $0 <= lo } ?? first, t.first { $0 >= hi } ?? last)
        }
        if let t = ticks, let tlo = t.map(\.0).min(), let thi = t.map(\.0).max() { lo = min(lo, tlo); hi = max(hi, thi) }
        if hi <= lo { hi = log ? lo * 10 : lo + 1 }
        if hi <= lo { hi = lo + abs(lo) }  // lo + 1 == lo far below -2^53
        return log ? (pow(10, floor(log10(lo))), pow(10, ceil(log10(hi)))) : (lo, hi > 0 ? hi * 1.05 : hi)
    }

    /// 0...1 inside the range; kept to -10...10 outside it, and 0 where nothing is defined.
    func position(_ v: Double, _ r: (Double, Double)) -> Double {
        let p = log ? (log10(max(v, r.0)) - log10(r.0)) / (log10(r.1) - log10(r.0)) : (v - r.0) / (r.1 - r.0)
        return p.isFinite ? min(max(p, -10), 10) : 0
    }

    func tickMarks(_ r: (Double, Double), format: (Double) -> String) -> [(Double, String)] {
        if let ticks { return ticks.filter { $0.0 >= r.0 * 0.9999 && $0.0 <= r.1 * 1.0001 } }
        if log {
            var t: [(Double, String)] = []
            var v = r.0
            // A decade a tick; at most 64 (a range clamped to 1e-300...1e300 has 600 decades).
            while v <= r.1 * 1.0001 && v > 0 && t.count < 64 { t.append((v, format(v))); v *= 10 }
            return t
        }
        let raw = (r.1 - r.0) / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        // A span too small (or too large) to divide: the range's ends alone.
        guard step.isFinite, step > 0, raw.isFinite, raw > 0 else { return [(r.0, format(r.0)), (r.1, format(r.1))] }
        let first = ceil(r.0 / step) * step
        // What stride(from: first, through: r.1, by: step) gives (start + k·step), at most 12 ticks.
        return (0..<12).map { first + Double($0) * step }.filter { $0 <= r.1 }.map { ($0, format($0)) }
    }
}

struct LineChart {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
        var dashed = false
    }

    var id: String
    var title: String
    var x: Axis
    var y: Axis
    var series: [Series]
    var xFormat: (Double) -> String = SVG.number
    var width = 760.0, height = 380.0

    func svg() -> String {
        let left = 70.0, right = 180.0, top = 34.0, bottom = 52.0
        let pw = width - left - right, ph = height - top - bottom
        // A point without finite coordinates cannot be placed; a series keeps the others.
        let series = self.series.map { s in Series(name: s.name, points: s.points.filter { $0.x.isFinite && $0.y.isFinite }, dashed: s.dashed) }
        let xr = x.range(series.flatMap { $0.points.map(\.x) }), yr = y.range(series.flatMap { $0.points.map(\.y) })
        let px = { (v: Double) in left + pw * x.position(v, xr) }, py = { (v: Double) in top + ph * (1 - y.position(v, yr)) }
        var out = "<svg class=\"chart\" data-chart=\"\(SVG.escape(id))\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\">"
        out += "<text x=\"\(left)\" y=\"20\" class=\"title\">\(SVG.escape(title))</text>"
        for (v, text) in x.tickMarks(xr, format: xFormat) {
            let p = px(v)
            out += line(p, top, p, top + ph, "grid") + "<text x=\"\(f(p))\" y=\"\(f(top + ph + 16))\" class=\"tick\" text-anchor=\"middle\">\(SVG.escape(text))</text>"
        }
        for (v, text) in y.tickMarks(yr, format: SVG.number) {
            let p = py(v)
            out += line(left, p, left + pw, p, "grid") + "<text x=\"\(f(left - 6))\" y=\"\(f(p + 4))\" class=\"tick\" text-anchor=\"end\">\(SVG.escape(text))</text>"
        }
        out += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(pw))\" height=\"\(f(ph))\" class=\"frame\"/>"
        out += "<text x=\"\(f(left + pw / 2))\" y=\"\(f(height - 10))\" class=\"axis\" text-anchor=\"middle\">\(SVG.escape(x.label))</text>"
        out += "<text transform=\"translate(16 \(f(top + ph / 2))) rotate(-90)\" class=\"axis\" text-anchor=\"middle\">\(SVG.escape(y.label))</text>"
        for (i, s) in series.enumerated() where !s.points.isEmpty {
            let color = SVG.palette[i % SVG.palette.count]
            let d = s.points.enumerated().map { j, p in "\(j == 0 ? "M" : "L")\(f(px(p.x))),\(f(py(p.y)))" }.joined()
            out += "<path class=\"series\" d=\"\(d)\" stroke=\"\(color)\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "")/>"
            if s.points.count <= 40 {
                out += s.points.map { "<circle cx=\"\(f(px($0.x)))\" cy=\"\(f(py($0.y)))\" r=\"2.5\" fill=\"\(color)\"/>" }.joined()
            }
            let ly = top + 14 + Double(i) * 18
            out += line(left + pw + 12, ly - 4, left + pw + 32, ly - 4, "legend", color: color)
            out += "<text x=\"\(f(left + pw + 38))\" y=\"\(f(ly))\" class=\"legend\">\(SVG.escape(s.name))</text>"
        }
        return out + "</svg>"
    }

    private func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, _ cls: String, color: String? = nil) -> String {
        "<line x1=\"\(f(x1))\" y1=\"\(f(y1))\" x2=\"\(f(x2))\" y2=\"\(f(y2))\" class=\"\(cls)\"\(color.map { " stroke=\"\($0)\"" } ?? "")/>"
    }
}

/// Vertical bars over logarithmic bins (a latency histogram).
struct BarChart {
    var id: String
    var title: String
    /// (from, to, count), ascending.
    var bins: [(from: Double, to: Double, count: Double)]
    var xLabel: String
    var width = 370.0, height = 220.0

    func svg() -> String {
        let left = 50.0, right = 12.0, top = 28.0, bottom = 40.0
        let pw = width - left - right, ph = height - top - bottom
        let peak = max(bins.map(\.count).max() ?? 1, 1)
        let barWidth = pw / Double(max(bins.count, 1))
        var out = "<svg class=\"chart\" data-chart=\"\(SVG.escape(id))\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\">"
        out += "<text x=\"\(f(left))\" y=\"18\" class=\"title\">\(SVG.escape(title))</text>"
        for (i, b) in bins.enumerated() {
            let h = b.count == 0 ? 0 : max(1, ph * b.count / peak)
            out += "<rect class=\"bar\" x=\"\(f(left + Double(i) * barWidth + 0.5))\" y=\"\(f(top + ph - h))\" width=\"\(f(max(barWidth - 1, 1)))\" height=\"\(f(h))\">"
            out += "<title>\(SVG.number(b.from))–\(SVG.number(b.to)): \(SVG.integer(b.count))</title></rect>"
        }
        out += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(pw))\" height=\"\(f(ph))\" class=\"frame\"/>"
        if let first = bins.first, let last = bins.last {
            out += "<text x=\"\(f(left))\" y=\"\(f(top + ph + 14))\" class=\"tick\">\(SVG.number(first.from))</text>"
            out += "<text x=\"\(f(left + pw))\" y=\"\(f(top + ph + 14))\" class=\"tick\" text-anchor=\"end\">\(SVG.number(last.to))</text>"
        }
        out += "<text x=\"\(f(left - 6))\" y=\"\(f(top + 8))\" class=\"tick\" text-anchor=\"end\">\(SVG.integer(peak))</text>"
        out += "<text x=\"\(f(left + pw / 2))\" y=\"\(f(height - 8))\" class=\"axis\" text-anchor=\"middle\">\(SVG.escape(xLabel))</text>"
        return out + "</svg>"
    }
}

/// An N×N grid coloured from good (green) to bad (red) relative to the median cell, with
/// flagged cells outlined.
struct Heatmap {
    var id: String
    var title: String
    var values: [[Double?]]
    var higherIsWorse: Bool
    var flagged: [[Int]]
    var unit: String

    func svg() -> String {
        let n = values.count
        let cell = n <= 8 ? 56.0 : max(14, 480 / Double(n))
        let left = 46.0, top = 46.0
        let width = left + cell * Double(n) + 20, height = top + cell * Double(n) + 30
        let present = values.flatMap { $0.compactMap { $0 } }.filter { $0 > 0 && $0.isFinite }
        let median = present.isEmpty ? 1 : present.sorted()[present.count / 2]
        var out = "<svg class=\"chart\" data-chart=\"\(SVG.escape(id))\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\">"
        out += "<text x=\"\(f(left))\" y=\"18\" class=\"title\">\(SVG.escape(title))</text>"
        for i in 0..<n {
            out += "<text x=\"\(f(left + cell * (Double(i) + 0.5)))\" y=\"\(f(top - 6))\" class=\"tick\" text-anchor=\"middle\">\(i)</text>"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(top + cell * (Double(i) + 0.5) + 4))\" class=\"tick\" text-anchor=\"end\">\(i)</text>"
            for j in 0..<n {
                let x = left + cell * Double(j), y = top + cell * Double(i)
                // A row shorter than the matrix (a hand-edited or damaged file) shows as empty cells.
                guard j < values[i].count, let v = values[i][j], v.isFinite else {
                    out += "<rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(cell))\" height=\"\(f(cell))\" fill=\"#eee\"/>"
                    continue
                }
                // 0 = as good as the median or better, 1 = 4× worse or more (log scale).
                let worse = higherIsWorse ? v / median : median / max(v, 1e-12)
                let badness = min(1, max(0, log(max(worse, 1)) / log(4)))
                let hue = 120 * (1 - badness)
                let outlined = flagged.contains([min(i, j), max(i, j)])
                out += "<rect class=\"cell\(outlined ? " outlier" : "")\" x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(cell))\" height=\"\(f(cell))\" fill=\"hsl(\(SVG.integer(hue)),65%,55%)\">"
                out += "<title>rank \(i) ↔ rank \(j): \(SVG.number(v)) \(SVG.escape(unit))</title></rect>"
                if cell >= 40 {
                    out += "<text x=\"\(f(x + cell / 2))\" y=\"\(f(y + cell / 2 + 4))\" class=\"cellText\" text-anchor=\"middle\">\(SVG.number(v))</text>"
                }
            }
        }
        out += "<text x=\"\(f(left))\" y=\"\(f(height - 8))\" class=\"axis\">\(SVG.escape(unit)); outlined: outlier links</text>"
        return out + "</svg>"
    }
}

/// A coordinate: one decimal; 0 for what is not a number (never reached by a placed point).
private func f(_ v: Double) -> String { v.isFinite ? String(format: "%.1f", v) : "0" }
