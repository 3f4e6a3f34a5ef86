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
    func reduceScatter(_ comm: Communicator, _ a: CollectiveArguments, pieces: Partition, shift: Int,
                       work: MemoryRegion, final: MemoryRegion, finalBase: Int) throws {
        let es = a.type.size
        let reduce = Reducer(type: a.type, op: a.op)
        let chunks = a.tuning.chunks(elements: pieces.largest, elementSize: es)
        for k in 0..<chunks {
            let r = pieces.range(rank + shift).chunk(k, of: chunks)
            try comm.send(to: next, a.input, offset: r.lowerBound * es, bytes: r.count * es)
        }
        var schedule: [(step: Int, range: Range<Int>)] = []
        for s in 0..<(size - 1) {
            for k in 0..<chunks {
                let r = pieces.range(rank + shift - s - 1).chunk(k, of: chunks)
                if !r.isEmpty { schedule.append((s, r)) }
            }
        }
        let slotBytes = ((pieces.largest + chunks - 1) / chunks) * es
        let incoming = ReceivePipeline(comm, entries: schedule.map { .init(peer: previous, bytes: $0.range.count * es, target: .scratch) },
                                       scratch: a.scratch, slotBytes: slotBytes, slots: a.tuning.slots)
        for (step, r) in schedule {
            let data = try incoming.take()
            let last = step == size - 2
            let destination = last ? final.base + r.lowerBound * es - finalBase : work.base + r.lowerBound * es
            reduce(destination, a.input.base + r.lowerBound * es, data, count: r.count)
            if !last { try comm.send(to: next, work, offset: r.lowerBound * es, bytes: r.count * es) }
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
