/// How `count` elements split into `parts` nearly equal pieces (the first `count % parts`
/// pieces get one more), and each piece into `chunks` pipelined chunks the same way.
/// Every rank derives the same layout, so the sizes of matching sends and receives agree.
public struct Partition: Sendable, Equatable {
    public let count: Int
    public let parts: Int

    public init(count: Int, parts: Int) {
        self.count = count
        self.parts = max(parts, 1)
    }

    /// Element range of piece `i` (any integer: taken modulo `parts`).
    public func range(_ i: Int) -> Range<Int> {
        let p = ((i % parts) + parts) % parts
        let base = count / parts, extra = count % parts
        let start = p * base + min(p, extra)
        return start..<(start + base + (p < extra ? 1 : 0))
    }

    public var largest: Int { (count + parts - 1) / parts }
}

extension Range where Bound == Int {
    /// Sub-range `k` of `n` nearly equal sub-ranges.
    func chunk(_ k: Int, of n: Int) -> Range<Int> {
        let inner = Partition(count: count, parts: n).range(k)
        return (lowerBound + inner.lowerBound)..<(lowerBound + inner.upperBound)
    }
}

/// Pipelining parameters: chunk size and how many receives may be in flight.
public struct PipelineTuning: Sendable, Equatable {
    public var chunkBytes: Int
    public var slots: Int

    public init(chunkBytes: Int = 1 << 20, slots: Int = 4) {
        self.chunkBytes = max(chunkBytes, 64)
        self.slots = max(slots, 1)
    }

    /// Chunks for a piece of `elements` elements of `elementSize` bytes (at least 1).
    func chunks(elements: Int, elementSize: Int) -> Int {
        max(1, (elements * elementSize + chunkBytes - 1) / chunkBytes)
    }
}
