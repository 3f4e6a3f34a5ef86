/// Pipelined chain broadcast: root → root+1 → ... → root-1, chunk by chunk, so each link
/// carries the buffer once and large broadcasts run at link speed (busbw factor 1).
public struct ChainBroadcast: CollectiveAlgorithm {
    public let name = "chain"
    public let collective = CollectiveKind.broadcast
    public init() {}

    public func peers(rank: Int, size: Int) -> [Int] { Ring(rank: rank, size: size).peers }

    public func plan(_ comm: Communicator, _ a: CollectiveArguments) throws -> CollectivePlan {
        let ring = Ring(rank: comm.rank, size: comm.size)
        let es = a.type.size
        let position = (ring.rank - a.root + ring.size) % ring.size
        let isLast = position == ring.size - 1
        let whole = 0..<a.count
        let chunks = a.tuning.chunks(elements: a.count, elementSize: es)
        let places = (0..<chunks).map { whole.chunk($0, of: chunks) }.filter { !$0.isEmpty }.map {
            RingPlan.Transfer(region: a.output, offset: $0.lowerBound * es, bytes: $0.count * es)
        }
        let reducer = Reducer(type: a.type, op: a.op)
        if position == 0 {
            return RingPlan(comm, next: ring.next, reducer: reducer,
                            prologue: RingPlan.Copy(destination: a.output.base, source: a.input.base, count: a.count, type: a.type),
                            sends: ring.size > 1 ? places : [], steps: [],
                            incoming: ReceivePipeline(comm, entries: [], scratch: a.scratch, slotBytes: 0, slots: 1))
        }
        // Each chunk lands in place and goes on to the next rank (but from the last).
        return RingPlan(comm, next: ring.next, reducer: reducer, sends: [],
                        steps: places.map { RingPlan.Step(count: $0.bytes / es, forward: isLast ? nil : $0) },
                        incoming: ReceivePipeline(comm, entries: places.map {
                            .init(peer: ring.previous, bytes: $0.bytes, target: .region(a.output, offset: $0.offset))
                        }, scratch: a.scratch, slotBytes: 0, slots: a.tuning.slots))
    }
}
