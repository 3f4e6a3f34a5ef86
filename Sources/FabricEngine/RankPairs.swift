import FabricResults
import FabricCore
import Foundation

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

/// Other pairs than rank i with i + N/2, measured all at once (disjoint: a rank in one pair
/// at most); `label` keeps their store keys apart from other sweeps of the same job.
public struct Pairing: Sendable, Equatable {
    public var label: String
    /// [initiator, responder] each.
    public var pairs: [[Int]]
    public init(label: String, pairs: [[Int]]) {
        self.label = label
        self.pairs = pairs
    }
}

/// The loop every pairwise benchmark shares: connect each rank to its partner, then per
/// size: line all ranks up, let each pair measure, send the initiators' reports to rank 0
/// through the rendezvous store, and let rank 0 combine them into one result.
struct PairwiseSweep<Report: Codable> {
    let job: Job
    let name: String
    let role: RankPairs.Role?
    /// [initiator, responder], in the order rank 0 combines their reports.
    let pairs: [[Int]]
    /// Rank 0 only: each rank's host, for naming pairs.
    let hosts: [String]

    /// `pairing` nil: rank i with rank i + N/2.
    init(job: Job, name: String, pairing: Pairing? = nil) throws {
        self.job = job
        let half = job.worldSize / 2
        pairs = pairing?.pairs ?? (0..<half).map { [$0, $0 + half] }
        self.name = pairing.map { "\(name)/\($0.label)" } ?? name
        role = pairing == nil ? RankPairs.role(of: job.rank, worldSize: job.worldSize)
            : PairSchedule.role(of: job.rank, in: pairs.map { ($0[0], $0[1]) })
        if let role { try job.transport.connect(to: [role.peer]) }
        hosts = job.rank == 0 ? try job.hostNames() : []
    }

    /// `measure` runs on every paired rank and returns the initiator's report (nil on the
    /// responder); `combine` runs on rank 0 with the reports of pairs 0, 1, ... in order.
    func run(sizes: [Int], measure: (_ size: Int, _ role: RankPairs.Role) throws -> Report?,
             combine: (_ size: Int, _ reports: [(pair: PairResult, report: Report)]) throws -> PointToPointResult,
             onResult: (PointToPointResult) throws -> Void) throws {
        let initiators = pairs.map { $0[0] }
        for (index, size) in sizes.enumerated() {
            try job.barrier("\(name)/\(index)")
            let report = try role.flatMap { try measure(size, $0) }
            guard let decoded = try job.control.gather("\(name)/\(index)", report, from: initiators, what: "\(name) report") else { continue }
            let reports = zip(pairs, decoded).map { pair, report -> (pair: PairResult, report: Report) in
                (PairResult(ranks: pair, hosts: pair.map { hosts[$0] }), report)
            }
            try onResult(combine(size, reports))
        }
    }
}

/// Every pair of ranks exactly once, in rounds of disjoint pairs so no rank is in two
/// measurements at a time (the circle method of round-robin tournaments: n − 1 rounds for
/// even n, n for odd n, where one rank sits out each round). In each pair the lower rank
/// initiates.
public enum PairSchedule {
    public static func rounds(worldSize n: Int) -> [[(Int, Int)]] {
        guard n >= 2 else { return [] }
        let m = n % 2 == 0 ? n : n + 1  // rank m − 1 is a stand-in "bye" when n is odd
        return (0..<(m - 1)).map { r in
            // Rank m − 1 stays put; the others rotate by one position a round.
            let circle = [m - 1] + (0..<(m - 1)).map { ($0 + r) % (m - 1) }
            return (0..<(m / 2)).compactMap { i in
                let a = circle[i], b = circle[m - 1 - i]
                return a < n && b < n ? (min(a, b), max(a, b)) : nil
            }
        }
    }

    /// Given pairs only, in as few rounds as a greedy packing finds: each pair goes into the
    /// first round where neither of its ranks is busy (one pair a round when `serial`).
    public static func rounds(of pairs: [(Int, Int)], serial: Bool) -> [[(Int, Int)]] {
        if serial { return pairs.map { [$0] } }
        var rounds: [[(Int, Int)]] = []
        var busy: [Set<Int>] = []
        for (a, b) in pairs {
            if let r = busy.firstIndex(where: { !$0.contains(a) && !$0.contains(b) }) {
                rounds[r].append((a, b))
                busy[r].formUnion([a, b])
            } else {
                rounds.append([(a, b)])
                busy.append([a, b])
            }
        }
        return rounds
    }

    /// One pair a round: nothing else on the fabric while a pair measures.
    public static func serial(worldSize n: Int) -> [[(Int, Int)]] {
        rounds(worldSize: n).flatMap { $0.map { [$0] } }
    }

    public static func role(of rank: Int, in round: [(Int, Int)]) -> RankPairs.Role? {
        for (a, b) in round {
            if rank == a { return RankPairs.Role(peer: b, initiator: true) }
            if rank == b { return RankPairs.Role(peer: a, initiator: false) }
        }
        return nil
    }
}
