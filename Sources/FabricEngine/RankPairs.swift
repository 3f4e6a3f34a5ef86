/// Point-to-point pairing, as osu_multi_lat does: rank i < n/2 drives rank i + n/2, so
/// with ranks placed in order across hosts every pair crosses the fabric. With an odd
/// world size the last rank sits out.
public enum RankPairs {
    public struct Role: Equatable, Sendable {
        public let peer: Int
        public let initiator: Bool
    }

    public static func role(of rank: Int, worldSize n: Int) -> Role? {
        let half = n / 2
        if rank < half { return Role(peer: rank + half, initiator: true) }
        if rank < 2 * half { return Role(peer: rank - half, initiator: false) }
        return nil
    }

    public static func initiators(worldSize n: Int) -> [Int] { Array(0..<(n / 2)) }
}
