/// Broadcast: every rank ends with the root's buffer. busbw factor 1 (each byte crosses
/// each link once in a pipelined chain).
enum Broadcast: CollectiveDefinition {
    static let reduces = false
    static func busBandwidthFactor(ranks n: Int) -> Double { 1 }
    static let busBandwidthFactorText = "1"
    static func inputCount(_ count: Int, ranks: Int) -> Int { count }
    static func outputCount(_ count: Int, ranks: Int) -> Int { count }
    static func usableCount(_ count: Int, ranks: Int) -> Int { count }
    static func input(rank: Int, index: Int, ranks: Int, op: ReduceOp, root: Int) -> Double {
        rank == root ? Double((index * 3) % 11 + 1) : 0
    }
    static func expected(rank: Int, index: Int, ranks: Int, count: Int, op: ReduceOp, root: Int) -> Double {
        Double((index * 3) % 11 + 1)
    }
}
