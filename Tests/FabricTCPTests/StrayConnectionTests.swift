import Foundation
import XCTest
@testable import FabricTCP
import FabricCore
import FabricRendezvous
import Synchronization

/// The data port is open to anyone on the host or fabric while a job sets up: port scans,
/// half-open connections and foreign bytes must not hang or break it.
final class StrayConnectionTests: XCTestCase {
    func testStrangersOnTheDataPortDuringSetupAreIgnored() throws {
        let token = WireFormat.token(for: "stray-\(UUID())")
        let server = try RendezvousServer(host: "127.0.0.1", port: 0, worldSize: 2, token: token)
        server.start()
        defer { server.stop() }
        let errors = Mutex([String]())
        let strangersDone = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        let port = server.port
        for rank in 0..<2 {
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    let client = try RendezvousClient(host: "127.0.0.1", port: port, rank: rank, worldSize: 2, token: token, timeout: 20)
                    var options = TCPOptions()
                    options.timeout = 20
                    let t = try TCPTransport(store: client, options: options, masterHost: "127.0.0.1")
                    var held: [Socket] = []
                    if rank == 0 {
                        // Rank 0 accepts rank 1; strangers reach its port first.
                        held = Self.harass(t.advertisedAddress, token: token, done: strangersDone)
                    } else {
                        strangersDone.wait()
                    }
                    try t.connect(to: [1 - rank])
                    try Self.pingPong(t)
                    withExtendedLifetime(held) {}  // the strangers hold on through setup
                    t.close()
                    client.bye()
                } catch {
                    errors.withLock { $0.append("rank \(rank): \(error)") }
                }
            }.start()
        }
        let start = Date()
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success, "setup hung")
        XCTAssertEqual(errors.withLock { $0 }, [])
        XCTAssertLessThan(Date().timeIntervalSince(start), 20, "setup must not wait out the strangers")
    }

    /// 100 connect-and-close, 10 connect-and-hold, 10 partial frames, 10 foreign hellos, then `done`.
    static func harass(_ address: String, token: UInt64, done: DispatchSemaphore) -> [Socket] {
        let colon = address.lastIndex(of: ":")!
        let host = String(address[..<colon]), port = Int(address[address.index(after: colon)...])!
        var held: [Socket] = []
        func open() -> Socket? {
            try? Socket.connect(host: host, port: port, peerName: "stranger", localRank: -1, deadline: Deadline(seconds: 5), what: "a stray connection")
        }
        for _ in 0..<100 { open()?.close() }
        for _ in 0..<10 { if let s = open() { held.append(s) } }
        for _ in 0..<10 {
            if let s = open() {
                try? s.sendAll(Array(WireFormat.frame(.channelHello, token: token, payload: [0, 0, 0, 1]).prefix(11)), deadline: Deadline(seconds: 1), what: "half a hello")
                held.append(s)
            }
        }
        for _ in 0..<10 {
            if let s = open() {
                try? s.sendAll(WireFormat.frame(.channelHello, token: token &+ 1, payload: [0, 0, 0, 1, 0, 0, 0, 0]), deadline: Deadline(seconds: 1), what: "a foreign hello")
                held.append(s)
            }
        }
        done.signal()
        return held
    }

    static func pingPong(_ t: TCPTransport) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 64)
        defer { buffer.deallocate() }
        let region = try t.register(buffer)
        var completions: [Completion] = []
        let peer = 1 - t.rank
        if t.rank == 0 {
            buffer.storeBytes(of: 42 as UInt64, as: UInt64.self)
            try t.postSend(to: peer, from: region, offset: 0, length: 8, id: 1)
            try t.postReceive(from: peer, into: region, offset: 8, length: 8, id: 2)
            try t.waitForCompletions(2, into: &completions, doing: "the ping")
            XCTAssertEqual(buffer.load(fromByteOffset: 8, as: UInt64.self), 43)
        } else {
            try t.postReceive(from: peer, into: region, offset: 0, length: 8, id: 1)
            try t.waitForCompletions(1, into: &completions, doing: "the ping")
            buffer.storeBytes(of: buffer.load(as: UInt64.self) + 1, toByteOffset: 8, as: UInt64.self)
            try t.postSend(to: peer, from: region, offset: 8, length: 8, id: 2)
            try t.waitForCompletions(1, into: &completions, doing: "the pong")
        }
    }
}
