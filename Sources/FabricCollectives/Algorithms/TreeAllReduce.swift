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

    public func run(_ comm: Communicator, _ a: CollectiveArguments) throws {
        guard comm.size > 1 else {
            copyElements(a.output.base, a.input.base, count: a.count, type: a.type)
            return
        }
        var schedule = TreeSchedule(comm, a)
        guard a.scratch.length >= 4 * schedule.slotBytes else {
            throw FabricError.configuration("tree all-reduce needs \(4 * schedule.slotBytes) bytes of scratch, got \(a.scratch.length)")
        }
        try schedule.run()
    }
}

/// The state of one tree all-reduce call.
private struct TreeSchedule {
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
    var done: [Bool]
    var tickets: [[Communicator.Ticket?]]
    /// For each peer, the steps that send to it in program order, and how many have been issued.
    var sendOrder: [Int: [Int]] = [:]
    var issued: [Int: Int] = [:]

    init(_ comm: Communicator, _ a: CollectiveArguments) {
        self.comm = comm
        self.a = a
        trees = DoubleBinaryTree(rank: comm.rank, size: comm.size).trees
        halves = Partition(count: a.count, parts: 2)
        chunks = a.tuning.chunks(elements: halves.largest, elementSize: a.type.size)
        slotBytes = ((halves.largest + chunks - 1) / chunks) * a.type.size
        depth = max(1, min(a.tuning.slots, a.scratch.length / max(4 * slotBytes, 1), chunks))
        reduce = Reducer(type: a.type, op: a.op)
        done = Array(repeating: false, count: chunks * 4)
        tickets = Array(repeating: [], count: chunks * 4)
        for step in 0..<(chunks * 4) where !range(step).isEmpty {
            for peer in sendPeers(step) { sendOrder[peer, default: []].append(step) }
        }
    }

    func range(_ step: Int) -> Range<Int> { halves.range(step % 2).chunk(step / 4, of: chunks) }
    func node(_ step: Int) -> DoubleBinaryTree.Node { trees[step % 2] }
    func isUp(_ step: Int) -> Bool { step % 4 < 2 }

    func sendPeers(_ step: Int) -> [Int] {
        isUp(step) ? (node(step).parent.map { [$0] } ?? []) : node(step).children
    }

    func slotOffset(_ step: Int, child: Int) -> Int {
        (((step / 4) % depth) * 4 + (step % 2) * 2 + child) * slotBytes
    }

    /// Posts the receives of one chunk, in program order.
    mutating func postReceives(chunk c: Int) throws {
        let es = a.type.size
        for step in (c * 4)..<(c * 4 + 4) {
            let r = range(step)
            if r.isEmpty { continue }
            if isUp(step) {
                tickets[step] = try node(step).children.enumerated().map { i, child in
                    try comm.receive(from: child, a.scratch, offset: slotOffset(step, child: i), bytes: r.count * es)
                }
            } else if let parent = node(step).parent {
                tickets[step] = [try comm.receive(from: parent, a.output, offset: r.lowerBound * es, bytes: r.count * es)]
            }
        }
    }

    func ready(_ step: Int) -> Bool {
        // Down waits for up in the same tree: at the root nothing else orders them.
        (isUp(step) || done[step - 2])
            && tickets[step].allSatisfy { $0.map(comm.isDone) ?? true }
            && sendPeers(step).allSatisfy { sendOrder[$0]![issued[$0, default: 0]] == step }
    }

    mutating func execute(_ step: Int) throws {
        let es = a.type.size, r = range(step), offset = r.lowerBound * es
        var source = a.output
        if isUp(step) {
            // Own input reduced with each child's partial result.
            if node(step).children.isEmpty {
                source = a.input
                if node(step).parent == nil { copyElements(a.output.base + offset, a.input.base + offset, count: r.count, type: a.type) }
            }
            for i in node(step).children.indices {
                reduce(a.output.base + offset, (i == 0 ? a.input.base : a.output.base) + offset,
                       a.scratch.base + slotOffset(step, child: i), count: r.count)
            }
        }
        for peer in sendPeers(step) {
            try comm.send(to: peer, source, offset: offset, bytes: r.count * es)
            issued[peer, default: 0] += 1
        }
        done[step] = true
    }

    mutating func run() throws {
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
            while low < chunks && done[(low * 4)..<(low * 4 + 4)].allSatisfy({ $0 }) { low += 1 }
            if !progressed && low < chunks && !(posted < chunks && posted < low + depth) {
                try comm.waitForAny(doing: "tree all-reduce data (chunk \(low) of \(chunks))")
            }
        }
        try comm.waitAll()
    }
}
