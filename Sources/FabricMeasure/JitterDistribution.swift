import Foundation

/// A delay distribution in microseconds, as `--inject-jitter` takes it: `exp:MEAN`,
/// `pareto:SCALE:ALPHA`, `uniform:A:B`, `const:D`.
public enum JitterDistribution: Sendable, Equatable, CustomStringConvertible {
    case exponential(mean: Double)
    case pareto(scale: Double, alpha: Double)
    case uniform(low: Double, high: Double)
    case constant(Double)

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let numbers = parts.dropFirst().map { Double($0) }
        let bad = ParseError(description: "'\(text)' is not a delay distribution in microseconds: exp:MEAN, pareto:SCALE:ALPHA, uniform:A:B or const:D (e.g. exp:500)")
        guard numbers.allSatisfy({ $0 != nil && $0!.isFinite && $0! >= 0 && $0! <= 10_000_000 }) else { throw bad }
        let v = numbers.map { $0! }
        switch (parts.first, v.count) {
        case ("exp", 1) where v[0] > 0: self = .exponential(mean: v[0])
        case ("pareto", 2) where v[0] > 0 && v[1] > 0: self = .pareto(scale: v[0], alpha: v[1])
        case ("uniform", 2) where v[0] <= v[1]: self = .uniform(low: v[0], high: v[1])
        case ("const", 1): self = .constant(v[0])
        default: throw bad
        }
    }

    public var description: String {
        let f = { (v: Double) in v == v.rounded() ? String(Int(v)) : String(v) }
        switch self {
        case .exponential(let m): return "exp:\(f(m))"
        case .pareto(let s, let a): return "pareto:\(f(s)):\(f(a))"
        case .uniform(let a, let b): return "uniform:\(f(a)):\(f(b))"
        case .constant(let d): return "const:\(f(d))"
        }
    }

    /// One draw, µs, by inversion of the CDF; capped at 10 s so a Pareto tail cannot stall a run.
    public func draw(_ rng: inout SplitMix64) -> Double {
        let u = Double(rng.next() >> 11) * 0x1p-53
        let v: Double
        switch self {
        case .exponential(let m): v = -m * log1p(-u)
        case .pareto(let s, let a): v = s * pow(1 - u, -1 / a)
        case .uniform(let a, let b): v = a + (b - a) * u
        case .constant(let d): v = d
        }
        return min(v, 10_000_000)
    }
}
