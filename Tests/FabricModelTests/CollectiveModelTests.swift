import XCTest
@testable import FabricModel
import FabricMeasure

final class CollectiveModelTests: XCTestCase {
    /// 10 µs latency, 10 GB/s (1e-4 µs/B), reduction at 20 GB/s.
    static func link(_ latency: EmpiricalDistribution) -> LinkCosts { LinkCosts(latency: latency, beta: 1e-4, gamma: 5e-5) }
    static let constant = EmpiricalDistribution(values: [10], weights: [1])

    /// Ring at any N, recursive doubling at powers of two (elsewhere its fold makes a few
    /// ranks start late, and the recurrence, not a sum, says what that costs).
    func testRingAndRecursiveDoublingMeansAreTheTextbookForms() {
        let m = CollectiveModel(link: Self.link(Self.constant))
        let (a, b, g) = (10.0, 1e-4, 5e-5)
        let sizes: [Double] = [8, 65536, 1_048_576]
        for n in sizes {
            for N in [2, 3, 8, 12, 64] {
                let steps = Double(N - 1), share = Double(N - 1) / Double(N)
                let ring: Double = 2 * steps * a + 2 * share * n * b + share * n * g
                XCTAssertEqual(m.mean(.ring, bytes: n, ranks: N), ring, accuracy: ring * 1e-12, "ring N=\(N) n=\(n)")
                guard N & (N - 1) == 0 else { continue }
                let round: Double = a + n * b + n * g
                let rd: Double = log2(Double(N)) * round
                XCTAssertEqual(m.mean(.rd, bytes: n, ranks: N), rd, accuracy: rd * 1e-12, "rd N=\(N) n=\(n)")
            }
        }
    }

    func testWithZeroJitterTheSimulationEqualsTheMean() {
        let link = Self.link(Self.constant)
        let m = CollectiveModel(link: link), sim = DependencySimulation(link: link)
        for algorithm in ModelAlgorithm.allCases {
            for N in [2, 3, 7, 16, 33] {
                for n: Double in [8, 1_048_576, 8_388_608] {
                    let simulated = sim.simulate(algorithm, bytes: n, ranks: N, runs: 3, seed: 1)
                    let mean = m.mean(algorithm, bytes: n, ranks: N)
                    XCTAssertEqual(simulated.mean, mean, accuracy: mean * 1e-12, "\(algorithm) N=\(N) n=\(n)")
                    XCTAssertEqual(simulated.p99, mean, accuracy: mean * 1e-12)
                }
            }
        }
    }

    func testTreeMeanGrowsWithDepthAndPipelinesChunks() {
        let m = CollectiveModel(link: Self.link(Self.constant))
        // Depth grows as log N: 1,024 ranks cost a few times 8, not 128 times.
        let small = m.mean(.tree, bytes: 8, ranks: 8), large = m.mean(.tree, bytes: 8, ranks: 1024)
        XCTAssertGreaterThan(large, small)
        XCTAssertLessThan(large, 5 * small)
        // Chunks overlap: 64 MiB in 32 chunks per half costs far less than 32 unpipelined trees.
        let one = m.mean(.tree, bytes: 2_097_152, ranks: 64), many = m.mean(.tree, bytes: 67_108_864, ranks: 64)
        XCTAssertLessThan(many, 32 * one * 0.6)
    }

    /// Pareto jitter: the ring's simulated time lies above the mean (delays only add) and below
    /// the synchronous bound (a late rank's delay is absorbed along the ring).
    func testRingUnderParetoJitterLiesBetweenTheMeanAndTheSynchronousBound() {
        // Pareto(scale 20 µs, alpha 2.5: a heavy tail with a finite variance, so that a few
        // runs estimate the mean), discretized at 20,000 quantiles.
        let k = 20_000
        let pareto = EmpiricalDistribution(values: (0..<k).map { 20 * pow(1 - (Double($0) + 0.5) / Double(k), -1 / 2.5) },
                                           weights: Array(repeating: 1, count: k))
        let link = Self.link(pareto)
        let m = CollectiveModel(link: link), sim = DependencySimulation(link: link)
        // (Up to 1,024 ranks here: a run costs 2N² steps, 33 million at 4,096.)
        for N in [16, 64, 256, 1024] {
            let s = sim.simulate(.ring, bytes: 1_048_576, ranks: N, runs: min(200, max(1, 100_000 / (N * N))), seed: UInt64(N))
            let mean = m.mean(.ring, bytes: 1_048_576, ranks: N), bound = m.synchronousBound(.ring, bytes: 1_048_576, ranks: N)
            XCTAssertGreaterThan(s.mean, mean, "N=\(N)")
            XCTAssertLessThan(s.mean, bound, "N=\(N)")
        }
    }

    func testTreeAndRecursiveDoublingUnderJitterLieBetweenTheMeanAndTheBound() {
        // 65,536 ranks here (N·lg N per run; a million runs in seconds in a release build).
        let link = Self.link(EmpiricalDistribution(values: [8, 10, 40], weights: [0.5, 0.49, 0.01]))
        let sim = DependencySimulation(link: link), m = CollectiveModel(link: link)
        let n = 1 << 16
        // 16 levels each way: with a 1% chance of 40 µs on each of a million messages, the
        // slowest path meets several of them.
        for algorithm in [ModelAlgorithm.tree, .rd] {
            let s = sim.simulate(algorithm, bytes: 8, ranks: n, runs: 1, seed: 3)
            XCTAssertGreaterThan(s.mean, m.mean(algorithm, bytes: 8, ranks: n), "\(algorithm)")
            XCTAssertLessThan(s.mean, m.synchronousBound(algorithm, bytes: 8, ranks: n) * 1.0001, "\(algorithm)")
        }
    }

    func testRingAboveTheSimulationLimitIsExtrapolatedAndSaysSo() {
        let link = Self.link(EmpiricalDistribution(values: [10, 30], weights: [0.9, 0.1]))
        var sim = DependencySimulation(link: link)
        sim.ringLimit = 128
        let s = sim.simulate(.ring, bytes: 1_048_576, ranks: 2000, runs: 2, seed: 5)
        XCTAssertEqual(s.extrapolatedFrom, 128)
        let mean = CollectiveModel(link: link).mean(.ring, bytes: 1_048_576, ranks: 2000)
        XCTAssertGreaterThan(s.mean, mean)
        XCTAssertLessThan(s.mean, CollectiveModel(link: link).synchronousBound(.ring, bytes: 1_048_576, ranks: 2000))
        XCTAssertNil(sim.simulate(.ring, bytes: 1_048_576, ranks: 100, runs: 1, seed: 5).extrapolatedFrom)
    }
}

final class SamplerTests: XCTestCase {
    /// Draws follow the distribution: each value's share of 200,000 draws is within 1% (abs)
    /// of its probability, the top value included.
    func testDrawsFollowTheDistribution() {
        let d = EmpiricalDistribution(values: [1, 2, 3, 50], weights: [0.5, 0.3, 0.19, 0.01])
        let sampler = Sampler(d)
        var rng = SplitMix64(seed: 1)
        var counts: [Double: Int] = [:]
        for _ in 0..<200_000 { counts[sampler.draw(&rng), default: 0] += 1 }
        for (v, p) in zip(d.values, d.probabilities) {
            XCTAssertEqual(Double(counts[v] ?? 0) / 200_000, p, accuracy: 0.01, "value \(v)")
        }
        XCTAssertEqual(Set(counts.keys), Set(d.values))
    }
}
