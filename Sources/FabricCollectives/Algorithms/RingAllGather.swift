/// Ring all-gather: the second phase of the ring all-reduce on its own.
public struct RingAllGather: CollectiveAlgorithm {
    public let name = "ring"
    public let collective = CollectiveKind.allgather
    public init() {}

    public func peers(rank: Int, size: Int) -> [Int] { Ring(rank: rank, size: size).peers }

    public func run(_ comm: Communicator, _ a: CollectiveArguments) throws {
        let ring = Ring(rank: comm.rank, size: comm.size)
        let pieces = Partition(count: a.count, parts: ring.size)
        let mine = pieces.range(ring.rank)
        // In place, the input already is this rank's piece of the output.
        copyElements(a.output.base + mine.lowerBound * a.type.size, a.input.base, count: mine.count, type: a.type)
        guard ring.size > 1 else { return }
        try ring.allGather(comm, a, pieces: pieces, own: ring.rank, output: a.output)
        try comm.waitAll()
    }
}
