import FabricCollectives
import FabricMeasure

/// One size of a measured all-reduce (`fabricbench allreduce --json`): the algorithm that ran,
/// on how many ranks, and its mean time per call.
public struct MeasuredAllReduce: Sendable, Equatable {
    public var algorithm: ModelAlgorithm
    public var ranks: Int
    public var bytes: Int
    public var meanUs: Double

    public init(algorithm: ModelAlgorithm, ranks: Int, bytes: Int, meanUs: Double) {
        self.algorithm = algorithm
        self.ranks = ranks
        self.bytes = bytes
        self.meanUs = meanUs
    }
}

/// γ from measured all-reduce times rather than from the reduction kernel timed alone on the
/// host running `model`: the cluster's own hosts, and whatever else a reducing step costs that
/// α and β do not hold (cache misses on data just received, the copy out of the socket).
public struct ReductionFit: Sendable, Equatable {
    /// µs per byte reduced: the median over the sizes used.
    public var gamma: Double
    /// The smallest and largest of the per-size values: how well one γ explains every size.
    public var spread: ClosedRange<Double>
    /// The sizes the fit used.
    public var sizes: [MeasuredAllReduce]

    /// Sizes from this up: below it the reduction is a small share of the time and α's noise
    /// decides the fitted value.
    public static let smallestBytes = 64 << 10

    /// Per size, the γ at which the α–β–γ mean of the size's algorithm and rank count (one
    /// level: the run's ranks over `link`) equals the measured mean, 0 where α and β alone
    /// already reach it; then the median. The mean grows with γ (the tree's through its
    /// pipeline's maximum, not linearly), so each size is solved by bisection.
    public static func fit(_ measured: [MeasuredAllReduce], link: LinkCosts, chunkBytes: Int = PipelineTuning().chunkBytes) throws -> ReductionFit {
        let used = measured.filter { $0.bytes >= smallestBytes && $0.ranks >= 2 && $0.meanUs.isFinite && $0.meanUs > 0 }
        guard !used.isEmpty else {
            throw ModelInputError("the all-reduce result has no size of \(smallestBytes >> 10) KiB or more on 2 or more ranks to fit γ to: run `fabricbench allreduce --np 2` (or more) with -e \(smallestBytes >> 10)K or more")
        }
        let values = used.map { m -> Double in
            var costs = link
            func mean(_ gamma: Double) -> Double {
                costs.gamma = gamma
                return CollectiveModel(topology: .flat(costs), chunkBytes: chunkBytes).mean(m.algorithm, bytes: Double(m.bytes), ranks: m.ranks)
            }
            guard mean(0) < m.meanUs else { return 0 }
            // A γ too large: every byte reduced in the whole measured time (at least one step
            // reduces n/N bytes, so the mean there is above the measured one).
            var low = 0.0, high = m.meanUs / Double(m.bytes) * Double(m.ranks)
            var doublings = 0
            while mean(high) < m.meanUs && doublings < 200 { high *= 2; doublings += 1 }
            for _ in 0..<60 {
                let middle = (low + high) / 2
                if mean(middle) < m.meanUs { low = middle } else { high = middle }
            }
            return (low + high) / 2
        }
        return ReductionFit(gamma: RobustStatistics.median(values), spread: values.min()!...values.max()!, sizes: used)
    }
}
