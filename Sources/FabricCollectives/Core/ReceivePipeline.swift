import FabricCore

/// Receives consumed in program order, posted ahead of time: entries bound for scratch use
/// a ring of `slots` chunk-sized slots (slot reuse waits until the entry `slots` earlier
/// was consumed), entries bound for their final place are posted straight there.
/// Posting ahead is what pipelines a collective: the peer's next chunk lands while this
/// rank reduces the current one.
final class ReceivePipeline {
    enum Target {
        case scratch
        case region(MemoryRegion, offset: Int)
    }

    struct Entry {
        let peer: Int
        let bytes: Int
        let target: Target
    }

    private let comm: Communicator
    private let entries: [Entry]
    private let scratch: MemoryRegion
    private let slotBytes: Int
    private let slots: Int
    /// How far ahead of the consumer receives may be posted, in entries.
    private let lookahead: Int
    private var tickets: [Communicator.Ticket?]
    private var addresses: [UnsafeMutableRawPointer]
    /// For each scratch entry in order, its entry index; and each entry's scratch ordinal.
    private var scratchEntries: [Int] = []
    private var scratchOrdinal: [Int]
    private var nextToPost = 0
    private var nextToTake = 0

    init(_ comm: Communicator, entries: [Entry], scratch: MemoryRegion, slotBytes: Int, slots: Int) {
        self.comm = comm
        self.entries = entries
        self.scratch = scratch
        self.slotBytes = slotBytes
        self.slots = max(1, min(slots, scratch.length / max(slotBytes, 1)))
        lookahead = 2 * self.slots + 2
        tickets = Array(repeating: nil, count: entries.count)
        addresses = Array(repeating: scratch.base, count: entries.count)
        scratchOrdinal = Array(repeating: -1, count: entries.count)
        for (i, e) in entries.enumerated() {
            if case .scratch = e.target {
                precondition(e.bytes <= slotBytes, "scratch entry of \(e.bytes) bytes exceeds the \(slotBytes)-byte slot")
                scratchOrdinal[i] = scratchEntries.count
                scratchEntries.append(i)
            }
        }
    }

    var isEmpty: Bool { entries.isEmpty }

    /// Starts the entries over for the next call (the same schedule, posted afresh).
    func rewind() {
        nextToPost = 0
        nextToTake = 0
    }

    /// Waits for the next entry in program order; returns where its bytes are. Entries
    /// taken before are considered consumed (their scratch slots may be reused).
    func take() throws -> UnsafeMutableRawPointer {
        let i = nextToTake
        nextToTake += 1
        try post()
        try comm.wait(tickets[i])
        return addresses[i]
    }

    private func post() throws {
        while nextToPost < entries.count && nextToPost < nextToTake + lookahead {
            let e = entries[nextToPost]
            switch e.target {
            case .scratch:
                let m = scratchOrdinal[nextToPost]
                // The slot's previous user must have been consumed (taken before the current one).
                if m >= slots && scratchEntries[m - slots] >= nextToTake - 1 { return }
                let offset = (m % slots) * slotBytes
                addresses[nextToPost] = scratch.base + offset
                tickets[nextToPost] = try comm.receive(from: e.peer, scratch, offset: offset, bytes: e.bytes)
            case let .region(region, offset):
                addresses[nextToPost] = region.base + offset
                tickets[nextToPost] = try comm.receive(from: e.peer, region, offset: offset, bytes: e.bytes)
            }
            nextToPost += 1
        }
    }
}
