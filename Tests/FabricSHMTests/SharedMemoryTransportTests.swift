import Foundation
import XCTest
@testable import FabricSHM
import FabricCore
import FabricRendezvous

/// Ranks as threads of one process, each with its own rendezvous client and transport, as
/// the TCP tests do; every rank maps the segments on its own, as separate processes would.
final class SharedMemoryTransportTests: XCTestCase {
    struct Rank {
        let transport: SharedMemoryTransport
        let store: any Store
        var rank: Int { transport.rank }
    }

    /// Runs `body` on `n` rank threads and returns the transports' segment name prefix.
    @discardableResult
    func withRanks(_ n: Int, timeout: Double = 10, ringBytes: Int = 64 << 10, chunkBytes: Int = 16 << 10, spin: SpinBudget = .default,
                   store wrap: @escaping @Sendable (any Store) -> any Store = { $0 },
                   file: StaticString = #filePath, line: UInt = #line,
                   _ body: @escaping (Rank) throws -> Void) -> String {
        let token = WireFormat.token(for: "shm-test-\(UUID())")
        let server = try! RendezvousServer(host: "127.0.0.1", port: 0, worldSize: n, token: token)
        server.start()
        defer { server.stop() }
        let group = DispatchGroup()
        let lock = NSLock()
        // Each rank is a thread by design; `errors` is guarded by `lock`, `body` is called once per rank.
        nonisolated(unsafe) var errors: [String] = []
        nonisolated(unsafe) let body = body
        for rank in 0..<n {
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    let client = try RendezvousClient(host: "127.0.0.1", port: server.port, rank: rank, worldSize: n, token: token, timeout: timeout)
                    var options = SharedMemoryOptions()
                    options.timeout = timeout
                    options.ringBytes = ringBytes
                    options.chunkBytes = chunkBytes
                    options.spinBeforeSleep = spin
                    let store = wrap(client)
                    let t = try SharedMemoryTransport(store: store, options: options)
                    try body(Rank(transport: t, store: store))
                    t.close()
                    client.bye()
                } catch {
                    lock.withLock { errors.append("rank \(rank): \(error)") }
                }
            }.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success, "ranks did not finish", file: file, line: line)
        XCTAssertEqual(errors, [], file: file, line: line)
        return "/fabricbench-\(String(token, radix: 16))"
    }

    /// This job's names in /dev/shm.
    static func leftovers(_ prefix: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? []
        return entries.filter { $0.hasPrefix(String(prefix.dropFirst())) }
    }

    // MARK: data

    func testBytesIntactBothDirectionsAtOnceFromZeroTo64MiBThroughASmallRing() throws {
        let sizes = [0, 1, 7, 8, 4095, 65_537, (1 << 20) + 3, 64 << 20]
        // A 256 KiB ring: the 64 MiB message streams through it 256 times over while the
        // other direction does the same, which deadlocks unless both directions advance.
        let prefix = withRanks(2, timeout: 30, ringBytes: 256 << 10, chunkBytes: 32 << 10) { r in
            let t = r.transport, peer = 1 - r.rank
            try t.connect(to: [peer])
            for size in sizes {
                let out = UnsafeMutableRawBufferPointer.allocate(byteCount: size + 8, alignment: 64)
                let into = UnsafeMutableRawBufferPointer.allocate(byteCount: size + 64, alignment: 64)
                let expected = UnsafeMutableRawBufferPointer.allocate(byteCount: size + 8, alignment: 64)
                defer { out.deallocate(); into.deallocate(); expected.deallocate() }
                Self.fill(out, seed: UInt64(r.rank * 1000 + size))
                Self.fill(expected, seed: UInt64(peer * 1000 + size))
                into.initializeMemory(as: UInt8.self, repeating: 0xA5)
                var completions: [Completion] = []
                try t.postReceive(from: peer, into: try t.register(into), offset: 0, length: size, id: 1)
                try t.postSend(to: peer, from: try t.register(out), offset: 0, length: size, id: 2)
                try t.waitForCompletions(2, into: &completions, doing: "a \(size)-byte exchange")
                XCTAssertEqual(Set(completions.map(\.id)), [1, 2])
                XCTAssertEqual(completions.first { $0.id == 1 }?.bytes, size)
                XCTAssertEqual(memcmp(into.baseAddress!, expected.baseAddress!, size), 0, "size \(size): payload differs")
                XCTAssertTrue(into[size...].allSatisfy { $0 == 0xA5 }, "size \(size): bytes written past the receive")
            }
            XCTAssertEqual(Self.leftovers(t.namePrefix), [], "names stay in /dev/shm after connect")
        }
        XCTAssertEqual(Self.leftovers(prefix), [])
    }

    func testManyInFlightMessagesCompleteInPostOrderWithZeroByteOnesAmongThem() throws {
        // 3000 messages each way, 0 to 300 bytes (every 7th empty), all posted before any
        // completes, through a 4 KiB ring: most wait for space, in order.
        let n = 3000
        func size(_ i: Int) -> Int { i % 7 == 0 ? 0 : (i * 37) % 301 }
        let offsets = (0..<n).reduce(into: [0]) { $0.append($0.last! + size($1)) }
        withRanks(2, ringBytes: 4096, chunkBytes: 1024) { r in
            let t = r.transport, peer = 1 - r.rank
            try t.connect(to: [peer])
            let out = UnsafeMutableRawBufferPointer.allocate(byteCount: offsets.last! + 8, alignment: 8)
            let into = UnsafeMutableRawBufferPointer.allocate(byteCount: offsets.last! + 8, alignment: 8)
            let expected = UnsafeMutableRawBufferPointer.allocate(byteCount: offsets.last! + 8, alignment: 8)
            defer { out.deallocate(); into.deallocate(); expected.deallocate() }
            Self.fill(out, seed: UInt64(r.rank + 1))
            Self.fill(expected, seed: UInt64(peer + 1))
            let outRegion = try t.register(out), inRegion = try t.register(into)
            for i in 0..<n { try t.postReceive(from: peer, into: inRegion, offset: offsets[i], length: size(i), id: UInt64(i)) }
            for i in 0..<n { try t.postSend(to: peer, from: outRegion, offset: offsets[i], length: size(i), id: UInt64(n + i)) }
            var completions: [Completion] = []
            try t.waitForCompletions(2 * n, into: &completions, doing: "\(n) messages each way")
            let receives = completions.filter { $0.operation == .receive }, sends = completions.filter { $0.operation == .send }
            XCTAssertEqual(receives.map(\.id), (0..<UInt64(n)).map { $0 }, "receives complete in post order")
            XCTAssertEqual(sends.map(\.id), (UInt64(n)..<UInt64(2 * n)).map { $0 }, "sends complete in post order")
            XCTAssertEqual(receives.map(\.bytes), (0..<n).map(size))
            XCTAssertEqual(memcmp(into.baseAddress!, expected.baseAddress!, offsets.last!), 0)
        }
    }

    func testFourRanksAllToAll() throws {
        let sizes = [0, 3, 1000, 300 << 10]
        let prefix = withRanks(4, ringBytes: 64 << 10) { r in
            let t = r.transport, n = t.worldSize
            let peers = (0..<n).filter { $0 != r.rank }
            try t.connect(to: peers)
            try r.store.barrier("connected")
            XCTAssertEqual(Self.leftovers(t.namePrefix), [], "every rank mapped everything: no names left")
            for size in sizes {
                let out = UnsafeMutableRawBufferPointer.allocate(byteCount: n * size + 8, alignment: 64)
                let into = UnsafeMutableRawBufferPointer.allocate(byteCount: n * size + 8, alignment: 64)
                let expected = UnsafeMutableRawBufferPointer.allocate(byteCount: size + 8, alignment: 64)
                defer { out.deallocate(); into.deallocate(); expected.deallocate() }
                // Block p of `out` goes to rank p, block p of `into` comes from rank p.
                for p in peers { Self.fill(UnsafeMutableRawBufferPointer(rebasing: out[p * size ..< p * size + size + 8]), seed: UInt64(r.rank * 100 + p)) }
                let outRegion = try t.register(out), inRegion = try t.register(into)
                for p in peers { try t.postReceive(from: p, into: inRegion, offset: p * size, length: size, id: UInt64(p)) }
                for p in peers { try t.postSend(to: p, from: outRegion, offset: p * size, length: size, id: UInt64(100 + p)) }
                var completions: [Completion] = []
                try t.waitForCompletions(2 * peers.count, into: &completions, doing: "all-to-all of \(size) bytes")
                XCTAssertEqual(Set(completions.map(\.id)), Set(peers.map(UInt64.init) + peers.map { UInt64(100 + $0) }))
                for p in peers {
                    Self.fill(expected, seed: UInt64(p * 100 + r.rank))
                    XCTAssertEqual(memcmp(into.baseAddress! + p * size, expected.baseAddress!, size), 0, "rank \(r.rank) from rank \(p), \(size) bytes")
                }
            }
        }
        XCTAssertEqual(Self.leftovers(prefix), [])
    }

    /// Both halves of the sleep protocol, deterministically: data that arrived while nobody
    /// slept (so no doorbell rang) must not be slept through, and a writer must wake a sleeper.
    func testWaitForActivitySeesUnannouncedDataAndIsWokenByTheWriter() throws {
        withRanks(2) { r in
            let t = r.transport
            try t.connect(to: [1 - r.rank])
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
            defer { buffer.deallocate() }
            let region = try t.register(buffer)
            var completions: [Completion] = []
            if r.rank == 0 {
                try t.postReceive(from: 1, into: region, offset: 0, length: 8, id: 1)
                try t.poll(&completions)
                try r.store.set("posted", [])
                _ = try r.store.get("sent", description: "rank 1's first send")
                var start = monotonicNow()
                try t.waitForActivity(milliseconds: 5000)
                XCTAssertLessThan(monotonicNow() - start, 1_000_000_000, "slept through data already in the ring")
                try t.waitForCompletions(1, into: &completions, doing: "the first message")

                try t.postReceive(from: 1, into: region, offset: 8, length: 8, id: 2)
                try r.store.set("sleeping", [])
                start = monotonicNow()
                while completions.count < 2 && monotonicNow() - start < 3_000_000_000 {
                    try t.waitForActivity(milliseconds: 3000)
                    try t.poll(&completions)
                }
                XCTAssertEqual(completions.map(\.id), [1, 2])
                XCTAssertLessThan(monotonicNow() - start, 2_000_000_000, "the writer did not wake the sleeper")
                try r.store.set("received", [])
            } else {
                _ = try r.store.get("posted", description: "rank 0's receive")
                try t.postSend(to: 0, from: region, offset: 0, length: 8, id: 1)
                try t.waitForCompletions(1, into: &completions, doing: "the first send")
                try r.store.set("sent", [])
                _ = try r.store.get("sleeping", description: "rank 0 going to sleep")
                Thread.sleep(forTimeInterval: 0.2)
                try t.postSend(to: 0, from: region, offset: 8, length: 8, id: 2)
                try t.waitForCompletions(1, into: &completions, doing: "the second send")
                // Closing rings the bell too: stay open until rank 0 has its answer.
                _ = try r.store.get("received", description: "rank 0's second message")
            }
        }
    }

    /// Ranks that sleep at once (as with more ranks than cores): every message is a wake-up,
    /// three sleeping ranks on two cores. A lost wake-up would cost a 250 ms wait slice.
    func testSleepingRanksAreWokenWithoutLoss() throws {
        let rounds = 2000
        withRanks(3, spin: .sleepAtOnce) { r in
            let t = r.transport, n = t.worldSize
            let next = (r.rank + 1) % n, previous = (r.rank + n - 1) % n
            try t.connect(to: [next, previous])
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
            defer { buffer.deallocate() }
            let region = try t.register(buffer)
            var completions: [Completion] = []
            var slow = 0
            let start = Date()
            // A token goes round the ring of ranks; each rank adds one.
            for round in 0..<rounds {
                let began = monotonicNow()
                if r.rank == 0 {
                    buffer.storeBytes(of: UInt64(round * n), toByteOffset: 0, as: UInt64.self)
                    try t.postSend(to: next, from: region, offset: 0, length: 8, id: 1)
                    try t.postReceive(from: previous, into: region, offset: 8, length: 8, id: 2)
                    try t.waitForCompletions(2, into: &completions, doing: "the token")
                    XCTAssertEqual(buffer.load(fromByteOffset: 8, as: UInt64.self), UInt64(round * n + n - 1))
                } else {
                    try t.postReceive(from: previous, into: region, offset: 0, length: 8, id: 2)
                    try t.waitForCompletions(1, into: &completions, doing: "the token")
                    buffer.storeBytes(of: buffer.load(as: UInt64.self) + 1, toByteOffset: 0, as: UInt64.self)
                    try t.postSend(to: next, from: region, offset: 0, length: 8, id: 1)
                    try t.waitForCompletions(1, into: &completions, doing: "the token to leave")
                }
                if monotonicNow() - began > 200_000_000 { slow += 1 }
            }
            XCTAssertLessThan(Date().timeIntervalSince(start), 30)
            XCTAssertLessThanOrEqual(slow, 2, "rounds near a 250 ms wait slice: lost wake-ups")
        }
    }

    // MARK: failures

    func testLengthMismatchIsAProtocolViolationNamingThePeer() throws {
        withRanks(2) { r in
            let t = r.transport, peer = 1 - r.rank
            try t.connect(to: [peer])
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 128, alignment: 8)
            defer { buffer.deallocate() }
            let region = try t.register(buffer)
            var completions: [Completion] = []
            if r.rank == 0 {
                try t.postSend(to: 1, from: region, offset: 0, length: 100, id: 7)
                try t.waitForCompletions(1, into: &completions, doing: "the send")
                try r.store.barrier("checked")
            } else {
                try t.postReceive(from: 0, into: region, offset: 0, length: 64, id: 9)
                XCTAssertThrowsError(try t.waitForCompletions(1, into: &completions, doing: "the receive")) {
                    guard case let FabricError.protocolViolation(who, detail) = $0 else { return XCTFail("\($0)") }
                    XCTAssertEqual(who, "rank 0 (shm)")
                    XCTAssertTrue(detail.contains("100-byte message") && detail.contains("64-byte receive"), detail)
                }
                XCTAssertEqual(completions, [])
                try r.store.barrier("checked")
            }
        }
    }

    func testAStalledPeerTimesOutByNameAndAClosedPeerIsGone() throws {
        withRanks(2, timeout: 1) { r in
            let t = r.transport
            try t.connect(to: [1 - r.rank])
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
            defer { buffer.deallocate() }
            let region = try t.register(buffer)
            var completions: [Completion] = []
            if r.rank == 1 {
                // Stall: rank 0's receive must time out naming rank 1; then close with a
                // receive still pending (which must neither crash nor hang).
                try t.postReceive(from: 0, into: region, offset: 0, length: 64, id: 1)
                Thread.sleep(forTimeInterval: 1.8)
                t.close()
                XCTAssertEqual(t.pendingPeers(), [])
                XCTAssertThrowsError(try t.postSend(to: 0, from: region, offset: 0, length: 8, id: 2)) { XCTAssertTrue("\($0)".contains("closed"), "\($0)") }
                XCTAssertThrowsError(try t.poll(&completions)) { XCTAssertTrue("\($0)".contains("closed"), "\($0)") }
                t.close()
                return
            }
            try t.postReceive(from: 1, into: region, offset: 0, length: 64, id: 1)
            XCTAssertEqual(t.pendingPeers(), [1])
            let start = Date()
            XCTAssertThrowsError(try t.waitForCompletions(1, into: &completions, doing: "a test message")) {
                XCTAssertTrue("\($0)".contains("timed out") && "\($0)".contains("rank 1 (shm)"), "\($0)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(start), 1.7)
            let again = Date()
            XCTAssertThrowsError(try t.waitForCompletions(1, into: &completions, doing: "a test message")) {
                XCTAssertTrue("\($0)".contains("rank 1 (shm) closed the connection"), "\($0)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(again), 0.95, "the peer's close is seen before the timeout")
        }
    }

    /// A store that reports rank 1 on another machine.
    final class ElsewhereStore: Store {
        let inner: any Store
        init(_ inner: any Store) { self.inner = inner }
        var rank: Int { inner.rank }
        var worldSize: Int { inner.worldSize }
        var token: UInt64 { inner.token }
        var timeout: Double { inner.timeout }
        func set(_ key: String, _ value: [UInt8]) throws {
            try inner.set(key, key == "shm/host/1" ? Array("node-b\n00000000-0000-0000-0000-000000000000".utf8) : value)
        }
        func get(_ key: String, description: String, timeout: Double?) throws -> [UInt8] { try inner.get(key, description: description, timeout: timeout) }
        func add(_ key: String, _ delta: Int64) throws -> Int64 { try inner.add(key, delta) }
        func checkJobIsAlive() throws { try inner.checkJobIsAlive() }
    }

    func testAPeerOnAnotherHostIsRefusedWithTheFix() throws {
        let prefix = withRanks(2, store: { ElsewhereStore($0) }) { r in
            if r.rank == 0 {
                XCTAssertThrowsError(try r.transport.connect(to: [1])) {
                    let text = "\($0)"
                    XCTAssertTrue(text.contains("rank 1 is on host node-b, not this host \(HostIdentity.current().hostName)"), text)
                    XCTAssertTrue(text.contains("--transport shm connects ranks of one host; use --transport tcp or verbs"), text)
                }
            }
            try r.store.barrier("refused")
        }
        XCTAssertEqual(Self.leftovers(prefix), [])
    }

    func testAPeerThatNeverMapsItsRingsLeavesNoName() throws {
        let prefix = withRanks(2, timeout: 1) { r in
            if r.rank == 0 {
                XCTAssertThrowsError(try r.transport.connect(to: [1])) {
                    XCTAssertTrue("\($0)".contains("timed out") && "\($0)".contains("rank 1 (shm)"), "\($0)")
                }
                XCTAssertEqual(Self.leftovers(r.transport.namePrefix), [])
                try r.store.set("checked", [])
            } else {
                _ = try r.store.get("checked", description: "rank 0's check", timeout: 10)
            }
        }
        XCTAssertEqual(Self.leftovers(prefix), [])
    }

    func testSettingsAndProbe() throws {
        XCTAssertTrue(SharedMemoryTransport.plugin.probe(TransportContext()).usable)
        XCTAssertNil(SharedMemoryTransport.plugin.autoPreference, "auto must never pick shared memory")
        withRanks(1, ringBytes: 5000, chunkBytes: 1001) { r in
            let s = r.transport.settings
            XCTAssertEqual(s["ring_bytes"], "8192")
            XCTAssertEqual(s["chunk_bytes"], "1000")
            XCTAssertEqual(s["sleep"], "futex")
            XCTAssertEqual(r.transport.describe(peer: 3), "rank 3 (shm)")
        }
    }

    // MARK: helpers

    /// Deterministic bytes from a seed (xorshift words), so the receiver can rebuild them.
    static func fill(_ b: UnsafeMutableRawBufferPointer, seed: UInt64) {
        var x = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        let words = b.count / 8
        let p = b.baseAddress!.bindMemory(to: UInt64.self, capacity: words)
        for i in 0..<words {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            p[i] = x
        }
        for i in words * 8 ..< b.count { b[i] = UInt8(truncatingIfNeeded: x >> (i & 7)) }
    }
}
