import FabricCollectives
import FabricMeasure
import FabricResults
import Foundation

/// The inputs of a prediction: the links' costs, how ranks sit on hosts, and where the
/// figures came from.
public struct ModelProfile: Sendable {
    public var topology: Topology
    /// The message size whose latency distribution is the per-message draw.
    public var latencyBytes: Int
    /// How β was found: "bandwidth …", "latency slope …", or the calibration's figure.
    public var betaSource: String
    /// How the intra-host link was found, when it differs from the inter-host one.
    public var intraSource: String?
    /// How γ was found: the reduction kernel timed (by calibrate, or on this host), or fitted
    /// to an all-reduce result.
    public var gammaSource: String

    public init(topology: Topology, latencyBytes: Int, betaSource: String, intraSource: String? = nil, gammaSource: String) {
        self.topology = topology
        self.latencyBytes = latencyBytes
        self.betaSource = betaSource
        self.intraSource = intraSource
        self.gammaSource = gammaSource
    }

    /// Both links' γ (one reduction speed: the ranks' own).
    public mutating func setGamma(_ gamma: Double, source: String) {
        topology.intra.gamma = gamma
        topology.inter.gamma = gamma
        gammaSource = source
    }

    public init(link: LinkCosts, latencyBytes: Int, betaSource: String, gammaSource: String) {
        self.init(topology: .flat(link), latencyBytes: latencyBytes, betaSource: betaSource, gammaSource: gammaSource)
    }

    /// The inter-host link (the only one of a flat profile).
    public var link: LinkCosts { topology.inter }

    /// From a latency sweep: the smallest size's one-way distribution is the per-message
    /// latency; β is the Theil–Sen slope (median of pairwise slopes: robust to a noisy size)
    /// of the p50 against size, unless a bandwidth figure (GB/s) is given.
    public static func fit(latency sizes: [(bytes: Int, histogram: LatencyHistogram)], bandwidthGbps: Double?, gamma: Double, gammaSource: String) throws -> ModelProfile {
        let (link, bytes, source) = try fitLink(latency: sizes, bandwidthGbps: bandwidthGbps, gamma: gamma)
        return ModelProfile(link: link, latencyBytes: bytes, betaSource: source, gammaSource: gammaSource)
    }

    /// One link's costs from its latency sweep and, where measured, its bandwidth (GB/s).
    public static func fitLink(latency sizes: [(bytes: Int, histogram: LatencyHistogram)], bandwidthGbps: Double?, gamma: Double) throws -> (LinkCosts, Int, String) {
        let usable = sizes.filter { !$0.histogram.isEmpty }.sorted { $0.bytes < $1.bytes }
        guard let smallest = usable.first else { throw ModelInputError("the latency results hold no histogram: run `fabricbench latency` with a size sweep (-b 8 -e 1M) and --json") }
        let beta: Double, source: String
        if let bandwidthGbps, bandwidthGbps > 0 {
            beta = 1 / (bandwidthGbps * 1000)  // 1 GB/s = 1,000 bytes per µs
            source = "bandwidth \(String(format: "%.3g", bandwidthGbps)) GB/s"
        } else {
            let points = usable.map { (Double($0.bytes), Double($0.histogram.value(atPercentile: 50)) / 1000) }
            var slopes: [Double] = []
            for i in points.indices { for j in points.indices where points[j].0 > points[i].0 { slopes.append((points[j].1 - points[i].1) / (points[j].0 - points[i].0)) } }
            guard !slopes.isEmpty else { throw ModelInputError("one latency size gives no bandwidth: sweep several sizes (-b 8 -e 1M -f 4), or give a bandwidth result") }
            beta = max(0, RobustStatistics.median(slopes))
            source = "latency slope (\(usable.count) sizes)"
        }
        return (LinkCosts(latency: EmpiricalDistribution(smallest.histogram), beta: beta, gamma: gamma), smallest.bytes, source)
    }

    /// The three methods for each algorithm, size and rank count.
    /// `elementBytes`: the size of one element of the reduced type.
    public func predict(algorithms: [ModelAlgorithm], sizes: [Int], ranks: [Int], elementBytes: Int = 4, runs: Int = 20, seed: UInt64 = 1) -> [Prediction] {
        let model = CollectiveModel(topology: topology)
        var simulation = DependencySimulation(topology: topology)
        simulation.elementBytes = elementBytes
        func fastest(_ l: LinkCosts) -> LinkCosts {
            LinkCosts(latency: EmpiricalDistribution(values: [l.latency.values.first ?? 0], weights: [1]), beta: l.beta, gamma: l.gamma)
        }
        var floorTopology = topology
        floorTopology.intra = fastest(topology.intra)
        floorTopology.inter = fastest(topology.inter)
        let floor = CollectiveModel(topology: floorTopology)
        var out: [Prediction] = []
        for algorithm in algorithms {
            for n in ranks {
                // Fewer runs where one run is large; at least three for a p50.
                let budget = max(3, min(runs, Int(2e7 / max(simulation.work(algorithm, ranks: n), 1))))
                // Which links the N ranks use, for whether their histograms support N draws.
                let r = min(topology.ranksPerHost, n)
                let used = (r > 1 ? [topology.intra] : []) + (topology.hosts(n) > 1 ? [topology.inter] : [])
                for bytes in sizes {
                    let b = Double(bytes)
                    let s = simulation.simulate(algorithm, bytes: b, ranks: n, runs: budget, seed: seed &+ UInt64(n) &* 31 &+ UInt64(bytes))
                    let mean = model.mean(algorithm, bytes: b, ranks: n)
                    let upper = model.stepSum(algorithm, bytes: b, ranks: n) { $0.latency.maximumQuantile(0.99, of: Double(n)) }
                    out.append(Prediction(algo: algorithm.rawValue, bytes: bytes, ranks: n, meanUs: s.mean, p50Us: s.p50, p99Us: s.p99,
                                          lowerUs: floor.mean(algorithm, bytes: b, ranks: n), upperUs: max(upper, s.p99),
                                          alphaBetaUs: mean, synchronousUs: model.synchronousBound(algorithm, bytes: b, ranks: n),
                                          amplification: mean > 0 ? s.p99 / mean : 1,
                                          extrapolated: s.extrapolatedFrom != nil || used.contains { !$0.latency.supportsMaximumQuantile(0.99, of: Double(n)) }))
                }
            }
        }
        return out
    }
}

public struct ModelInputError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
