/// Ring reduce-scatter: the first phase of the ring all-reduce on its own, arranged so that
/// rank r ends with piece r. Partial sums use the full-size work buffer.
public struct RingReduceScatter: CollectiveAlgorithm {
    public let name = "ring"
    public let collective = CollectiveKind.reducescatter
    public init() {}

    public func peers(rank: Int, size: Int) -> [Int] { Ring(rank: rank, size: size).peers }

    public func plan(_ comm: Communicator, _ a: CollectiveArguments) throws -> CollectivePlan {
        let ring = Ring(rank: comm.rank, size: comm.size)
        let pieces = Partition(count: a.count, parts: ring.size)
        let mine = pieces.range(ring.rank)
        guard ring.size > 1 else { return RingPlan.copy(comm, a, from: a.input.base + mine.lowerBound * a.type.size, count: mine.count) }
        return ring.reduceScatter(comm, a, pieces: pieces, shift: -1, work: a.work, final: a.output,
                                  finalBase: mine.lowerBound * a.type.size)
    }
}
