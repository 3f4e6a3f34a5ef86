import FabricCore

/// Dissemination barrier over the data transport: ceil(log2 n) rounds; in round k each rank
/// signals rank + 2^k and waits for rank - 2^k. No rank leaves before all have arrived.
public struct DisseminationBarrier: CollectiveAlgorithm {
    public let name = "dissemination"
    public let collective = CollectiveKind.barrier
    public init() {}

    public func plan(_ comm: Communicator, _ a: CollectiveArguments) throws -> CollectivePlan {
        BarrierPlan(comm: comm, token: a.scratch)
    }

    public func peers(rank: Int, size: Int) -> [Int] {
        var result = Set<Int>()
        var d = 1
        while d < size {
            result.insert((rank + d) % size)
            result.insert((rank - d % size + size) % size)
            d *= 2
        }
        return result.subtracting([rank]).sorted()
    }

    /// `token` is any registered region of at least 16 bytes.
    public func run(_ comm: Communicator, token: MemoryRegion) throws {
        var d = 1
        while d < comm.size {
            let to = (comm.rank + d) % comm.size, from = (comm.rank - d % comm.size + comm.size) % comm.size
            let received = try comm.receive(from: from, token, offset: 8, bytes: 1)
            let sent = try comm.send(to: to, token, offset: 0, bytes: 1)
            try comm.wait(received)
            try comm.wait(sent)
            d *= 2
        }
    }
}

private final class BarrierPlan: CollectivePlan {
    let comm: Communicator
    let token: MemoryRegion

    init(comm: Communicator, token: MemoryRegion) {
        self.comm = comm
        self.token = token
    }

    func run() throws { try DisseminationBarrier().run(comm, token: token) }
}
