/// Pipelined chain broadcast: root → root+1 → ... → root-1, chunk by chunk, so each link
/// carries the buffer once and large broadcasts run at link speed (busbw factor 1).
public struct ChainBroadcast: CollectiveAlgorithm {
    public let name = "chain"
    public let collective = CollectiveKind.broadcast
    public init() {}

    public func peers(rank: Int, size: Int) -> [Int] { Ring(rank: rank, size: size).peers }

    public func run(_ comm: Communicator, _ a: CollectiveArguments) throws {
        let ring = Ring(rank: comm.rank, size: comm.size)
        let es = a.type.size
        let position = (ring.rank - a.root + ring.size) % ring.size
        let isLast = position == ring.size - 1
        let whole = 0..<a.count
        let chunks = a.tuning.chunks(elements: a.count, elementSize: es)
        if position == 0 {
            copyElements(a.output.base, a.input.base, count: a.count, type: a.type)
            if ring.size > 1 {
                for k in 0..<chunks {
                    let r = whole.chunk(k, of: chunks)
                    try comm.send(to: ring.next, a.output, offset: r.lowerBound * es, bytes: r.count * es)
                }
            }
        } else {
            let ranges = (0..<chunks).map { whole.chunk($0, of: chunks) }.filter { !$0.isEmpty }
            let incoming = ReceivePipeline(comm, entries: ranges.map {
                .init(peer: ring.previous, bytes: $0.count * es, target: .region(a.output, offset: $0.lowerBound * es))
            }, scratch: a.scratch, slotBytes: 0, slots: a.tuning.slots)
            for r in ranges {
                _ = try incoming.take()
                if !isLast { try comm.send(to: ring.next, a.output, offset: r.lowerBound * es, bytes: r.count * es) }
            }
        }
        try comm.waitAll()
    }
}
