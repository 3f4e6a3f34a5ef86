import Foundation
import XCTest
@testable import FabricRendezvous
import FabricCore
import Synchronization

/// The store on a shared, hostile host: strangers, floods, clients that never read, and
/// requests crafted to trap. The store must keep serving real ranks through all of it.
final class StoreHardeningTests: XCTestCase {
    let token = WireFormat.token(for: "store-hardening")

    func server(world: Int, limits: RendezvousServer.Limits? = nil) throws -> RendezvousServer {
        let s = try RendezvousServer(host: "127.0.0.1", port: 0, worldSize: world, token: token, limits: limits)
        s.start()
        return s
    }

    func client(_ s: RendezvousServer, rank: Int, timeout: Double = 5) throws -> RendezvousClient {
        try RendezvousClient(host: "127.0.0.1", port: s.port, rank: rank, worldSize: s.worldSize, token: token, timeout: timeout)
    }

    /// A raw TCP connection to the store that does whatever the test says.
    func stranger(_ s: RendezvousServer) throws -> Socket {
        try Socket.connect(host: "127.0.0.1", port: s.port, peerName: "stranger", localRank: -1,
                           deadline: Deadline(seconds: 5), what: "a test connection")
    }

    func testACounterThatWouldOverflowIsRefusedAndTheStoreGoesOn() throws {
        let s = try server(world: 1)
        defer { s.stop() }
        let c = try client(s, rank: 0)
        XCTAssertEqual(try c.add("n", Int64.max), Int64.max)
        XCTAssertThrowsError(try c.add("n", 1)) { XCTAssertTrue("\($0)".contains("overflows"), "\($0)") }
        XCTAssertEqual(try c.add("m", Int64.min), Int64.min)
        XCTAssertThrowsError(try c.add("m", -1))
        // The refusal cost the client nothing: the store answers the next request.
        XCTAssertEqual(try c.add("n", -1), Int64.max - 1)
    }

    func testAConnectionThatNeverSaysHelloIsClosed() throws {
        var limits = RendezvousServer.Limits(worldSize: 1)
        limits.helloSeconds = 0.5
        let s = try server(world: 1, limits: limits)
        defer { s.stop() }
        let silent = try stranger(s)
        var byte: UInt8 = 0
        let start = Date()
        // The store closes it: recv sees the end of the stream, well before our 10 s bound.
        var pfd = pollfd(fd: silent.fd, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&pfd, 1, 10_000), 1)
        XCTAssertEqual(recv(silent.fd, &byte, 1, 0), 0)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        XCTAssertNoThrow(try client(s, rank: 0).set("k", [1]))
    }

    func testPartialFramesDoNotStallOtherRanks() throws {
        let s = try server(world: 2)
        defer { s.stop() }
        // Ten strangers each send half a header and hold the connection.
        let holders = try (0..<10).map { _ -> Socket in
            let h = try stranger(s)
            try h.sendAll(Array(WireFormat.frame(.hello, token: token, payload: []).prefix(7)), deadline: Deadline(seconds: 2), what: "half a header")
            return h
        }
        let start = Date()
        let a = try client(s, rank: 0), b = try client(s, rank: 1)
        try a.set("k", [7])
        XCTAssertEqual(try b.get("k", description: "k"), [7])
        XCTAssertLessThan(Date().timeIntervalSince(start), 1, "strangers holding partial frames must not slow real ranks")
        withExtendedLifetime(holders) {}
    }

    func testAFloodOfIdleSocketsDoesNotKeepRealRanksOut() throws {
        let world = 64
        let s = try server(world: world)
        defer { s.stop() }
        // 2,000 idle connections, held open: more than the store keeps for strangers.
        Socket.raiseDescriptorLimit()
        let flood = try (0..<2_000).map { _ in try stranger(s) }
        let start = Date()
        let group = DispatchGroup()
        let failures = Mutex([String]())
        for rank in 0..<world {
            group.enter()
            let port = s.port, token = token
            Thread {
                defer { group.leave() }
                do {
                    let c = try RendezvousClient(host: "127.0.0.1", port: port, rank: rank, worldSize: world, token: token, timeout: 10)
                    try c.barrier("joined")
                    c.bye()
                } catch {
                    failures.withLock { $0.append("rank \(rank): \(error)") }
                }
            }.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(failures.withLock { $0 }, [])
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "64 ranks must join within 5 s of a 2,000-socket flood")
        withExtendedLifetime(flood) {}
    }

    func testAClientThatDoesNotReadIsDroppedWithoutBlockingTheStore() throws {
        let s = try server(world: 2)
        defer { s.stop() }
        let a = try client(s, rank: 0, timeout: 10)
        try a.set("big", [UInt8](repeating: 1, count: 16 << 20))
        // Rank 1 asks for the 16 MiB value again and again and never reads a reply.
        let rogue = try stranger(s)
        var hello = ByteWriter()
        hello.u32(1)
        hello.u32(2)
        var requests = WireFormat.frame(.hello, token: token, payload: hello.bytes)
        var get = ByteWriter()
        get.string("big")
        get.u32(1000)
        for _ in 0..<8 { requests += WireFormat.frame(.get, token: token, payload: get.bytes) }
        try rogue.sendAll(requests, deadline: Deadline(seconds: 5), what: "requests")
        // The store thread stays free: rank 0's round trips stay quick meanwhile.
        for i in 0..<20 {
            let t0 = Date()
            try a.set("tick/\(i)", [UInt8(i)])
            XCTAssertLessThan(Date().timeIntervalSince(t0), 1, "a set took \(Date().timeIntervalSince(t0)) s while a client did not read")
        }
        withExtendedLifetime(rogue) {}
    }
}
