import Foundation
import FabricCore

/// Registered, page-aligned buffers for a collective of up to `maxCount` elements, reused for
/// every size and iteration, and the nccl conventions for in-place calls: reduce-scatter's
/// output is this rank's piece of its input; all-gather's input is this rank's piece of its output.
public final class CollectiveBuffers {
    public let kind: CollectiveKind
    public let type: DataType
    public let tuning: PipelineTuning
    private let shared: RegisteredMemory
    private let separate: RegisteredMemory
    private let scratch: RegisteredMemory
    private let work: RegisteredMemory
    private let rank: Int
    private let ranks: Int

    public init(kind: CollectiveKind, type: DataType, maxCount: Int, tuning: PipelineTuning, transport: Transport) throws {
        self.kind = kind
        self.type = type
        self.tuning = tuning
        rank = transport.rank
        ranks = transport.worldSize
        let es = type.size
        let inMax = kind.inputCount(maxCount, ranks: ranks), outMax = kind.outputCount(maxCount, ranks: ranks)
        shared = try RegisteredMemory(count: max(inMax, outMax, maxCount) * es, transport: transport)
        separate = try RegisteredMemory(count: max(inMax, outMax) * es, transport: transport)
        scratch = try RegisteredMemory(count: CollectiveArguments.scratchBytes(tuning), transport: transport)
        work = try RegisteredMemory(count: kind == .reducescatter ? maxCount * es : 0, transport: transport)
    }

    /// Arguments for one call on `count` full-buffer elements (already made usable).
    public func arguments(count: Int, inPlace: Bool, op: ReduceOp, root: Int) -> CollectiveArguments {
        let es = type.size
        let piece = Partition(count: count, parts: ranks).range(rank)
        var input = shared.region, output = inPlace ? shared.region : separate.region
        if kind == .reducescatter && inPlace { output = view(shared.region, at: piece.lowerBound * es, bytes: piece.count * es) }
        if kind == .allgather {
            output = shared.region
            input = inPlace ? view(shared.region, at: piece.lowerBound * es, bytes: piece.count * es) : separate.region
        }
        return CollectiveArguments(count: count, type: type, op: op, root: root, input: input, output: output,
                                   scratch: scratch.region, work: work.region, tuning: tuning)
    }

    private func view(_ r: MemoryRegion, at offset: Int, bytes: Int) -> MemoryRegion {
        MemoryRegion(base: r.base + offset, length: bytes, key: r.key)
    }

    /// Writes this rank's inputs (the collective definition's exact-result values).
    public func fillInput(_ a: CollectiveArguments) {
        for i in 0..<kind.inputCount(a.count, ranks: ranks) {
            type.store(kind.input(rank: rank, index: i, ranks: ranks, op: a.op, root: a.root), a.input.base, i)
        }
    }

    /// Output elements that differ from the expected values: the count, and the first few.
    public func check(_ a: CollectiveArguments, keep: Int = 5) -> (wrong: Int, first: [(index: Int, expected: Double, got: Double)]) {
        var wrong = 0
        var first: [(Int, Double, Double)] = []
        for i in 0..<kind.outputCount(a.count, ranks: ranks) {
            let expected = kind.expected(rank: rank, index: i, ranks: ranks, count: a.count, op: a.op, root: a.root)
            let got = type.load(a.output.base, i)
            if got != expected {
                wrong += 1
                if first.count < keep { first.append((i, expected, got)) }
            }
        }
        return (wrong, first)
    }
}
