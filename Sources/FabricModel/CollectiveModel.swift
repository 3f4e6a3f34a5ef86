import FabricCollectives
import FabricMeasure
import Foundation

/// What the model knows of one kind of link (within a host, or between hosts): a message of
/// m bytes takes a draw from `latency` (the one-way time of a small message, its jitter
/// included) plus m·β, and reducing m bytes takes m·γ.
public struct LinkCosts: Sendable {
    /// One-way small-message time, µs.
    public var latency: EmpiricalDistribution
    /// µs per byte on the wire.
    public var beta: Double
    /// µs per byte reduced.
    public var gamma: Double

    public init(latency: EmpiricalDistribution, beta: Double, gamma: Double) {
        self.latency = latency
        self.beta = beta
        self.gamma = gamma
    }

    /// α: the mean one-way time of a small message.
    public var alpha: Double { latency.mean }
}

/// The all-reduce algorithms as FabricCollectives runs them, as step structures the three
/// methods share: the mean (α–β–γ: every draw is its mean), the synchronous bound (every
/// step waits for the slowest of the N ranks' draws), and the dependency simulation (each
/// rank's step starts when the data it waits for has arrived).
public enum ModelAlgorithm: String, CaseIterable, Sendable {
    case ring, tree, rd

    /// Steps every rank takes one after another, and the bytes each moves and reduces, for
    /// `bytes` over `ranks`. Ring: reduce-scatter then all-gather, N−1 steps each, a piece of
    /// n/N bytes per step. Recursive doubling: lg p rounds of the whole buffer, plus a fold in
    /// and out when N is not a power of two. Tree: each half of the buffer up and down a tree
    /// of depth d in c chunks, pipelined: d + c − 1 steps each way.
    public func steps(bytes n: Double, ranks: Int, chunkBytes: Int = PipelineTuning().chunkBytes) -> [Step] {
        guard ranks > 1 else { return [] }
        let N = Double(ranks)
        switch self {
        case .ring:
            let piece = n / N
            return Array(repeating: Step(bytes: piece, reduced: piece), count: ranks - 1)
                + Array(repeating: Step(bytes: piece, reduced: 0), count: ranks - 1)
        case .rd:
            var p = 1, rounds = 0
            while p * 2 <= ranks { p *= 2; rounds += 1 }
            let fold = ranks > p ? [Step(bytes: n, reduced: n)] : []
            let unfold = ranks > p ? [Step(bytes: n, reduced: 0)] : []
            return fold + Array(repeating: Step(bytes: n, reduced: n), count: rounds) + unfold
        case .tree:
            let half = n / 2
            let chunks = max(1, Int((half / Double(chunkBytes)).rounded(.up)))
            let chunk = half / Double(chunks)
            let d = Self.treeDepth(ranks)
            let pipelined = d + chunks - 1
            return Array(repeating: Step(bytes: chunk, reduced: 2 * chunk), count: pipelined)
                + Array(repeating: Step(bytes: chunk, reduced: 0), count: pipelined)
        }
    }

    public struct Step: Sendable, Equatable {
        /// Bytes a rank sends (and receives) in the step.
        public var bytes: Double
        /// Bytes it reduces after receiving.
        public var reduced: Double

        /// The sends the step's bytes go in: one per pipeline chunk (the ring sends a piece
        /// chunk by chunk). With the sender holding its delays, each waits its own draw.
        func sends(chunkBytes: Int) -> Int { max(1, Int((bytes / Double(max(1, chunkBytes))).rounded(.up))) }
    }

    /// The deeper of the two trees (edges from root to the farthest leaf).
    static func treeDepth(_ n: Int) -> Int {
        func depth(_ p: Int) -> Int { DoubleBinaryTree.children(ofPosition: p, size: n).map { 1 + depth($0) }.max() ?? 0 }
        return depth(0)
    }
}

/// The closed forms: mean and synchronous bound, from the step structure of each phase
/// (one phase, the algorithm over every rank, when the topology is flat).
public struct CollectiveModel: Sendable {
    public var topology: Topology
    public var chunkBytes: Int
    public init(topology: Topology, chunkBytes: Int = PipelineTuning().chunkBytes) {
        self.topology = topology
        self.chunkBytes = chunkBytes
    }
    public init(link: LinkCosts) { self.init(topology: .flat(link)) }

    public var link: LinkCosts { topology.inter }

    /// α–β–γ: ring phases step by step, each step α + m·β + r·γ (Thakur, Rabenseifner and
    /// Gropp's form); recursive doubling and the pipelined tree by their own recurrences with
    /// every latency at α: the tree's chunks overlap, and with N not a power of two the ranks
    /// that folded in start late while the others wait, which no per-step sum captures (for
    /// a power of two it is lg N·(α + nβ + nγ)). Phases follow one another: with every draw at
    /// its mean all ranks finish a phase together.
    public func mean(_ algorithm: ModelAlgorithm, bytes: Double, ranks: Int) -> Double {
        topology.phases(algorithm, bytes: bytes, ranks: ranks, chunkBytes: chunkBytes).reduce(0) { total, phase in
            let link = topology.link(phase.level), alpha = link.alpha
            if phase.algorithm == .ring {
                return total + phase.steps.reduce(0) { $0 + alpha * draws(phase, $1) + $1.bytes * link.beta + $1.reduced * link.gamma }
            }
            var times = [Double](repeating: 0, count: phase.group)
            DependencySimulation.advance(phase, link: link, chunkBytes: chunkBytes, delaySite: topology.delaySite, times: &times) { alpha }
            return total + (times.max() ?? 0)
        }
    }

    /// Each step ends when the slowest of the N ranks' draws does: E[max of N draws] in place
    /// of α. An upper bound for algorithms whose ranks do not all wait for all (the ring
    /// absorbs a late rank's delay along the ring; the simulation shows by how much).
    public func synchronousBound(_ algorithm: ModelAlgorithm, bytes: Double, ranks: Int) -> Double {
        stepSum(algorithm, bytes: bytes, ranks: ranks) { $0.latency.expectedMaximum(of: Double(ranks)) }
    }

    /// Every step at `latency(link)` plus its bytes' costs, over every phase.
    func stepSum(_ algorithm: ModelAlgorithm, bytes: Double, ranks: Int, latency: (LinkCosts) -> Double) -> Double {
        topology.phases(algorithm, bytes: bytes, ranks: ranks, chunkBytes: chunkBytes).reduce(0) { total, phase in
            let link = topology.link(phase.level), each = latency(link)
            return total + phase.steps.reduce(0) { $0 + each * draws(phase, $1) + $1.bytes * link.beta + $1.reduced * link.gamma }
        }
    }

    /// Latency draws a step waits one after another: one, or, when the sender holds its delays,
    /// one per send of the ring's piece (the tree's and recursive doubling's steps go through
    /// the simulation's recurrence, which draws per send itself).
    func draws(_ phase: Topology.Phase, _ step: ModelAlgorithm.Step) -> Double {
        guard topology.delaySite == .sender, phase.algorithm == .ring else { return 1 }
        return Double(step.sends(chunkBytes: chunkBytes))
    }
}
