import FabricCore

/// Recursive-doubling all-reduce (MPICH's choice for small messages): log2(n) rounds in
/// which partners exchange the whole buffer and both reduce, so a 2-rank all-reduce is a
/// single exchange. Ranks beyond the largest power of two p first hand their data to a
/// partner and get the result back at the end. Bandwidth-poor (each round moves the whole
/// buffer), so `auto` uses it only where it measures fastest: small messages.
public struct RecursiveDoublingAllReduce: CollectiveAlgorithm {
    public let name = "rd"
    public let collective = CollectiveKind.allreduce
    public init() {}

    /// With n = p + extra: ranks below 2·extra pair up (even hands over to odd); the odd ones
    /// and ranks from 2·extra up take part as "virtual" ranks 0..<p.
    struct Layout {
        let rank: Int
        let size: Int
        let p: Int
        let extra: Int

        init(rank: Int, size: Int) {
            self.rank = rank
            self.size = size
            var p = 1
            while p * 2 <= size { p *= 2 }
            self.p = p
            extra = size - p
        }

        var folded: Bool { rank < 2 * extra && rank % 2 == 0 }
        var virtualRank: Int { rank < 2 * extra ? rank / 2 : rank - extra }
        func realRank(_ v: Int) -> Int { v < extra ? 2 * v + 1 : v + extra }
        var foldPartner: Int? { rank < 2 * extra ? (rank % 2 == 0 ? rank + 1 : rank - 1) : nil }
        /// The partner of round `k` (0..<rounds); folded ranks have no rounds.
        var rounds: Int { folded ? 0 : p.trailingZeroBitCount }
        func partner(round k: Int) -> Int { realRank(virtualRank ^ (1 << k)) }
    }

    public func peers(rank: Int, size: Int) -> [Int] {
        let l = Layout(rank: rank, size: size)
        return ((0..<l.rounds).map(l.partner) + (l.foldPartner.map { [$0] } ?? [])).sorted()
    }

    public func plan(_ comm: Communicator, _ a: CollectiveArguments) throws -> CollectivePlan {
        RecursiveDoublingPlan(comm: comm, a: a, layout: Layout(rank: comm.rank, size: comm.size), reduce: Reducer(type: a.type, op: a.op))
    }
}

/// Nothing to work out ahead beyond the layout: each round is one exchange through scratch.
private final class RecursiveDoublingPlan: CollectivePlan {
    let comm: Communicator
    let a: CollectiveArguments
    let layout: RecursiveDoublingAllReduce.Layout
    let reduce: Reducer

    init(comm: Communicator, a: CollectiveArguments, layout: RecursiveDoublingAllReduce.Layout, reduce: Reducer) {
        self.comm = comm
        self.a = a
        self.layout = layout
        self.reduce = reduce
    }

    func run() throws {
        let l = layout, es = a.type.size
        copyElements(a.output.base, a.input.base, count: a.count, type: a.type)
        // Whole-buffer rounds go through scratch, a segment at a time when the buffer is larger.
        let segment = max(1, a.scratch.length / es)
        var start = 0
        while start < a.count {
            let n = min(segment, a.count - start), offset = start * es, bytes = n * es
            if let partner = l.foldPartner {
                if l.folded {
                    try comm.wait(try comm.send(to: partner, a.output, offset: offset, bytes: bytes))
                } else {
                    try comm.wait(try comm.receive(from: partner, a.scratch, offset: 0, bytes: bytes))
                    reduce(a.output.base + offset, a.output.base + offset, a.scratch.base, count: n)
                }
            }
            for k in 0..<l.rounds {
                let partner = l.partner(round: k)
                let received = try comm.receive(from: partner, a.scratch, offset: 0, bytes: bytes)
                let sent = try comm.send(to: partner, a.output, offset: offset, bytes: bytes)
                try comm.wait(received)
                try comm.wait(sent)
                reduce(a.output.base + offset, a.output.base + offset, a.scratch.base, count: n)
            }
            if let partner = l.foldPartner {
                if l.folded {
                    try comm.wait(try comm.receive(from: partner, a.output, offset: offset, bytes: bytes))
                } else {
                    try comm.wait(try comm.send(to: partner, a.output, offset: offset, bytes: bytes))
                }
            }
            start += n
        }
    }
}
