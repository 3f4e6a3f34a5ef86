import FabricCore

/// Double-binary-tree all-reduce: the buffer is split in two halves, one per tree; in each
/// tree chunks are reduced up to the root and broadcast back down, pipelined, and both
/// trees run at once. O(log n) steps, so small messages beat the ring's 2(n-1).
///
/// The program is, per chunk: up in tree 0, up in tree 1, down in tree 0, down in tree 1.
/// Receives are posted in that order and sends to each peer are issued in that order, so
/// every link carries messages in the order its receiver expects. Within that rule steps
/// run as soon as their data is in (a small dataflow scheduler): a rank that is a leaf in
/// one tree sends up there without waiting for its children in the other tree.
public struct TreeAllReduce: CollectiveAlgorithm {
    public let name = "tree"
    public let collective = CollectiveKind.allreduce
    public init() {}

    public func peers(rank: Int, size: Int) -> [Int] { DoubleBinaryTree(rank: rank, size: size).peers }

    public func plan(_ comm: Communicator, _ a: CollectiveArguments) throws -> CollectivePlan {
        guard comm.size > 1 else { return RingPlan.copy(comm, a, from: a.input.base, count: a.count) }
        let plan = TreePlan(comm, a)
        guard a.scratch.length >= 4 * plan.slotBytes else {
            throw FabricError.configuration("tree all-reduce needs \(4 * plan.slotBytes) bytes of scratch, got \(a.scratch.length)")
        }
        return plan
    }
}

/// One tree all-reduce worked out for its arguments; `run` resets the per-call state and
/// walks arrays sized here (by index: see `CollectivePlan`), so a call allocates nothing.
private final class TreePlan: CollectivePlan {
    let comm: Communicator
    let a: CollectiveArguments
    let trees: [DoubleBinaryTree.Node]
    let halves: Partition
    let chunks: Int
    /// Chunks whose receives may be posted at once; each owns 4 scratch slots (2 trees x 2 children).
    let depth: Int
    let slotBytes: Int
    let reduce: Reducer
    /// Steps are numbered chunk * 4 + kind: 0, 1 = up in tree 0, 1; 2, 3 = down in tree 0, 1.
    /// The peers each kind sends to.
    let sendPeers: [[Int]]
    /// For each peer, the steps that send to it in program order.
    let sendOrder: [[Int]]
    /// Per call: which steps are done, each step's receives (up to one per child), and how
    /// many sends to each peer have been issued.
    var done: [Bool]
    var tickets: [Communicator.Ticket?]
    var issued: [Int]

    init(_ comm: Communicator, _ a: CollectiveArguments) {
        self.comm = comm
        self.a = a
        let trees = DoubleBinaryTree(rank: comm.rank, size: comm.size).trees
        self.trees = trees
        halves = Partition(count: a.count, parts: 2)
        chunks = a.tuning.chunks(elements: halves.largest, elementSize: a.type.size)
        slotBytes = ((halves.largest + chunks - 1) / chunks) * a.type.size
        depth = max(1, min(a.tuning.slots, a.scratch.length / max(4 * slotBytes, 1), chunks))
        reduce = Reducer(type: a.type, op: a.op)
        let sendPeers = (0..<4).map { kind in kind < 2 ? (trees[kind % 2].parent.map { [$0] } ?? []) : trees[kind % 2].children }
        self.sendPeers = sendPeers
        var sendOrder = Array(repeating: [Int](), count: comm.size)
        for step in 0..<(chunks * 4) where !halves.range(step % 2).chunk(step / 4, of: chunks).isEmpty {
            for peer in sendPeers[step % 4] { sendOrder[peer].append(step) }
        }
        self.sendOrder = sendOrder
        done = Array(repeating: false, count: chunks * 4)
        tickets = Array(repeating: nil, count: chunks * 4 * 2)
        issued = Array(repeating: 0, count: comm.size)
    }

    func range(_ step: Int) -> Range<Int> { halves.range(step % 2).chunk(step / 4, of: chunks) }
    func node(_ step: Int) -> DoubleBinaryTree.Node { trees[step % 2] }
    func isUp(_ step: Int) -> Bool { step % 4 < 2 }

    func slotOffset(_ step: Int, child: Int) -> Int {
        (((step / 4) % depth) * 4 + (step % 2) * 2 + child) * slotBytes
    }

    /// Posts the receives of one chunk, in program order.
    func postReceives(chunk c: Int) throws {
        let es = a.type.size
        for step in (c * 4)..<(c * 4 + 4) {
            let r = range(step)
            tickets[2 * step] = nil
            tickets[2 * step + 1] = nil
            if r.isEmpty { continue }
            if isUp(step) {
                let children = node(step).children
                for i in children.indices {
                    tickets[2 * step + i] = try comm.receive(from: children[i], a.scratch, offset: slotOffset(step, child: i), bytes: r.count * es)
                }
            } else if let parent = node(step).parent {
                tickets[2 * step] = try comm.receive(from: parent, a.output, offset: r.lowerBound * es, bytes: r.count * es)
            }
        }
    }

    func ready(_ step: Int) -> Bool {
        // Down waits for up in the same tree: at the root nothing else orders them.
        guard isUp(step) || done[step - 2] else { return false }
        for i in 0..<2 {
            if let t = tickets[2 * step + i], !comm.isDone(t) { return false }
        }
        // Sends to each peer go out in program order.
        let peers = sendPeers[step % 4]
        for i in peers.indices where sendOrder[peers[i]][issued[peers[i]]] != step { return false }
        return true
    }

    func finished(chunk c: Int) -> Bool {
        for step in (c * 4)..<(c * 4 + 4) where !done[step] { return false }
        return true
    }

    func execute(_ step: Int) throws {
        let es = a.type.size, r = range(step), offset = r.lowerBound * es
        var source = a.output
        if isUp(step) {
            // Own input reduced with each child's partial result.
            let children = node(step).children
            if children.isEmpty {
                source = a.input
                if node(step).parent == nil { copyElements(a.output.base + offset, a.input.base + offset, count: r.count, type: a.type) }
            }
            for i in children.indices {
                reduce(a.output.base + offset, (i == 0 ? a.input.base : a.output.base) + offset,
                       a.scratch.base + slotOffset(step, child: i), count: r.count)
            }
        }
        let peers = sendPeers[step % 4]
        for i in peers.indices {
            try comm.send(to: peers[i], source, offset: offset, bytes: r.count * es)
            issued[peers[i]] += 1
        }
        done[step] = true
    }

    func run() throws {
        for i in done.indices { done[i] = false }
        for i in issued.indices { issued[i] = 0 }
        var low = 0, posted = 0
        while low < chunks {
            // A chunk's slots are free once the chunk `depth` before it is finished.
            while posted < chunks && posted < low + depth {
                try postReceives(chunk: posted)
                posted += 1
            }
            var progressed = false
            for step in (low * 4)..<(posted * 4) where !done[step] {
                if range(step).isEmpty {
                    done[step] = true
                } else if ready(step) {
                    try execute(step)
                    progressed = true
                }
            }
            while low < chunks && finished(chunk: low) { low += 1 }
            if !progressed && low < chunks && !(posted < chunks && posted < low + depth) {
                try comm.waitForAny(doing: "tree all-reduce data (chunk \(low) of \(chunks))")
            }
        }
        try comm.waitAll()
    }
}
