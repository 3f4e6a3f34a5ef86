/// Ring all-reduce (reduce-scatter, then all-gather), as NCCL and Gloo's allreduce_ring:
/// each rank sends and receives 2(n-1)/n of the buffer, whatever n, so large messages
/// approach link bandwidth; latency grows with 2(n-1) steps.
public struct RingAllReduce: CollectiveAlgorithm {
    public let name = "ring"
    public let collective = CollectiveKind.allreduce
    public init() {}

    public func peers(rank: Int, size: Int) -> [Int] { Ring(rank: rank, size: size).peers }

    public func plan(_ comm: Communicator, _ a: CollectiveArguments) throws -> CollectivePlan {
        let ring = Ring(rank: comm.rank, size: comm.size)
        guard ring.size > 1 else { return RingPlan.copy(comm, a, from: a.input.base, count: a.count) }
        let pieces = Partition(count: a.count, parts: ring.size)
        // Partial sums and final pieces go to the output, and the all-gather runs in the same
        // pipeline: rank r finishes piece r+1 and circulates it.
        return ring.reduceScatter(comm, a, pieces: pieces, shift: 0, work: a.output, final: a.output, finalBase: 0, gather: true)
    }
}
