import Foundation
import XCTest
@testable import FabricTCP
import FabricCore
import FabricRendezvous

/// Two ranks in one process, each on its own thread, over loopback.
final class TCPTransportTests: XCTestCase {
    func withPair(timeout: Double = 10, busyPoll: Bool = false, socketBuffer: Int = 4 << 20,
                  _ body: @escaping (TCPTransport) throws -> Void) throws {
        let token = WireFormat.token(for: "tcp-test-\(UUID())")
        let server = try RendezvousServer(host: "127.0.0.1", port: 0, worldSize: 2, token: token)
        server.start()
        defer { server.stop() }
        let group = DispatchGroup()
        let lock = NSLock()
        // Each rank is a thread by design; `errors` is guarded by `lock`, `body` is called once per rank.
        nonisolated(unsafe) var errors: [String] = []
        nonisolated(unsafe) let body = body
        for rank in 0..<2 {
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    let client = try RendezvousClient(host: "127.0.0.1", port: server.port, rank: rank, worldSize: 2, token: token, timeout: timeout)
                    var options = TCPOptions()
                    options.timeout = timeout
                    options.busyPoll = busyPoll
                    options.socketBufferBytes = socketBuffer
                    let t = try TCPTransport(store: client, options: options, masterHost: "127.0.0.1")
                    try t.connect(to: [1 - rank])
                    try body(t)
                    t.close()
                    client.bye()
                } catch {
                    lock.withLock { errors.append("rank \(rank): \(error)") }
                }
            }.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(errors, [])
    }

    func testBytesArriveIntactInBothDirectionsAtOnce() throws {
        let sizes = [1, 7, 4096, 65_537, 2 << 20]
        // Small socket buffers: 2 MiB each way cannot sit in the kernel, so a transport that
        // did not advance both directions together would deadlock here.
        try withPair(socketBuffer: 64 << 10) { t in
            let peer = 1 - t.rank
            for size in sizes {
                let out = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
                let into = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
                defer { out.deallocate(); into.deallocate() }
                var x = UInt64.random(in: 1...UInt64.max)
                for i in 0..<size { x ^= x << 13; x ^= x >> 7; x ^= x << 17; out[i] = UInt8(truncatingIfNeeded: x) }
                into.initializeMemory(as: UInt8.self, repeating: 0)
                let outRegion = try t.register(out), inRegion = try t.register(into)
                // Exchange a digest, then the data both ways at once.
                var digest = Self.digest(out)
                let d = UnsafeMutableRawBufferPointer(start: &digest, count: 8)
                var peerDigest: UInt64 = 0
                let pd = UnsafeMutableRawBufferPointer(start: &peerDigest, count: 8)
                var completions: [Completion] = []
                try t.postReceive(from: peer, into: try t.register(pd), offset: 0, length: 8, id: 10)
                try t.postSend(to: peer, from: try t.register(d), offset: 0, length: 8, id: 11)
                try t.postReceive(from: peer, into: inRegion, offset: 0, length: size, id: 1)
                try t.postSend(to: peer, from: outRegion, offset: 0, length: size, id: 2)
                try t.waitForCompletions(4, into: &completions, doing: "the exchange")
                XCTAssertEqual(Set(completions.map(\.id)), [1, 2, 10, 11])
                XCTAssertEqual(completions.first { $0.id == 1 }?.bytes, size)
                XCTAssertEqual(Self.digest(into), peerDigest, "size \(size)")
            }
        }
    }

    func testBusyPollAndOrderedSmallMessages() throws {
        try withPair(busyPoll: true) { t in
            let peer = 1 - t.rank
            let n = 1000
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8 * n, alignment: 8)
            defer { buffer.deallocate() }
            let region = try t.register(buffer)
            var completions: [Completion] = []
            if t.rank == 0 {
                for i in 0..<n { buffer.storeBytes(of: UInt64(i), toByteOffset: 8 * i, as: UInt64.self) }
                for i in 0..<n { try t.postSend(to: peer, from: region, offset: 8 * i, length: 8, id: UInt64(i)) }
            } else {
                for i in 0..<n { try t.postReceive(from: peer, into: region, offset: 8 * i, length: 8, id: UInt64(i)) }
            }
            try t.waitForCompletions(n, into: &completions, doing: "messages")
            XCTAssertEqual(completions.map(\.id), (0..<UInt64(n)).map { $0 }, "completions come in post order")
            if t.rank == 1 {
                for i in 0..<n { XCTAssertEqual(buffer.load(fromByteOffset: 8 * i, as: UInt64.self), UInt64(i)) }
            }
        }
    }

    func testAPeerThatLeavesIsNamedAndAStalledPeerTimesOut() throws {
        try withPair(timeout: 1) { t in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
            defer { buffer.deallocate() }
            let region = try t.register(buffer)
            var completions: [Completion] = []
            if t.rank == 1 {
                // Stall: rank 0's receive must time out naming rank 1; then leave.
                Thread.sleep(forTimeInterval: 1.8)
                t.close()
                return
            }
            try t.postReceive(from: 1, into: region, offset: 0, length: 64, id: 1)
            let start = Date()
            XCTAssertThrowsError(try t.waitForCompletions(1, into: &completions, doing: "a test message")) {
                XCTAssertTrue("\($0)".contains("timed out") && "\($0)".contains("rank 1 ("), "\($0)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(start), 1.7)
            XCTAssertThrowsError(try t.waitForCompletions(1, into: &completions, doing: "a test message")) {
                XCTAssertTrue("\($0)".contains("closed the connection") && "\($0)".contains("rank 1"), "\($0)")
            }
        }
    }

    static func digest(_ b: UnsafeMutableRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in b { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return h
    }
}
