import XCTest
@testable import FabricCore

/// StripedTransport apart from any wire: parts that record what was posted on them and
/// complete it when the test says, in any order.
final class StripedTransportTests: XCTestCase {
    /// A store in a dictionary; `get` of a missing key fails at once, naming the description.
    final class DictionaryStore: Store {
        var values: [String: [UInt8]] = [:]
        let rank: Int, worldSize: Int
        init(rank: Int, worldSize: Int) { self.rank = rank; self.worldSize = worldSize }
        var token: UInt64 { 1 }
        var timeout: Double { 1 }
        func set(_ key: String, _ value: [UInt8]) throws { values[key] = value }
        func get(_ key: String, description: String, timeout: Double?) throws -> [UInt8] {
            guard let v = values[key] else { throw FabricError.timeout(rank: rank, waitingFor: description, peer: "the store", seconds: 0) }
            return v
        }
        func add(_ key: String, _ delta: Int64) throws -> Int64 { 0 }
        func checkJobIsAlive() throws {}
    }

    /// Records posts; `finish` completes a posted operation.
    final class RecordingPart: Transport {
        struct Post: Equatable { var operation: Completion.Operation; var peer: Int; var base: UnsafeMutableRawPointer; var offset: Int; var length: Int; var id: UInt64 }
        var posts: [Post] = []
        var ready: [Completion] = []
        var registered = 0
        let kind = TransportKind("fake")
        let rank = 0, worldSize = 2
        let timeout = 1.0, spinBeforeSleep = SpinBudget.sleepAtOnce
        let name: String
        init(_ name: String) { self.name = name }
        var settings: [String: String] { ["device": name, "port": "1"] }
        func connect(to peers: [Int]) throws {}
        func register(_ buffer: UnsafeMutableRawBufferPointer) throws -> MemoryRegion {
            registered += 1
            return MemoryRegion(base: buffer.baseAddress!, length: buffer.count, key: UInt64(registered))
        }
        func deregister(_ region: MemoryRegion) { registered -= 1 }
        var registrationCount: Int { registered }
        func postSend(to peer: Int, from region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
            posts.append(Post(operation: .send, peer: peer, base: region.base, offset: offset, length: length, id: id))
        }
        func postReceive(from peer: Int, into region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
            posts.append(Post(operation: .receive, peer: peer, base: region.base, offset: offset, length: length, id: id))
        }
        func finish(_ index: Int) { let p = posts[index]; ready.append(Completion(peer: p.peer, operation: p.operation, id: p.id, bytes: p.length)) }
        func poll(_ completions: inout [Completion]) throws { completions += ready; ready.removeAll() }
        func waitForActivity(milliseconds: Int32) throws {}
        func checkJobIsAlive() throws {}
        func pendingPeers() -> [Int] { [] }
        func describe(peer: Int) -> String { "rank \(peer)" }
        func close() {}
    }

    func striped(_ names: [String], store: DictionaryStore = DictionaryStore(rank: 0, worldSize: 2)) throws -> (StripedTransport, [RecordingPart]) {
        var parts: [RecordingPart] = []
        let t = try StripedTransport(parts: names.count, store: store) { i, _ in
            let p = RecordingPart(names[i])
            parts.append(p)
            return p
        }
        return (t, parts)
    }

    func testStripesCoverTheMessageOnceAlignedAndSmallOnesGoWhole() {
        let small = StripedTransport.stripes(of: 8191, parts: 3)
        XCTAssertEqual(small.map(\.part), [0, 1, 2], "below 3 × 4 KiB: whole on the first NIC, empty on the others")
        XCTAssertEqual(small.map(\.length), [8191, 0, 0])
        for (length, parts) in [(8192, 2), (1 << 20, 2), (1_000_003, 3), (65536 + 1, 4), (1 << 24, 8)] {
            let s = StripedTransport.stripes(of: length, parts: parts)
            XCTAssertEqual(s.map(\.part), Array(0..<parts))
            XCTAssertEqual(s.map(\.length).reduce(0, +), length)
            for (a, b) in zip(s, s.dropFirst()) { XCTAssertEqual(a.offset + a.length, b.offset, "contiguous, no overlap") }
            XCTAssertTrue(s.allSatisfy { $0.offset % 64 == 0 && $0.length >= StripedTransport.minimumStripe }, "\(s)")
        }
        // Every message touches every NIC, so two ends that disagree on a length disagree on
        // some NIC's stripe, whatever the two lengths.
        for a in stride(from: 0, through: 40000, by: 1000) {
            for b in stride(from: a + 1, through: 40001, by: 1999) {
                let (x, y) = (StripedTransport.stripes(of: a, parts: 2), StripedTransport.stripes(of: b, parts: 2))
                XCTAssertNotEqual(x.map(\.length), y.map(\.length), "\(a) against \(b)")
            }
        }
    }

    func testCompletionsLeaveInPostedOrderWhicheverNICFinishesFirst() throws {
        let (t, parts) = try striped(["mlx5_0", "mlx5_1"])
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        let region = try t.register(buffer)
        XCTAssertEqual(parts.map(\.registered), [1, 1], "registered with each NIC")
        try t.postSend(to: 1, from: region, offset: 0, length: 1 << 20, id: 10)   // striped
        try t.postSend(to: 1, from: region, offset: 64, length: 100, id: 11)      // whole, on mlx5_0
        XCTAssertEqual(parts[0].posts.map(\.length), [1 << 19, 100])
        XCTAssertEqual(parts[1].posts.map(\.length), [1 << 19, 0], "the small one whole on mlx5_0, empty on mlx5_1")
        XCTAssertEqual(parts[1].posts[0].offset, 1 << 19)
        var done: [Completion] = []
        parts[0].finish(1)  // the small one is done before the big one's stripes
        parts[1].finish(1)
        parts[0].finish(0)
        try t.poll(&done)
        XCTAssertEqual(done, [], "message 10 still waits for its stripe on mlx5_1, and 11 waits for 10")
        parts[1].finish(0)
        try t.poll(&done)
        XCTAssertEqual(done.map(\.id), [10, 11])
        XCTAssertEqual(done.map(\.bytes), [1 << 20, 100])
        // Receives are queued apart from sends.
        try t.postReceive(from: 1, into: region, offset: 0, length: 16, id: 20)
        parts[0].finish(2)
        parts[1].finish(2)
        try t.poll(&done)
        XCTAssertEqual(done.last, Completion(peer: 1, operation: .receive, id: 20, bytes: 16))
        // A slice of the region (its base moved, its key kept, as CollectiveBuffers cuts
        // them) reaches every part at the slice's base.
        let slice = MemoryRegion(base: region.base + 4096, length: 1 << 16, key: region.key)
        try t.postSend(to: 1, from: slice, offset: 0, length: 1 << 16, id: 30)
        XCTAssertEqual(parts[0].posts.last?.base, region.base + 4096)
        XCTAssertEqual(parts[1].posts.last?.base, region.base + 4096)
        XCTAssertEqual(parts[1].posts.last?.offset, 1 << 15)
        // Out of range: refused before any NIC posts anything.
        let before = parts.map(\.posts.count)
        XCTAssertThrowsError(try t.postSend(to: 2, from: region, offset: 0, length: 8, id: 40))
        XCTAssertThrowsError(try t.postSend(to: 1, from: slice, offset: 64, length: 1 << 16, id: 41))
        XCTAssertEqual(parts.map(\.posts.count), before)
        t.deregister(region)
        XCTAssertEqual(parts.map(\.registered), [0, 0])
        XCTAssertEqual(t.registrationCount, 0)
        XCTAssertEqual(t.settings["device"], "mlx5_0+mlx5_1")
        XCTAssertEqual(t.settings["port"], "1", "a setting every NIC shares is shown once")
    }

    func testAPeerOnAnotherNumberOfNICsIsRefusedByName() throws {
        let store = DictionaryStore(rank: 0, worldSize: 2)
        let (t, _) = try striped(["a", "b"], store: store)
        store.values["striping/1"] = Array("3".utf8)
        XCTAssertThrowsError(try t.connect(to: [1])) { error in
            XCTAssertEqual("\(error)", "\(FabricError.configuration("rank 0 stripes over 2 NICs, rank 1 over 3: give every rank the same number of NICs joined by '+'"))")
        }
        store.values["striping/1"] = nil
        XCTAssertThrowsError(try t.connect(to: [1])) { error in
            XCTAssertTrue("\(error)".contains("rank 1's NIC count for striping"), "\(error)")
        }
        XCTAssertEqual(store.values["striping/0"], Array("2".utf8))
    }
}
