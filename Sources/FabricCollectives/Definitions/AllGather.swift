/// All-gather: rank r contributes piece r (count / n elements); every rank ends with all
/// pieces in rank order. busbw factor (n-1)/n.
enum AllGather: CollectiveDefinition {
    static let reduces = false
    static func busBandwidthFactor(ranks n: Int) -> Double { n > 0 ? Double(n - 1) / Double(n) : 0 }
    static let busBandwidthFactorText = "(n-1)/n"
    static func inputCount(_ count: Int, ranks: Int) -> Int { count / max(ranks, 1) }
    static func outputCount(_ count: Int, ranks: Int) -> Int { count }
    static func usableCount(_ count: Int, ranks: Int) -> Int { count / max(ranks, 1) * max(ranks, 1) }
    /// Piece r's values are those of global elements r*piece ..< (r+1)*piece.
    static func input(rank: Int, index: Int, ranks: Int, op: ReduceOp, root: Int) -> Double {
        Double((rank * 7 + index * 3) % 11 + 1) + Double(rank) * 16
    }
    static func expected(rank: Int, index: Int, ranks: Int, count: Int, op: ReduceOp, root: Int) -> Double {
        let piece = count / ranks
        return input(rank: index / piece, index: index % piece, ranks: ranks, op: op, root: root)
    }
}
