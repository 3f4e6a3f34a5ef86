/// Ring all-gather: the second phase of the ring all-reduce on its own.
public struct RingAllGather: CollectiveAlgorithm {
    public let name = "ring"
    public let collective = CollectiveKind.allgather
    public init() {}

    public func peers(rank: Int, size: Int) -> [Int] { Ring(rank: rank, size: size).peers }

    public func plan(_ comm: Communicator, _ a: CollectiveArguments) throws -> CollectivePlan {
        let ring = Ring(rank: comm.rank, size: comm.size)
        let pieces = Partition(count: a.count, parts: ring.size)
        let mine = pieces.range(ring.rank)
        guard ring.size > 1 else { return RingPlan.copy(comm, a, from: a.input.base, count: mine.count) }
        // In place, the input already is this rank's piece of the output.
        let own = RingPlan.Copy(destination: a.output.base + mine.lowerBound * a.type.size, source: a.input.base, count: mine.count, type: a.type)
        return ring.allGather(comm, a, pieces: pieces, own: ring.rank, output: a.output, prologue: own)
    }
}
