import FabricResults

/// Rails of a rail-optimized fabric: NIC i of every node hangs off the leaf switch of rail i,
/// and local rank i drives NIC i, so a rank's rail is its local rank.
enum Rails {
    /// Each rank's rail: its local rank when the launcher said, else its place among the ranks
    /// of its host in rank order.
    static func of(_ placements: [RankPlacement]) -> [Int] {
        var seen: [String: Int] = [:]
        return placements.map { p in
            let ordinal = seen[p.host, default: 0]
            seen[p.host] = ordinal + 1
            return p.localRank ?? ordinal
        }
    }

    /// The pairs [a, b], a < b, on one rail and different hosts, rail by rail.
    static func links(_ placements: [RankPlacement]) -> [[Int]] {
        let rails = of(placements)
        let n = placements.count
        return Set(rails).sorted().flatMap { rail in
            (0..<n).filter { rails[$0] == rail }.flatMap { a in
                (0..<n).filter { b in b > a && rails[b] == rail && placements[b].host != placements[a].host }.map { [a, $0] }
            }
        }
    }
}
