/// Reduce-scatter: the full buffer is reduced across ranks and rank r keeps piece r
/// (count / n elements). busbw factor (n-1)/n.
enum ReduceScatter: CollectiveDefinition {
    static let reduces = true
    static func busBandwidthFactor(ranks n: Int) -> Double { n > 0 ? Double(n - 1) / Double(n) : 0 }
    static let busBandwidthFactorText = "(n-1)/n"
    static func inputCount(_ count: Int, ranks: Int) -> Int { count }
    static func outputCount(_ count: Int, ranks: Int) -> Int { count / max(ranks, 1) }
    static func usableCount(_ count: Int, ranks: Int) -> Int { count / max(ranks, 1) * max(ranks, 1) }
    static func input(rank: Int, index: Int, ranks: Int, op: ReduceOp, root: Int) -> Double { op.input(rank: rank, index: index) }
    static func expected(rank: Int, index: Int, ranks: Int, count: Int, op: ReduceOp, root: Int) -> Double {
        op.expected(ranks: ranks, index: rank * (count / ranks) + index)
    }
}
