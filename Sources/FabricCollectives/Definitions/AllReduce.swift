/// All-reduce: every rank ends with the reduction of every rank's buffer.
/// busbw factor 2(n-1)/n: a ring moves each byte through reduce-scatter and all-gather.
enum AllReduce: CollectiveDefinition {
    static let reduces = true
    static func busBandwidthFactor(ranks n: Int) -> Double { n > 0 ? 2 * Double(n - 1) / Double(n) : 0 }
    static let busBandwidthFactorText = "2(n-1)/n"
    static func inputCount(_ count: Int, ranks: Int) -> Int { count }
    static func outputCount(_ count: Int, ranks: Int) -> Int { count }
    static func usableCount(_ count: Int, ranks: Int) -> Int { count }
    static func input(rank: Int, index: Int, ranks: Int, op: ReduceOp, root: Int) -> Double { op.input(rank: rank, index: index) }
    static func expected(rank: Int, index: Int, ranks: Int, count: Int, op: ReduceOp, root: Int) -> Double {
        op.expected(ranks: ranks, index: index)
    }
}
