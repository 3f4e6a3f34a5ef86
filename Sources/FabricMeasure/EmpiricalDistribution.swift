import Foundation

/// A measured distribution as a step function (distinct values with their probabilities),
/// and the statistics of the largest of N independent draws from it: what a bulk-synchronous
/// step that waits for N peers costs.
///
/// P(max ≤ x) = F(x)^N. For N = 10^6 and a tail of 10^-9 the plain power loses every digit
/// (1 − 10^-9 rounds, and its millionth power with it), so it is evaluated as
/// exp(N · log1p(−tail)), with each tail summed from the top of the distribution down, never
/// as 1 − F.
public struct EmpiricalDistribution: Sendable, Equatable {
    /// Ascending, distinct.
    public let values: [Double]
    /// P(X = values[i]); sums to 1.
    public let probabilities: [Double]
    /// P(X > values[i]), summed from the top.
    public let tails: [Double]
    /// How many samples the distribution was built from (weights' sum when they are counts).
    public let sampleCount: Double
    public let mean: Double

    /// `weights` need not be normalized; values with zero weight are dropped, equal values merged.
    public init(values: [Double], weights: [Double]) {
        precondition(values.count == weights.count, "one weight per value")
        var merged: [(Double, Double)] = []
        for (v, w) in zip(values, weights).sorted(by: { $0.0 < $1.0 }) where w > 0 && v.isFinite {
            if let last = merged.last, last.0 == v { merged[merged.count - 1].1 += w } else { merged.append((v, w)) }
        }
        let total = merged.reduce(0) { $0 + $1.1 }
        self.values = merged.map(\.0)
        probabilities = merged.map { $0.1 / total }
        var tails = [Double](repeating: 0, count: merged.count)
        var above = 0.0
        for i in stride(from: merged.count - 1, through: 0, by: -1) {
            tails[i] = above
            above += merged[i].1 / total
        }
        self.tails = tails
        sampleCount = total
        mean = merged.reduce(0) { $0 + $1.0 * ($1.1 / total) }
    }

    /// A latency histogram's buckets (midpoints), in microseconds.
    public init(_ histogram: LatencyHistogram) {
        let buckets = histogram.recordedBuckets
        self.init(values: buckets.map { Double($0.value) / 1000 }, weights: buckets.map { Double($0.count) })
    }

    public var isEmpty: Bool { values.isEmpty }

    /// P(max of n draws ≤ values[i]).
    func maximumCDF(_ i: Int, of n: Double) -> Double {
        tails[i] == 0 ? 1 : exp(n * log1p(-tails[i]))
    }

    /// E[max of n independent draws] = Σ values[i] · (G(i) − G(i−1)), G(i) = F(values[i])^n.
    public func expectedMaximum(of n: Double) -> Double {
        guard !values.isEmpty, n >= 1 else { return values.isEmpty ? 0 : mean }
        var sum = 0.0, below = 0.0
        for i in values.indices {
            let g = maximumCDF(i, of: n)
            sum += values[i] * (g - below)
            below = g
        }
        return sum
    }

    /// The q-quantile (0 < q < 1) of the max of n draws: the least value with F^n ≥ q, that
    /// is with tail ≤ 1 − q^(1/n) = −expm1(log(q)/n).
    public func maximumQuantile(_ q: Double, of n: Double) -> Double {
        guard let last = values.last else { return 0 }
        let tail = -expm1(log(q) / max(n, 1))
        return values.indices.first { tails[$0] <= tail }.map { values[$0] } ?? last
    }

    /// Whether the samples say anything about the max's q-quantile at n: the quantile lies
    /// where the tail is 1 − q^(1/n), and that needs about ten samples beyond it. Past that,
    /// a figure comes from the largest values seen and must be labelled extrapolated.
    public func supportsMaximumQuantile(_ q: Double, of n: Double) -> Bool {
        -expm1(log(q) / max(n, 1)) * sampleCount >= 10
    }
}
