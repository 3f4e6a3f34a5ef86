import Foundation
import FabricResults

/// Rails of a rail-optimized fabric: NIC i of every node hangs off the leaf switch of rail i.
/// A rank's rail is its NIC: ranks on NICs of the same name (mlx5_3 on every node) share a
/// rail, numbered by the names in numeric order. Where every rank of every host uses one NIC
/// name (one NIC a host, or TCP over one interface), it is the rank's local rank.
enum Rails {
    static func of(_ placements: [RankPlacement]) -> [Int] {
        let names = Set(placements.map(\.nic))
        if names.count > 1 {
            let ordered = names.sorted { $0.compare($1, options: .numeric) == .orderedAscending }
            let index = Dictionary(uniqueKeysWithValues: ordered.enumerated().map { ($0.element, $0.offset) })
            return placements.map { index[$0.nic]! }
        }
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
