/// The collectives FabricBench measures. Each one's definition (what -b/-e size means,
/// nccl-tests' bus-bandwidth factor, the inputs and the exact expected output) lives in
/// its own file in this folder, beside nothing else.
public enum CollectiveKind: String, CaseIterable, Sendable, Codable {
    case allreduce
    case reducescatter
    case allgather
    case broadcast
    case barrier

    var definition: CollectiveDefinition.Type {
        switch self {
        case .allreduce: return AllReduce.self
        case .reducescatter: return ReduceScatter.self
        case .allgather: return AllGather.self
        case .broadcast: return Broadcast.self
        case .barrier: return Barrier.self
        }
    }

    /// busbw = algbw × factor: what each rank's link carries relative to the data size,
    /// so numbers compare with the link's peak whatever the rank count (nccl-tests' PERFORMANCE.md).
    public func busBandwidthFactor(ranks: Int) -> Double { definition.busBandwidthFactor(ranks: ranks) }
    /// The same factor as a formula in n, for table notes ("2(n-1)/n").
    public var busBandwidthFactorText: String { definition.busBandwidthFactorText }

    /// Whether the collective reduces (has a meaningful --op).
    public var reduces: Bool { definition.reduces }

    /// Elements this rank's input and output hold for a full-buffer count.
    public func inputCount(_ count: Int, ranks: Int) -> Int { definition.inputCount(count, ranks: ranks) }
    public func outputCount(_ count: Int, ranks: Int) -> Int { definition.outputCount(count, ranks: ranks) }

    /// The full-buffer count actually used: rounded down to a multiple of the rank count
    /// where each rank owns an equal piece (as nccl-tests does).
    public func usableCount(_ count: Int, ranks: Int) -> Int { definition.usableCount(count, ranks: ranks) }

    /// Input value of `rank` at its input element `index`.
    public func input(rank: Int, index: Int, ranks: Int, op: ReduceOp, root: Int) -> Double {
        definition.input(rank: rank, index: index, ranks: ranks, op: op, root: root)
    }

    /// Expected output value of `rank` at its output element `index`.
    public func expected(rank: Int, index: Int, ranks: Int, count: Int, op: ReduceOp, root: Int) -> Double {
        definition.expected(rank: rank, index: index, ranks: ranks, count: count, op: op, root: root)
    }
}

protocol CollectiveDefinition {
    static var reduces: Bool { get }
    static func busBandwidthFactor(ranks: Int) -> Double
    static var busBandwidthFactorText: String { get }
    static func inputCount(_ count: Int, ranks: Int) -> Int
    static func outputCount(_ count: Int, ranks: Int) -> Int
    static func usableCount(_ count: Int, ranks: Int) -> Int
    static func input(rank: Int, index: Int, ranks: Int, op: ReduceOp, root: Int) -> Double
    static func expected(rank: Int, index: Int, ranks: Int, count: Int, op: ReduceOp, root: Int) -> Double
}
