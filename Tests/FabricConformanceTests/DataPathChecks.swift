import Foundation
import FabricCore
import FabricTestSupport

/// The data path: order, depth, lengths, zero bytes, size. Every message's bytes are checked,
/// and every completion's order, peer, direction and byte count.
extension TransportConformance {
    /// Three ranks, each sending to and receiving from both others at once, many messages of
    /// mixed lengths (below, at and above inline and MTU sizes) posted before any wait.
    func orderedMessages(_ findings: Findings) {
        let n = 3, count = scale.orderedMessages
        let lengths = (0..<count).map { [1, 8, 63, 64, 65, 1000, 4096, 9001][$0 % 8] }
        let offsets = lengths.reduce(into: [0]) { $0.append($0.last! + $1) }
        let perPeer = offsets.last!
        job(ranks: n, findings) { rank in
            let t = rank.transport
            let peers = (0..<n).filter { $0 != rank.rank }
            try t.connect(to: peers)
            let out = try RegisteredMemory(count: n * perPeer, transport: t)
            let into = try RegisteredMemory(count: n * perPeer, transport: t)
            for p in peers {
                for m in 0..<count { fillPattern(out.region.base + p * perPeer + offsets[m], lengths[m], from: rank.rank, to: p, message: m) }
            }
            for m in 0..<count {
                for p in peers {
                    try t.postReceive(from: p, into: into.region, offset: p * perPeer + offsets[m], length: lengths[m], id: UInt64(m))
                    try t.postSend(to: p, from: out.region, offset: p * perPeer + offsets[m], length: lengths[m], id: UInt64(m))
                }
            }
            var completions: [Completion] = []
            try t.waitForCompletions(2 * count * peers.count, into: &completions, doing: "\(count) messages each way with each peer")
            for p in peers {
                for operation in [Completion.Operation.send, .receive] {
                    findings.add(orderProblems(completions, rank: rank.rank, peer: p, operation, lengths: lengths))
                }
                for m in 0..<count {
                    if let i = firstPatternMismatch(into.region.base + p * perPeer + offsets[m], lengths[m], from: p, to: rank.rank, message: m) {
                        findings.add("rank \(rank.rank): message \(m) from rank \(p) (\(lengths[m]) bytes) differs at byte \(i)")
                        break
                    }
                }
            }
        }
    }

    /// Far more sends and receives to one peer than any queue holds, all posted before the
    /// first poll: the transport must queue what does not fit, not fail or reorder.
    func moreThanQueueDepth(_ findings: Findings) {
        let count = scale.inFlight
        job(findings) { rank in
            let t = rank.transport, peer = 1 - rank.rank
            try t.connect(to: [peer])
            let out = try RegisteredMemory(count: 8 * count, transport: t)
            let into = try RegisteredMemory(count: 8 * count, transport: t)
            for i in 0..<count { out.bytes.storeBytes(of: UInt64(rank.rank) << 32 | UInt64(i), toByteOffset: 8 * i, as: UInt64.self) }
            func receives() throws { for i in 0..<count { try t.postReceive(from: peer, into: into.region, offset: 8 * i, length: 8, id: UInt64(i)) } }
            func sends() throws { for i in 0..<count { try t.postSend(to: peer, from: out.region, offset: 8 * i, length: 8, id: UInt64(i)) } }
            // One rank posts its receives first, the other its sends.
            if rank.rank == 0 { try receives(); try sends() } else { try sends(); try receives() }
            var completions: [Completion] = []
            try t.waitForCompletions(2 * count, into: &completions, doing: "\(count) messages each way")
            let lengths = Array(repeating: 8, count: count)
            findings.add(orderProblems(completions, rank: rank.rank, peer: peer, .send, lengths: lengths))
            findings.add(orderProblems(completions, rank: rank.rank, peer: peer, .receive, lengths: lengths))
            for i in 0..<count where into.bytes.load(fromByteOffset: 8 * i, as: UInt64.self) != UInt64(peer) << 32 | UInt64(i) {
                findings.add("rank \(rank.rank): message \(i) from rank \(peer) holds \(into.bytes.load(fromByteOffset: 8 * i, as: UInt64.self)), expected \(UInt64(peer) << 32 | UInt64(i))")
                break
            }
        }
    }

    /// A posted send starts at once, as a NIC's does: after one message each way (what a
    /// connection's first exchange sets up, such as verbs' eager ring, is then in place), rank 0
    /// posts two small sends, then makes no call on its transport until rank 1 has them (or
    /// `slack` seconds pass). A transport that moves data only when polled holds a send back
    /// behind whatever its caller does next: a ring's reduction of the piece that came in
    /// meanwhile, or a sleep.
    func sendsLeaveAtOnce(_ findings: Findings) {
        let lengths = [8, 1000]
        let arrived = DispatchSemaphore(value: 0)
        job(findings) { rank in
            let t = rank.transport, peer = 1 - rank.rank
            try t.connect(to: [peer])
            let memory = try RegisteredMemory(count: 4096, transport: t)
            var completions: [Completion] = []
            try t.postReceive(from: peer, into: memory.region, offset: 2048, length: 8, id: 9)
            try t.postSend(to: peer, from: memory.region, offset: 3072, length: 8, id: 9)
            try t.waitForCompletions(2, into: &completions, doing: "one message each way with rank \(peer)")
            completions.removeAll()
            if rank.rank == 0 {
                for (m, length) in lengths.enumerated() {
                    fillPattern(memory.region.base + 1024 * m, length, from: 0, to: 1, message: m)
                    try t.postSend(to: 1, from: memory.region, offset: 1024 * m, length: length, id: UInt64(m))
                }
                if arrived.wait(timeout: .now() + scale.slack) == .timedOut {
                    findings.add("rank 1 did not have the \(lengths.count) messages \(formatSeconds(scale.slack)) after rank 0 posted them and made no further call: the sends waited for rank 0's next poll")
                }
                try t.waitForCompletions(lengths.count, into: &completions, doing: "\(lengths.count) sends to rank 1")
            } else {
                for (m, length) in lengths.enumerated() {
                    try t.postReceive(from: 0, into: memory.region, offset: 1024 * m, length: length, id: UInt64(m))
                }
                try t.waitForCompletions(lengths.count, into: &completions, doing: "\(lengths.count) messages from rank 0")
                arrived.signal()
                for (m, length) in lengths.enumerated() {
                    if let i = firstPatternMismatch(memory.region.base + 1024 * m, length, from: 0, to: 1, message: m) {
                        findings.add("rank 1: message \(m) (\(length) bytes) differs at byte \(i)")
                    }
                }
            }
        }
    }

    /// Rank 0 sends one length, rank 1 posts a receive of another: some rank must fail with a
    /// protocol violation naming the other, rank 1's receive must not complete, and nobody
    /// may wait out more than the timeout. Shorter, longer, and zero against eight bytes; and
    /// lengths either side of 8 KiB and 12 KiB, where a transport that cuts large messages in
    /// pieces over several NICs (StripedTransport) cuts one and not the other.
    func exactLengths(_ findings: Findings) {
        for (sent, posted) in [(64, 32), (64, 4096), (0, 8), (8192, 4096), (4096, 8192), (12288, 6144)] {
            let what = "a \(sent)-byte send against a \(posted)-byte receive"
            let outcome = job(timeout: scale.shortTimeout, findings, judgingErrors: true) { rank in
                let t = rank.transport, peer = 1 - rank.rank
                try t.connect(to: [peer])
                let memory = try RegisteredMemory(count: 12288, transport: t)
                if rank.rank == 0 {
                    try t.postSend(to: 1, from: memory.region, offset: 0, length: sent, id: 1)
                } else {
                    try t.postReceive(from: 0, into: memory.region, offset: 0, length: posted, id: 1)
                }
                var completions: [Completion] = []
                try t.waitForCompletions(1, into: &completions, doing: what)
                if rank.rank == 1 { findings.add("\(what): rank 1's receive completed with \(completions[0].bytes) bytes") }
            }
            let named = outcome.errors.contains { rank, error in
                guard let e = error as? FabricError, case .protocolViolation = e else { return false }
                return "\(e)".contains("rank \(1 - rank)")
            }
            findings.expect(named, "\(what): no rank failed with a protocol violation naming its peer (errors: \(outcome.failures))")
        }
    }

    /// Zero-byte messages between others, each way at once, one of them at the very end of
    /// its region: each completes on both sides with 0 bytes, in order with the messages
    /// around it (also after a large one still in flight). Then a zero-byte receive waits for
    /// its send, as any receive does.
    func zeroByteMessages(_ findings: Findings) {
        let large = max(scale.largeBytes / 16, 64 << 10)
        let lengths = [0, 8, 0, 0, 5, large, 0, 3, 0, 0]
        let offsets = lengths.reduce(into: [0]) { $0.append($0.last! + $1) }
        let size = offsets.last!
        job(findings) { rank in
            let t = rank.transport, peer = 1 - rank.rank
            try t.connect(to: [peer])
            let out = try RegisteredMemory(count: size, transport: t)
            let into = try RegisteredMemory(count: size, transport: t)
            for m in lengths.indices { fillPattern(out.region.base + offsets[m], lengths[m], from: rank.rank, to: peer, message: m) }
            // The last message is zero bytes at the end of its region: a legal place for it.
            let last = lengths.count - 1
            func offset(_ m: Int, _ memory: RegisteredMemory) -> Int { m == last ? memory.region.length : offsets[m] }
            func receives() throws {
                for m in lengths.indices { try t.postReceive(from: peer, into: into.region, offset: offset(m, into), length: lengths[m], id: UInt64(m)) }
            }
            func sends() throws {
                for m in lengths.indices { try t.postSend(to: peer, from: out.region, offset: offset(m, out), length: lengths[m], id: UInt64(m)) }
            }
            if rank.rank == 0 { try receives(); try sends() } else { try sends(); try receives() }
            var completions: [Completion] = []
            try t.waitForCompletions(2 * lengths.count, into: &completions, doing: "messages with zero-byte ones between them")
            findings.add(orderProblems(completions, rank: rank.rank, peer: peer, .send, lengths: lengths))
            findings.add(orderProblems(completions, rank: rank.rank, peer: peer, .receive, lengths: lengths))
            for m in lengths.indices {
                if let i = firstPatternMismatch(into.region.base + offsets[m], lengths[m], from: peer, to: rank.rank, message: m) {
                    findings.add("rank \(rank.rank): message \(m) from rank \(peer) (\(lengths[m]) bytes) differs at byte \(i)")
                }
            }

            // A zero-byte receive completes only once its send was posted.
            completions.removeAll()
            if rank.rank == 1 {
                try t.postReceive(from: 0, into: into.region, offset: 0, length: 0, id: 100)
                let quiet = Deadline(seconds: 0.3)
                while !quiet.expired {
                    try t.poll(&completions)
                    usleep(1000)
                }
                findings.expect(completions.isEmpty, "rank 1: a zero-byte receive completed before rank 0 posted its send: \(completions)")
                try rank.store.set("zero/send", [])
            } else {
                _ = try rank.store.get("zero/send", description: "rank 1 to post its zero-byte receive")
                try t.postSend(to: 1, from: out.region, offset: 0, length: 0, id: 100)
            }
            if completions.isEmpty { try t.waitForCompletions(1, into: &completions, doing: "a zero-byte message") }
            findings.expect(completions.map(\.id) == [100] && completions.map(\.bytes) == [0],
                            "rank \(rank.rank): the lone zero-byte message completed as \(completions)")
        }
    }

    /// One large message each way at the same time (a transport that advanced one direction
    /// at a time would deadlock on full buffers), then a message from each of many separately
    /// registered regions into as many.
    func largeMessagesAndManyRegions(_ findings: Findings) {
        let large = scale.largeBytes, regions = scale.regions
        job(findings) { rank in
            let t = rank.transport, peer = 1 - rank.rank
            try t.connect(to: [peer])
            do {
                let out = try RegisteredMemory(count: large, transport: t)
                let into = try RegisteredMemory(count: large, transport: t)
                fillWords(out.region.base, large, seed: UInt64(rank.rank + 1))
                try t.postReceive(from: peer, into: into.region, offset: 0, length: large, id: 1)
                try t.postSend(to: peer, from: out.region, offset: 0, length: large, id: 2)
                var completions: [Completion] = []
                try t.waitForCompletions(2, into: &completions, doing: "\(large) bytes each way")
                findings.add(orderProblems(completions, rank: rank.rank, peer: peer, .receive, lengths: [large], firstID: 1))
                if let i = firstWordMismatch(into.region.base, large, seed: UInt64(peer + 1)) {
                    findings.add("rank \(rank.rank): the \(large)-byte message from rank \(peer) differs at byte \(8 * i)")
                }
            }
            let lengths = (0..<regions).map { 1 + ($0 * 997) % 6000 }
            let out = try lengths.map { try RegisteredMemory(count: $0, transport: t) }
            let into = try lengths.map { try RegisteredMemory(count: $0, transport: t) }
            for (m, memory) in out.enumerated() { fillPattern(memory.region.base, lengths[m], from: rank.rank, to: peer, message: m) }
            for m in 0..<regions {
                try t.postReceive(from: peer, into: into[m].region, offset: 0, length: lengths[m], id: UInt64(m))
                try t.postSend(to: peer, from: out[m].region, offset: 0, length: lengths[m], id: UInt64(m))
            }
            var completions: [Completion] = []
            try t.waitForCompletions(2 * regions, into: &completions, doing: "a message from each of \(regions) regions")
            findings.add(orderProblems(completions, rank: rank.rank, peer: peer, .send, lengths: lengths))
            findings.add(orderProblems(completions, rank: rank.rank, peer: peer, .receive, lengths: lengths))
            for m in 0..<regions {
                if let i = firstPatternMismatch(into[m].region.base, lengths[m], from: peer, to: rank.rank, message: m) {
                    findings.add("rank \(rank.rank): the message into region \(m) differs at byte \(i)")
                    break
                }
            }
        }
    }
}

extension TransportConformance {
    /// Many regions registered and dropped one after another (RegisteredMemory's deinit
    /// deregisters): the transport's count of live registrations ends where it started, and
    /// counts the ones alive meanwhile. Then rounds of fresh memory, registered where dropped
    /// memory was (verbs reuses the released slot, malloc often the address): every message
    /// lands whole in the right buffer.
    func registrationsAreReleased(_ findings: Findings) {
        let dropped = scale.droppedRegions, rounds = 20, held = 10
        job(findings) { rank in
            let t = rank.transport, peer = 1 - rank.rank
            try t.connect(to: [peer])
            let before = t.registrationCount
            do {
                let alive = try (0..<held).map { _ in try RegisteredMemory(count: 4096, transport: t) }
                findings.expect(t.registrationCount == before + held,
                                "rank \(rank.rank): \(held) regions alive, registrationCount went from \(before) to \(t.registrationCount)")
                _ = alive.count
            }
            for i in 0..<dropped {
                _ = try RegisteredMemory(count: 64 + (i % 5) * 4096, transport: t)
            }
            findings.expect(t.registrationCount == before,
                            "rank \(rank.rank): after \(dropped + held) regions were dropped, registrationCount is \(t.registrationCount), not \(before) as before them")
            if rank.rank == 0 { findings.note("\(dropped + held) regions dropped") }
            for round in 0..<rounds {
                let size = 1 + (round * 1231) % 9000
                let out = try RegisteredMemory(count: size, transport: t)
                let into = try RegisteredMemory(count: size, transport: t)
                fillPattern(out.region.base, size, from: rank.rank, to: peer, message: round)
                try t.postReceive(from: peer, into: into.region, offset: 0, length: size, id: UInt64(round))
                try t.postSend(to: peer, from: out.region, offset: 0, length: size, id: UInt64(round))
                var completions: [Completion] = []
                try t.waitForCompletions(2, into: &completions, doing: "round \(round) over freshly registered memory")
                findings.add(orderProblems(completions, rank: rank.rank, peer: peer, .receive, lengths: [size], firstID: UInt64(round)))
                if let i = firstPatternMismatch(into.region.base, size, from: peer, to: rank.rank, message: round) {
                    findings.add("rank \(rank.rank): round \(round)'s \(size)-byte message from rank \(peer) differs at byte \(i)")
                    break
                }
            }
            findings.expect(t.registrationCount == before, "rank \(rank.rank): after the rounds registrationCount is \(t.registrationCount), not \(before)")
        }
    }
}

/// What is wrong with the completions of one peer and direction: they must be the posted
/// ids, in post order, each with its posted length.
func orderProblems(_ completions: [Completion], rank: Int, peer: Int, _ operation: Completion.Operation,
                   lengths: [Int], firstID: UInt64 = 0) -> [String] {
    let got = completions.filter { $0.peer == peer && $0.operation == operation }
    let what = "rank \(rank): \(operation)s with rank \(peer)"
    guard got.count == lengths.count else { return ["\(what): \(got.count) completions for \(lengths.count) posted"] }
    for (i, c) in got.enumerated() {
        if c.id != firstID + UInt64(i) { return ["\(what) completed out of order: completion \(i) is id \(c.id), expected \(firstID + UInt64(i))"] }
        if c.bytes != lengths[i] { return ["\(what): message \(i) completed with \(c.bytes) bytes, posted \(lengths[i])"] }
    }
    return []
}

/// A message's bytes: a function of sender, receiver, message number and position, so a
/// message landing in another's place, or shifted, shows.
@inline(__always)
func patternByte(from: Int, to: Int, message: Int, index: Int) -> UInt8 {
    UInt8(truncatingIfNeeded: from &* 131 &+ to &* 29 &+ message &* 7 &+ index &* 13 &+ index >> 8)
}

func fillPattern(_ base: UnsafeMutableRawPointer, _ length: Int, from: Int, to: Int, message: Int) {
    for i in 0..<length { base.storeBytes(of: patternByte(from: from, to: to, message: message, index: i), toByteOffset: i, as: UInt8.self) }
}

func firstPatternMismatch(_ base: UnsafeMutableRawPointer, _ length: Int, from: Int, to: Int, message: Int) -> Int? {
    (0..<length).first { base.load(fromByteOffset: $0, as: UInt8.self) != patternByte(from: from, to: to, message: message, index: $0) }
}

/// Large buffers, a word at a time (`length` a multiple of 8).
func fillWords(_ base: UnsafeMutableRawPointer, _ length: Int, seed: UInt64) {
    let words = base.bindMemory(to: UInt64.self, capacity: length / 8)
    for i in 0..<length / 8 { words[i] = seed &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(i) &* 0xBF58_476D_1CE4_E5B9 }
}

func firstWordMismatch(_ base: UnsafeMutableRawPointer, _ length: Int, seed: UInt64) -> Int? {
    let words = base.bindMemory(to: UInt64.self, capacity: length / 8)
    return (0..<length / 8).first { words[$0] != seed &* 0x9E37_79B9_7F4A_7C15 ^ UInt64($0) &* 0xBF58_476D_1CE4_E5B9 }
}
