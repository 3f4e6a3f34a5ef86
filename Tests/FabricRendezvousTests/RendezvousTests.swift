import Foundation
import XCTest
@testable import FabricRendezvous
import FabricCore

final class RendezvousTests: XCTestCase {
    let token = WireFormat.token(for: "rendezvous-test")

    func server(world: Int) throws -> RendezvousServer {
        let s = try RendezvousServer(host: "127.0.0.1", port: 0, worldSize: world, token: token)
        s.start()
        return s
    }

    func client(_ s: RendezvousServer, rank: Int, world: Int? = nil, timeout: Double = 5) throws -> RendezvousClient {
        try RendezvousClient(host: "127.0.0.1", port: s.port, rank: rank, worldSize: world ?? s.worldSize, token: token, timeout: timeout)
    }

    func testSetGetAddAndBlockingGet() throws {
        let s = try server(world: 2)
        defer { s.stop() }
        let a = try client(s, rank: 0), b = try client(s, rank: 1)
        try a.set("k", [1, 2, 3])
        XCTAssertEqual(try b.get("k", description: "k"), [1, 2, 3])
        XCTAssertEqual(try a.add("c", 5), 5)
        XCTAssertEqual(try b.add("c", -2), 3)
        // A get waits for a later set.
        nonisolated(unsafe) let setter = a  // handed to one other thread until `setDone`
        let setDone = DispatchSemaphore(value: 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { try? setter.set("late", [9]); setDone.signal() }
        XCTAssertEqual(try b.get("late", description: "late"), [9])
        // The get returns once the value reached the store, possibly before the setter has read
        // its own reply: a client is one thread's, so `a` is used again only after that.
        XCTAssertEqual(setDone.wait(timeout: .now() + 10), .success)
        a.bye(); b.bye()
        XCTAssertEqual(s.waitForRanksToLeave(deadline: Deadline(seconds: 2)), [])
    }

    /// A long sweep gathers every rank's iteration times at each size; the store must not keep
    /// them once rank 0 has read them (small values may stay).
    func testGatheredValuesDoNotStayInTheStore() throws {
        let s = try server(world: 2)
        defer { s.stop() }
        let a = try client(s, rank: 0), b = try client(s, rank: 1)
        let times = (0..<100_000).map { UInt64($0) * 977 }
        XCTAssertNil(try ControlPlane(store: b).gather("size/0", times, what: "times"))
        let gathered = try XCTUnwrap(try ControlPlane(store: a).gather("size/0", [UInt64(7)], what: "times"))
        XCTAssertEqual(gathered, [[7], times])
        XCTAssertEqual(try a.get("size/0/1", description: "rank 1's times", timeout: 0), [])
        XCTAssertEqual(try a.get("size/0/0", description: "rank 0's times", timeout: 0), Array("[7]".utf8), "a small value may stay")
    }

    func testBarrierReleasesOnlyWhenAllArrive() throws {
        let s = try server(world: 3)
        defer { s.stop() }
        let clients = try (0..<3).map { try client(s, rank: $0) }
        let released = DispatchSemaphore(value: 0)
        for c in clients.prefix(2) {
            nonisolated(unsafe) let c = c  // each client is used by its own thread alone
            DispatchQueue.global().async { try? c.barrier("b"); released.signal() }
        }
        XCTAssertEqual(released.wait(timeout: .now() + 0.3), .timedOut)
        try clients[2].barrier("b")
        XCTAssertEqual(released.wait(timeout: .now() + 2), .success)
        XCTAssertEqual(released.wait(timeout: .now() + 2), .success)
    }

    func testGetTimesOutNamingWhatItWaitedFor() throws {
        let s = try server(world: 1)
        defer { s.stop() }
        let c = try client(s, rank: 0)
        let start = Date()
        XCTAssertThrowsError(try c.get("tcp/address/3", description: "the data address of rank 3", timeout: 0.5)) {
            XCTAssertTrue("\($0)".contains("the data address of rank 3"), "\($0)")
            XCTAssertTrue("\($0)".contains("timed out"), "\($0)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
    }

    func testARankThatVanishesAbortsWaitersAtOnce() throws {
        let s = try server(world: 2)
        defer { s.stop() }
        let waiting = try client(s, rank: 0, timeout: 30), doomed = try client(s, rank: 1)
        nonisolated(unsafe) let leaver = doomed  // used by that thread alone
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { leaver.abandon() }
        let start = Date()
        XCTAssertThrowsError(try waiting.get("result/1", description: "rank 1's result")) {
            XCTAssertTrue("\($0)".contains("rank 1"), "\($0)")
            XCTAssertTrue("\($0)".contains("left the job"), "\($0)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "the abort must not wait out the 30 s timeout")
        XCTAssertNotNil(s.abortReason)
    }

    func testJoinRejections() throws {
        let s = try server(world: 2)
        defer { s.stop() }
        let first = try client(s, rank: 0)
        defer { first.bye() }
        XCTAssertThrowsError(try client(s, rank: 0)) { XCTAssertTrue("\($0)".contains("already joined"), "\($0)") }
        XCTAssertThrowsError(try client(s, rank: 5)) { XCTAssertTrue("\($0)".contains("out of range"), "\($0)") }
        XCTAssertThrowsError(try client(s, rank: 1, world: 4)) { XCTAssertTrue("\($0)".contains("world size mismatch"), "\($0)") }
        let other = try RendezvousServer(host: "127.0.0.1", port: 0, worldSize: 2, token: WireFormat.token(for: "other job"))
        other.start()
        defer { other.stop() }
        XCTAssertThrowsError(try RendezvousClient(host: "127.0.0.1", port: other.port, rank: 0, worldSize: 2, token: token, timeout: 2)) {
            XCTAssertTrue("\($0)".contains("another job"), "\($0)")
        }
    }

    func testMalformedBytesAreRejectedAndTheServerKeepsServing() throws {
        let s = try server(world: 1)
        defer { s.stop() }
        for garbage in [Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
                        WireFormat.frame(.set, token: token, payload: [0, 0, 0, 200, 1]),  // set before hello, overrunning key
                        WireFormat.frame(.hello, token: token, payload: [0, 0])] {  // truncated hello
            let raw = try Socket.connect(host: "127.0.0.1", port: s.port, peerName: "server", localRank: 0,
                                         deadline: Deadline(seconds: 2), what: "test")
            try raw.sendAll(garbage, deadline: Deadline(seconds: 2), what: "garbage")
            // The server answers with a failure or just closes; either way it drops us.
            var buffer = [UInt8](repeating: 0, count: 4096)
            var closed = false
            let deadline = Deadline(seconds: 3)
            while !deadline.expired {
                let n = recv(raw.fd, &buffer, buffer.count, 0)
                if n == 0 || (n < 0 && errno != EAGAIN) { closed = true; break }
                if n < 0 { usleep(10_000) }
            }
            XCTAssertTrue(closed, "server kept a connection that sent \(garbage.prefix(8))")
        }
        let c = try client(s, rank: 0)
        try c.set("still", [1])
        XCTAssertEqual(try c.get("still", description: "still"), [1])
    }

    func testConnectingToNobodyTimesOutNamingTheRendezvous() {
        // Port 1 on loopback: nothing listens, so every attempt is refused until the deadline.
        XCTAssertThrowsError(try RendezvousClient(host: "127.0.0.1", port: 1, rank: 2, worldSize: 4, token: token, timeout: 0.5)) {
            XCTAssertTrue("\($0)".contains("rank 2") && "\($0)".contains("127.0.0.1:1"), "\($0)")
        }
    }
}
