/// Double-binary-tree all-reduce: the buffer is split in two halves, one per tree; in each
/// tree chunks are reduced up to the root and broadcast back down, pipelined, and both
/// trees run at once. O(log n) steps, so small messages beat the ring's 2(n-1).
///
/// Every rank runs the same program order — for each chunk: reduce in tree 0, reduce in
/// tree 1, broadcast in tree 0, broadcast in tree 1 — so on every link the sender's order
/// of messages is the receiver's order of posted receives.
public struct TreeAllReduce: CollectiveAlgorithm {
    public let name = "tree"
    public let collective = CollectiveKind.allreduce
    public init() {}

    public func peers(rank: Int, size: Int) -> [Int] { DoubleBinaryTree(rank: rank, size: size).peers }

    public func run(_ comm: Communicator, _ a: CollectiveArguments) throws {
        guard comm.size > 1 else {
            copyElements(a.output.base, a.input.base, count: a.count, type: a.type)
            return
        }
        let es = a.type.size
        let reduce = Reducer(type: a.type, op: a.op)
        let trees = DoubleBinaryTree(rank: comm.rank, size: comm.size).trees
        let halves = Partition(count: a.count, parts: 2)
        let chunks = a.tuning.chunks(elements: halves.largest, elementSize: es)
        let range = { (t: Int, c: Int) in halves.range(t).chunk(c, of: chunks) }

        var entries: [ReceivePipeline.Entry] = []
        for c in 0..<chunks {
            for t in 0..<2 where !range(t, c).isEmpty {
                for child in trees[t].children { entries.append(.init(peer: child, bytes: range(t, c).count * es, target: .scratch)) }
            }
            for t in 0..<2 where !range(t, c).isEmpty {
                if let parent = trees[t].parent {
                    entries.append(.init(peer: parent, bytes: range(t, c).count * es, target: .region(a.output, offset: range(t, c).lowerBound * es)))
                }
            }
        }
        let incoming = ReceivePipeline(comm, entries: entries, scratch: a.scratch,
                                       slotBytes: ((halves.largest + chunks - 1) / chunks) * es, slots: a.tuning.slots)
        for c in 0..<chunks {
            for t in 0..<2 {
                let r = range(t, c)
                if r.isEmpty { continue }
                let offset = r.lowerBound * es
                let node = trees[t]
                // Up: own input reduced with each child's partial result.
                var source = a.input
                for (i, _) in node.children.enumerated() {
                    let data = try incoming.take()
                    reduce(a.output.base + offset, (i == 0 ? a.input.base : a.output.base) + offset, data, count: r.count)
                    source = a.output
                }
                if let parent = node.parent {
                    try comm.send(to: parent, source, offset: offset, bytes: r.count * es)
                } else if node.children.isEmpty {
                    copyElements(a.output.base + offset, a.input.base + offset, count: r.count, type: a.type)
                }
            }
            for t in 0..<2 {
                let r = range(t, c)
                if r.isEmpty { continue }
                let offset = r.lowerBound * es
                // Down: the final values arrive from the parent (the root has them already).
                if trees[t].parent != nil { _ = try incoming.take() }
                for child in trees[t].children { try comm.send(to: child, a.output, offset: offset, bytes: r.count * es) }
            }
        }
        try comm.waitAll()
    }
}
