/// Barrier: no data; what is measured is how long the last rank to arrive keeps the others.
/// Size and bandwidth are 0; the time is the barrier's latency.
enum Barrier: CollectiveDefinition {
    static let reduces = false
    static func busBandwidthFactor(ranks n: Int) -> Double { 0 }
    static let busBandwidthFactorText = "0 (no data)"
    static func inputCount(_ count: Int, ranks: Int) -> Int { 0 }
    static func outputCount(_ count: Int, ranks: Int) -> Int { 0 }
    static func usableCount(_ count: Int, ranks: Int) -> Int { 0 }
    static func input(rank: Int, index: Int, ranks: Int, op: ReduceOp, root: Int) -> Double { 0 }
    static func expected(rank: Int, index: Int, ranks: Int, count: Int, op: ReduceOp, root: Int) -> Double { 0 }
}
