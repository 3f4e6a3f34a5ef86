import XCTest
@testable import FabricModel
import FabricMeasure

/// The two-level (hierarchical) all-reduce: reduce-scatter in the host, the algorithm across
/// hosts on n/R bytes, all-gather in the host.
final class TopologyTests: XCTestCase {
    /// In the host: 2 µs, 50 GB/s; between hosts: 10 µs, 10 GB/s; reduction at 20 GB/s.
    static let intra = LinkCosts(latency: EmpiricalDistribution(values: [2], weights: [1]), beta: 2e-5, gamma: 5e-5)
    static let inter = LinkCosts(latency: EmpiricalDistribution(values: [10], weights: [1]), beta: 1e-4, gamma: 5e-5)
    static let pareto: EmpiricalDistribution = {
        let k = 5000
        return EmpiricalDistribution(values: (0..<k).map { 10 * pow(1 - (Double($0) + 0.5) / Double(k), -1 / 2.5) }, weights: Array(repeating: 1, count: k))
    }()

    func testOneRankAHostIsTheFlatAllReduceOverTheInterHostLink() {
        // A jittery intra link that must not be used at all when R = 1.
        let jitteryIntra = LinkCosts(latency: Self.pareto, beta: 1, gamma: 1)
        var interJitter = Self.inter
        interJitter.latency = EmpiricalDistribution(values: [8, 10, 40], weights: [0.5, 0.49, 0.01])
        let two = Topology(intra: jitteryIntra, inter: interJitter, ranksPerHost: 1)
        for algorithm in ModelAlgorithm.allCases {
            for n in [2, 7, 64] {
                for bytes: Double in [8, 1_048_576] {
                    XCTAssertEqual(CollectiveModel(topology: two).mean(algorithm, bytes: bytes, ranks: n),
                                   CollectiveModel(link: interJitter).mean(algorithm, bytes: bytes, ranks: n), "\(algorithm) N=\(n)")
                    XCTAssertEqual(CollectiveModel(topology: two).synchronousBound(algorithm, bytes: bytes, ranks: n),
                                   CollectiveModel(link: interJitter).synchronousBound(algorithm, bytes: bytes, ranks: n))
                    XCTAssertEqual(DependencySimulation(topology: two).simulate(algorithm, bytes: bytes, ranks: n, runs: 5, seed: 9),
                                   DependencySimulation(link: interJitter).simulate(algorithm, bytes: bytes, ranks: n, runs: 5, seed: 9))
                }
            }
        }
    }

    /// Ring across hosts, every draw at its mean: the three phases' textbook sums.
    func testHierarchicalRingMeanIsTheSumOfItsThreePhases() {
        let (r, f) = (4, 2.0)
        let t = Topology(intra: Self.intra, inter: Self.inter, ranksPerHost: r, oversubscription: f)
        for hosts in [2, 3, 16] {
            let N = r * hosts
            for n: Double in [8, 65536, 4_194_304] {
                let R = Double(r), H = Double(hosts), g = 5e-5
                let inHost = 2 * (R - 1) * 2 + 2 * (R - 1) / R * n * 2e-5 + (R - 1) / R * n * g
                let across = 2 * (H - 1) * 10 + 2 * (H - 1) / H * (n / R) * 1e-4 * f + (H - 1) / H * (n / R) * g
                let expected = inHost + across
                XCTAssertEqual(CollectiveModel(topology: t).mean(.ring, bytes: n, ranks: N), expected, accuracy: expected * 1e-12, "H=\(hosts) n=\(n)")
            }
        }
    }

    func testWithZeroJitterTheHierarchicalSimulationEqualsTheMean() {
        let t = Topology(intra: Self.intra, inter: Self.inter, ranksPerHost: 4, oversubscription: 3)
        let m = CollectiveModel(topology: t), sim = DependencySimulation(topology: t)
        for algorithm in ModelAlgorithm.allCases {
            for N in [4, 8, 24, 64] {  // one host, two, six (not a power of two), sixteen
                for n: Double in [8, 1_048_576, 16_777_216] {
                    let s = sim.simulate(algorithm, bytes: n, ranks: N, runs: 2, seed: 1)
                    let mean = m.mean(algorithm, bytes: n, ranks: N)
                    XCTAssertEqual(s.mean, mean, accuracy: mean * 1e-12, "\(algorithm) N=\(N) n=\(n)")
                    XCTAssertEqual(s.p99, mean, accuracy: mean * 1e-12)
                }
            }
        }
    }

    /// F multiplies the inter-host β and nothing else: the difference it makes is exactly the
    /// across-hosts phase's byte term, and nothing where there is one host or no inter β.
    func testOversubscriptionScalesOnlyTheInterHostBetaTerm() {
        let (r, hosts) = (8, 16)
        let N = r * hosts, n = 8_388_608.0
        func mean(_ f: Double, _ algorithm: ModelAlgorithm, inter: LinkCosts = TopologyTests.inter, ranks: Int = N) -> Double {
            CollectiveModel(topology: Topology(intra: Self.intra, inter: inter, ranksPerHost: r, oversubscription: f)).mean(algorithm, bytes: n, ranks: ranks)
        }
        let ringBytes = 2 * Double(hosts - 1) / Double(hosts) * (n / Double(r)) * Self.inter.beta
        XCTAssertEqual(mean(3, .ring) - mean(1, .ring), 2 * ringBytes, accuracy: ringBytes * 1e-9)
        let rounds = log2(Double(hosts))
        XCTAssertEqual(mean(3, .rd) - mean(1, .rd), 2 * rounds * (n / Double(r)) * Self.inter.beta, accuracy: 1e-6)
        XCTAssertGreaterThan(mean(3, .tree), mean(1, .tree))
        var free = Self.inter
        free.beta = 0
        for algorithm in ModelAlgorithm.allCases {
            XCTAssertEqual(mean(3, algorithm, inter: free), mean(1, algorithm, inter: free), "\(algorithm): no inter β, nothing to scale")
            XCTAssertEqual(mean(3, algorithm, ranks: r), mean(1, algorithm, ranks: r), "\(algorithm): one host has no inter-host link")
        }
    }

    /// Pareto jitter on both links: the simulation lies above the mean (delays only add) and
    /// below the synchronous bound, for every algorithm across hosts.
    func testHierarchicalUnderJitterLiesBetweenTheMeanAndTheSynchronousBound() {
        var intra = Self.intra, inter = Self.inter
        intra.latency = EmpiricalDistribution(values: Self.pareto.values.map { $0 / 5 }, weights: Self.pareto.probabilities)
        inter.latency = Self.pareto
        let t = Topology(intra: intra, inter: inter, ranksPerHost: 8, oversubscription: 2)
        let m = CollectiveModel(topology: t), sim = DependencySimulation(topology: t)
        for algorithm in ModelAlgorithm.allCases {
            let s = sim.simulate(algorithm, bytes: 1_048_576, ranks: 512, runs: 10, seed: 4)
            XCTAssertGreaterThan(s.mean, m.mean(algorithm, bytes: 1_048_576, ranks: 512), "\(algorithm)")
            XCTAssertLessThan(s.mean, m.synchronousBound(algorithm, bytes: 1_048_576, ranks: 512), "\(algorithm)")
        }
    }

    /// A faster host-internal link makes the hierarchical all-reduce faster than the flat one
    /// over the inter-host link, at the same N.
    func testAFastIntraHostLinkBeatsTheFlatAllReduce() {
        let hierarchical = CollectiveModel(topology: Topology(intra: Self.intra, inter: Self.inter, ranksPerHost: 8))
        let flat = CollectiveModel(link: Self.inter)
        for algorithm in ModelAlgorithm.allCases {
            XCTAssertLessThan(hierarchical.mean(algorithm, bytes: 65536, ranks: 1024), flat.mean(algorithm, bytes: 65536, ranks: 1024), "\(algorithm)")
        }
    }

    func testRingAcrossManyHostsIsExtrapolatedFromFewerHosts() {
        var inter = Self.inter
        inter.latency = EmpiricalDistribution(values: [10, 30], weights: [0.9, 0.1])
        var sim = DependencySimulation(topology: Topology(intra: Self.intra, inter: inter, ranksPerHost: 4))
        sim.ringLimit = 64  // 32 hosts of 4 ranks
        XCTAssertEqual(sim.ringHostLimit, 32)
        let s = sim.simulate(.ring, bytes: 1_048_576, ranks: 4 * 500, runs: 2, seed: 5)
        XCTAssertEqual(s.extrapolatedFrom, 4 * 32)
        let m = CollectiveModel(topology: sim.topology)
        XCTAssertGreaterThan(s.mean, m.mean(.ring, bytes: 1_048_576, ranks: 2000))
        XCTAssertLessThan(s.mean, m.synchronousBound(.ring, bytes: 1_048_576, ranks: 2000))
        XCTAssertNil(sim.simulate(.ring, bytes: 1_048_576, ranks: 4 * 32, runs: 1, seed: 5).extrapolatedFrom)
    }
}
