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
                       work: MemoryRegion, final: MemoryRegion, finalBase: Int, gather: Bool = false) throws {
        let es = a.type.size
        let reduce = Reducer(type: a.type, op: a.op)
        let chunks = a.tuning.chunks(elements: pieces.largest, elementSize: es)
        try sendPiece(comm, a.input, piece: rank + shift, pieces: pieces, chunks: chunks, elementSize: es)
        // Steps 0..<n-1 reduce; with `gather`, steps n-1..<2(n-1) are the all-gather's.
        let schedule = receives(pieces: pieces, after: rank + shift, steps: gather ? 2 * (size - 1) : size - 1, chunks: chunks)
        // Out of place, a partial sum is received straight into its place in `work`/`final` and
        // the input is added there: two streams in, one out, no scratch. In place the input
        // occupies that place, so the partial sum lands in scratch first.
        // (In-place reduce-scatter's `final` is a view into the input: not direct there.)
        let input = UnsafeMutableRawPointer(mutating: a.input.base)
        let directWork = work.base != input, directFinal = final.base - finalBase != input
        let direct = { (step: Int) in step >= size - 2 ? directFinal : directWork }
        let slotBytes = ((pieces.largest + chunks - 1) / chunks) * es
        let place = { (step: Int, r: Range<Int>) -> (MemoryRegion, Int) in
            step >= size - 2 ? (final, r.lowerBound * es - finalBase) : (work, r.lowerBound * es)
        }
        let incoming = ReceivePipeline(comm, entries: schedule.map {
            let (region, offset) = place($0.step, $0.range)
            return .init(peer: previous, bytes: $0.range.count * es,
                         target: $0.step < size - 1 && !direct($0.step) ? .scratch : .region(region, offset: offset))
        }, scratch: a.scratch, slotBytes: slotBytes, slots: a.tuning.slots)
        for (step, r) in schedule {
            let data = try incoming.take()
            let bytes = r.count * es
            let (region, offset) = place(step, r)
            if step < size - 1 {
                let destination = region.base + offset, mine = UnsafeRawPointer(input + r.lowerBound * es)
                if direct(step) {
                    reduce(destination, destination, mine, count: r.count)
                } else {
                    reduce(destination, mine, data, count: r.count)
                }
            }
            if step < size - 2 {
                try comm.send(to: next, work, offset: r.lowerBound * es, bytes: bytes)
            } else if step == size - 2 {
                if gather { try comm.send(to: next, final, offset: offset, bytes: bytes) }
            } else if step < 2 * (size - 1) - 1 {
                try comm.send(to: next, final, offset: r.lowerBound * es - finalBase, bytes: bytes)
            }
        }
    }

    /// All-gather: this rank holds piece `own` in `output`; at step t (0..<n-1) it sends piece
    /// `own-t` and receives piece `own-t-1` straight into place, then passes it on.
    func allGather(_ comm: Communicator, _ a: CollectiveArguments, pieces: Partition, own: Int, output: MemoryRegion) throws {
        let es = a.type.size
        let chunks = a.tuning.chunks(elements: pieces.largest, elementSize: es)
        try sendPiece(comm, output, piece: own, pieces: pieces, chunks: chunks, elementSize: es)
        let schedule = receives(pieces: pieces, after: own, steps: size - 1, chunks: chunks)
        let incoming = ReceivePipeline(comm, entries: schedule.map {
            .init(peer: previous, bytes: $0.range.count * es, target: .region(output, offset: $0.range.lowerBound * es))
        }, scratch: a.scratch, slotBytes: 0, slots: a.tuning.slots)
        for (step, r) in schedule {
            _ = try incoming.take()
            if step < size - 2 { try comm.send(to: next, output, offset: r.lowerBound * es, bytes: r.count * es) }
        }
    }
}

extension Ring {
    /// Sends every chunk of piece `p` from `region` to the next rank.
    func sendPiece(_ comm: Communicator, _ region: MemoryRegion, piece p: Int, pieces: Partition, chunks: Int, elementSize es: Int) throws {
        for k in 0..<chunks {
            let r = pieces.range(p).chunk(k, of: chunks)
            try comm.send(to: next, region, offset: r.lowerBound * es, bytes: r.count * es)
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

/// Copies `count` elements unless source and destination are the same memory.
func copyElements(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, count: Int, type: DataType) {
    if destination != UnsafeMutableRawPointer(mutating: source) { memcpy(destination, source, count * type.size) }
}
