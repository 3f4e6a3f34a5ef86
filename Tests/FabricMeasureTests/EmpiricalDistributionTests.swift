import XCTest
@testable import FabricMeasure

/// The max of N draws against closed forms. A continuous distribution is discretized at `k`
/// quantile midpoints (equal weights), fine enough that the error is far below the tolerance
/// for the N tested.
final class EmpiricalDistributionTests: XCTestCase {
    static func quantiles(_ k: Int, _ inverse: (Double) -> Double) -> EmpiricalDistribution {
        let values = (0..<k).map { inverse((Double($0) + 0.5) / Double(k)) }
        return EmpiricalDistribution(values: values, weights: Array(repeating: 1, count: k))
    }

    func testMaximumOfExponentialsHasMeanMuTimesTheHarmonicNumber() {
        let mu = 500.0
        let d = Self.quantiles(400_000) { -mu * log1p(-$0) }
        XCTAssertEqual(d.mean, mu, accuracy: mu * 0.002)
        for n in [1, 2, 8, 64, 1000] {
            let harmonic = (1...n).reduce(0.0) { $0 + 1 / Double($1) }
            XCTAssertEqual(d.expectedMaximum(of: Double(n)), mu * harmonic, accuracy: mu * harmonic * 0.005, "N = \(n)")
        }
    }

    func testMaximumOfUniformsHasMeanNOverNPlusOne() {
        let d = Self.quantiles(200_000) { $0 }
        for n in [1, 3, 10, 100, 10_000] {
            XCTAssertEqual(d.expectedMaximum(of: Double(n)), Double(n) / Double(n + 1), accuracy: 2e-4, "N = \(n)")
        }
    }

    func testOneValueIsTheMaximumAtEveryN() {
        let d = EmpiricalDistribution(values: [42, 42], weights: [3, 5])
        for n in [1.0, 2, 1e3, 1e6, 1e12] {
            XCTAssertEqual(d.expectedMaximum(of: n), 42)
            XCTAssertEqual(d.maximumQuantile(0.99, of: n), 42)
        }
    }

    func testTheLog1pFormAgreesWithPoweringWhereBothAreExact() {
        // Tails that are powers of two make 1 − tail exact, and small integer powers of it too.
        for tail in [0.5, 0.25, 1.0 / 1024] {
            let d = EmpiricalDistribution(values: [1, 2], weights: [1 - tail, tail])
            for n in 1...40 {
                XCTAssertEqual(d.maximumCDF(0, of: Double(n)), pow(1 - tail, Double(n)), accuracy: 1e-15 * Double(n), "tail \(tail), N = \(n)")
            }
        }
        // Where powering cannot: a tail of 1e-12 at N = 1e9 leaves F^N = e^-0.001, which the
        // power of (1 − 1e-12) computes from a rounded base.
        let tiny = EmpiricalDistribution(values: [1, 2], weights: [1 - 1e-12, 1e-12])
        XCTAssertEqual(tiny.maximumCDF(0, of: 1e9), exp(-1e-3), accuracy: 1e-9)
        XCTAssertEqual(tiny.expectedMaximum(of: 1e9), 1 + (1 - exp(-1e-3)), accuracy: 1e-9)
    }

    func testQuantileOfTheMaximumAndWhereSamplesSupportIt() {
        // Uniform on (0, 1): the max's q-quantile is q^(1/N).
        let d = Self.quantiles(100_000) { $0 }
        XCTAssertEqual(d.maximumQuantile(0.99, of: 100), pow(0.99, 1.0 / 100), accuracy: 2e-5)
        XCTAssertEqual(d.maximumQuantile(0.5, of: 1), 0.5, accuracy: 2e-5)
        // 100,000 samples: ten lie beyond the tail 1e-4, so N·(1−q) ≈ 1e-4 is supported and
        // a million ranks' p99 (tail 1e-8) is not.
        XCTAssertTrue(d.supportsMaximumQuantile(0.99, of: 50))
        XCTAssertFalse(d.supportsMaximumQuantile(0.99, of: 1e6))
    }

    func testAnHDRHistogramOfExponentialDrawsPredictsTheMaximum() {
        var rng = SplitMix64(seed: 9)
        var h = LatencyHistogram()
        let mu = 200.0  // µs
        for _ in 0..<200_000 { h.record(nanoseconds: UInt64(-mu * log1p(-Double.random(in: 0..<1, using: &rng)) * 1000)) }
        let d = EmpiricalDistribution(h)
        XCTAssertEqual(d.sampleCount, 200_000)
        let harmonic16 = (1...16).reduce(0.0) { $0 + 1 / Double($1) }
        XCTAssertEqual(d.expectedMaximum(of: 16), mu * harmonic16, accuracy: mu * harmonic16 * 0.02)
    }
}
