import Foundation
import FabricCore

/// A ring over ranks 0..<n and the two phases ring algorithms are made of. Each phase is
/// pipelined: a piece moves in chunks, and the receive of a later chunk is posted before
/// the current one is reduced, so the link stays busy while the CPU reduces.
struct Ring {
    let rank: Int
    let size: Int
    var next: Int { (rank + 1) % size }
    var previous: Int { (rank - 1 + size) % size }
    var peers: [Int] { size > 1 ? [previous, next] : [] }

    /// Reduce-scatter: at step s (0..<n-1) this rank sends piece `rank+shift-s` and receives
    /// piece `rank+shift-s-1`, reduces it with its own input into `work` and sends that on.
    /// The last step writes piece `rank+shift+1` (now fully reduced) to `final` instead,
    /// at that piece's offset minus `finalBase` bytes.
    ///
    /// With `gather`, the all-gather follows in the same pipeline (the all-reduce): each
    /// chunk, once fully reduced, is sent on at once, and the all-gather's receives are
    /// posted behind the reduce-scatter's, so no phase boundary stalls the link. On every link
    /// all reduce-scatter messages still precede all all-gather ones, as the receiver posts
    /// them; and the all-gather data for a chunk cannot arrive before this rank's earlier send
    /// from that memory was received, so receiving into it early is safe.
    func reduceScatter(_ comm: Communicator, _ a: CollectiveArguments, pieces: Partition, shift: Int,
                       work: MemoryRegion, final: MemoryRegion, finalBase: Int, gather: Bool = false) -> RingPlan {
        let es = a.type.size
        let chunks = a.tuning.chunks(elements: pieces.largest, elementSize: es)
        // Out of place, a partial sum is received straight into its place in `work`/`final` and
        // the input is added there: two streams in, one out, no scratch. In place the input
        // occupies that place, so the partial sum lands in scratch first.
        // (In-place reduce-scatter's `final` is a view into the input: not direct there.)
        let input = UnsafeMutableRawPointer(mutating: a.input.base)
        let directWork = work.base != input, directFinal = final.base - finalBase != input
        var entries: [ReceivePipeline.Entry] = []
        var steps: [RingPlan.Step] = []
        // Steps 0..<n-1 reduce; with `gather`, steps n-1..<2(n-1) are the all-gather's.
        for (step, r) in receives(pieces: pieces, after: rank + shift, steps: gather ? 2 * (size - 1) : size - 1, chunks: chunks) {
            let bytes = r.count * es
            let inFinal = step >= size - 2
            let (region, offset) = inFinal ? (final, r.lowerBound * es - finalBase) : (work, r.lowerBound * es)
            let direct = inFinal ? directFinal : directWork
            let reduces = step < size - 1
            entries.append(.init(peer: previous, bytes: bytes, target: reduces && !direct ? .scratch : .region(region, offset: offset)))
            var s = RingPlan.Step(count: r.count)
            if reduces { s.reduce = (region.base + offset, UnsafeRawPointer(input + r.lowerBound * es), direct) }
            // Partial sums go on from `work`; finished chunks from `final`, except the last step's.
            if !inFinal {
                s.forward = RingPlan.Transfer(region: work, offset: r.lowerBound * es, bytes: bytes)
            } else if gather && step < 2 * (size - 1) - 1 {
                s.forward = RingPlan.Transfer(region: final, offset: offset, bytes: bytes)
            }
            steps.append(s)
        }
        let slotBytes = ((pieces.largest + chunks - 1) / chunks) * es
        return RingPlan(comm, next: next, reducer: Reducer(type: a.type, op: a.op),
                        sends: pieceSends(a.input, piece: rank + shift, pieces: pieces, chunks: chunks, elementSize: es),
                        steps: steps,
                        incoming: ReceivePipeline(comm, entries: entries, scratch: a.scratch, slotBytes: slotBytes, slots: a.tuning.slots))
    }

    /// All-gather: this rank holds piece `own` in `output`; at step t (0..<n-1) it sends piece
    /// `own-t` and receives piece `own-t-1` straight into place, then passes it on.
    func allGather(_ comm: Communicator, _ a: CollectiveArguments, pieces: Partition, own: Int, output: MemoryRegion,
                   prologue: RingPlan.Copy?) -> RingPlan {
        let es = a.type.size
        let chunks = a.tuning.chunks(elements: pieces.largest, elementSize: es)
        var entries: [ReceivePipeline.Entry] = []
        var steps: [RingPlan.Step] = []
        for (step, r) in receives(pieces: pieces, after: own, steps: size - 1, chunks: chunks) {
            let place = RingPlan.Transfer(region: output, offset: r.lowerBound * es, bytes: r.count * es)
            entries.append(.init(peer: previous, bytes: place.bytes, target: .region(output, offset: place.offset)))
            steps.append(.init(count: r.count, forward: step < size - 2 ? place : nil))
        }
        return RingPlan(comm, next: next, reducer: Reducer(type: a.type, op: a.op), prologue: prologue,
                        sends: pieceSends(output, piece: own, pieces: pieces, chunks: chunks, elementSize: es), steps: steps,
                        incoming: ReceivePipeline(comm, entries: entries, scratch: a.scratch, slotBytes: 0, slots: a.tuning.slots))
    }

    /// Every chunk of piece `p` of `region`, to send to the next rank.
    func pieceSends(_ region: MemoryRegion, piece p: Int, pieces: Partition, chunks: Int, elementSize es: Int) -> [RingPlan.Transfer] {
        (0..<chunks).map { k in
            let r = pieces.range(p).chunk(k, of: chunks)
            return RingPlan.Transfer(region: region, offset: r.lowerBound * es, bytes: r.count * es)
        }
    }

    /// What arrives from the previous rank, in order: at step s, piece `first - s - 1`, chunk
    /// by chunk (empty chunks are skipped on both sides).
    func receives(pieces: Partition, after first: Int, steps: Int, chunks: Int) -> [(step: Int, range: Range<Int>)] {
        var schedule: [(step: Int, range: Range<Int>)] = []
        for s in 0..<steps {
            for k in 0..<chunks {
                let r = pieces.range(first - s - 1).chunk(k, of: chunks)
                if !r.isEmpty { schedule.append((s, r)) }
            }
        }
        return schedule
    }
}

/// A ring collective worked out once for one set of arguments: a copy to make first, the
/// sends that start the pipeline, then each receive from the previous rank in order with
/// what to do once it is in (reduce it with this rank's input, pass it on). Reduce-scatter,
/// all-reduce, all-gather and the chain broadcast all have this shape; running the plan
/// walks arrays built here, so a call allocates nothing.
final class RingPlan: CollectivePlan {
    struct Transfer {
        var region: MemoryRegion
        var offset: Int
        var bytes: Int
    }

    /// `count` elements copied before anything moves (unless source and destination are one).
    struct Copy {
        var destination: UnsafeMutableRawPointer
        var source: UnsafeRawPointer
        var count: Int
        var type: DataType
    }

    struct Step {
        var count: Int
        /// `destination = own op received`; with `accumulates` the received bytes landed in
        /// `destination` itself and it becomes `destination op own`.
        var reduce: (destination: UnsafeMutableRawPointer, own: UnsafeRawPointer, accumulates: Bool)?
        /// What to send to the next rank once this step is done.
        var forward: Transfer?

        init(count: Int, forward: Transfer? = nil) {
            self.count = count
            self.forward = forward
        }
    }

    private let comm: Communicator
    private let next: Int
    private let reducer: Reducer
    private let prologue: Copy?
    private let sends: [Transfer]
    private let steps: [Step]
    private let incoming: ReceivePipeline

    init(_ comm: Communicator, next: Int, reducer: Reducer, prologue: Copy? = nil, sends: [Transfer], steps: [Step],
         incoming: ReceivePipeline) {
        self.comm = comm
        self.next = next
        self.reducer = reducer
        self.prologue = prologue
        self.sends = sends
        self.steps = steps
        self.incoming = incoming
    }

    func run() throws {
        if let c = prologue { copyElements(c.destination, c.source, count: c.count, type: c.type) }
        for i in sends.indices {
            let s = sends[i]
            try comm.send(to: next, s.region, offset: s.offset, bytes: s.bytes)
        }
        incoming.rewind()
        for i in steps.indices {
            let step = steps[i]
            let data = try incoming.take()
            if let (destination, own, accumulates) = step.reduce {
                if accumulates {
                    reducer(destination, destination, own, count: step.count)
                } else {
                    reducer(destination, own, data, count: step.count)
                }
            }
            if let f = step.forward { try comm.send(to: next, f.region, offset: f.offset, bytes: f.bytes) }
        }
        try comm.waitAll()
    }
}

/// Copies `count` elements unless source and destination are the same memory.
func copyElements(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, count: Int, type: DataType) {
    if destination != UnsafeMutableRawPointer(mutating: source) { memcpy(destination, source, count * type.size) }
}

extension RingPlan {
    /// A one-rank call: the copy alone.
    static func copy(_ comm: Communicator, _ a: CollectiveArguments, from source: UnsafeRawPointer, count: Int) -> RingPlan {
        RingPlan(comm, next: comm.rank, reducer: Reducer(type: a.type, op: a.op),
                 prologue: Copy(destination: a.output.base, source: source, count: count, type: a.type), sends: [], steps: [],
                 incoming: ReceivePipeline(comm, entries: [], scratch: a.scratch, slotBytes: 0, slots: 1))
    }
}
