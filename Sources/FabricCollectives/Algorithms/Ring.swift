import Foundation
import FabricTransport

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
        for k in 0..<chunks {
            let r = pieces.range(rank + shift).chunk(k, of: chunks)
            try comm.send(to: next, a.input, offset: r.lowerBound * es, bytes: r.count * es)
        }
        // Steps 0..<n-1 reduce; with `gather`, steps n-1..<2(n-1) are the all-gather's.
        var schedule: [(step: Int, range: Range<Int>)] = []
        for s in 0..<(gather ? 2 * (size - 1) : size - 1) {
            for k in 0..<chunks {
                let r = pieces.range(rank + shift - s - 1).chunk(k, of: chunks)
                if !r.isEmpty { schedule.append((s, r)) }
            }
        }
        let slotBytes = ((pieces.largest + chunks - 1) / chunks) * es
        let incoming = ReceivePipeline(comm, entries: schedule.map {
            .init(peer: previous, bytes: $0.range.count * es,
                  target: $0.step < size - 1 ? .scratch : .region(final, offset: $0.range.lowerBound * es - finalBase))
        }, scratch: a.scratch, slotBytes: slotBytes, slots: a.tuning.slots)
        for (step, r) in schedule {
            let data = try incoming.take()
            let bytes = r.count * es
            if step < size - 2 {
                reduce(work.base + r.lowerBound * es, a.input.base + r.lowerBound * es, data, count: r.count)
                try comm.send(to: next, work, offset: r.lowerBound * es, bytes: bytes)
            } else if step == size - 2 {
                let destination = r.lowerBound * es - finalBase
                reduce(final.base + destination, a.input.base + r.lowerBound * es, data, count: r.count)
                if gather { try comm.send(to: next, final, offset: destination, bytes: bytes) }
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
        for k in 0..<chunks {
            let r = pieces.range(own).chunk(k, of: chunks)
            try comm.send(to: next, output, offset: r.lowerBound * es, bytes: r.count * es)
        }
        var schedule: [(step: Int, range: Range<Int>)] = []
        for t in 0..<(size - 1) {
            for k in 0..<chunks {
                let r = pieces.range(own - t - 1).chunk(k, of: chunks)
                if !r.isEmpty { schedule.append((t, r)) }
            }
        }
        let incoming = ReceivePipeline(comm, entries: schedule.map {
            .init(peer: previous, bytes: $0.range.count * es, target: .region(output, offset: $0.range.lowerBound * es))
        }, scratch: a.scratch, slotBytes: 0, slots: a.tuning.slots)
        for (step, r) in schedule {
            _ = try incoming.take()
            if step < size - 2 { try comm.send(to: next, output, offset: r.lowerBound * es, bytes: r.count * es) }
        }
    }
}

/// Copies `count` elements unless source and destination are the same memory.
func copyElements(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, count: Int, type: DataType) {
    if destination != UnsafeMutableRawPointer(mutating: source) { memcpy(destination, source, count * type.size) }
}
