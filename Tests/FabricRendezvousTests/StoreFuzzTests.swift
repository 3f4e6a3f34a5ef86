import Foundation
import XCTest
@testable import FabricRendezvous
import FabricCore

/// Seeded random and mutated frames against a live store: it must neither crash nor grow,
/// and must still answer a real rank at once afterwards. FABRICBENCH_FUZZ_FRAMES sets the
/// count (scripts/fuzz.sh runs 1e6; the suite runs a short pass).
final class StoreFuzzTests: XCTestCase {
    let token = WireFormat.token(for: "store-fuzz")

    /// Valid requests of every type, the seeds the mutations start from.
    func seeds() -> [[UInt8]] {
        func payload(_ build: (inout ByteWriter) -> Void) -> [UInt8] { var w = ByteWriter(); build(&w); return w.bytes }
        return [
            WireFormat.frame(.hello, token: token, payload: payload { $0.u32(1); $0.u32(4) }),
            WireFormat.frame(.set, token: token, payload: payload { $0.string("k"); $0.blob([1, 2, 3]) }),
            WireFormat.frame(.get, token: token, payload: payload { $0.string("k"); $0.u32(0) }),
            WireFormat.frame(.add, token: token, payload: payload { $0.string("n"); $0.u64(UInt64(bitPattern: Int64.max)) }),
            WireFormat.frame(.bye, token: token, payload: []),
            WireFormat.frame(.channelHello, token: token, payload: payload { $0.u32(0); $0.u32(1) }),
        ]
    }

    static func residentBytes() -> Int {
        let text = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
        return (Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    func testTheStoreSurvivesMutatedFramesAndStillAnswers() throws {
        let frames = Int(ProcessInfo.processInfo.environment["FABRICBENCH_FUZZ_FRAMES"] ?? "") ?? 20_000
        let s = try RendezvousServer(host: "127.0.0.1", port: 0, worldSize: 4, token: token)
        s.start()
        defer { s.stop() }
        var rng = SplitMix64(state: 0xFA_B1C)
        let seeds = seeds()
        var connection: Socket?
        var sent = 0, connections = 0
        // What the fuzz adds, not what earlier tests in this process left resident (under
        // AddressSanitizer, its allocator keeps freed memory: hundreds of MiB by this test).
        let residentBefore = Self.residentBytes()
        let started = Date()
        while sent < frames {
            if connection == nil {
                connection = try Socket.connect(host: "127.0.0.1", port: s.port, peerName: "fuzzer", localRank: -1,
                                                deadline: Deadline(seconds: 5), what: "a fuzz connection")
                connections += 1
            }
            var frame = seeds[Int(rng.next() % UInt64(seeds.count))]
            switch rng.next() % 6 {
            case 0:  // flip bits anywhere, header included
                for _ in 0..<(1 + rng.next() % 4) { frame[Int(rng.next() % UInt64(frame.count))] ^= UInt8(1 << (rng.next() % 8)) }
            case 1:  // a hostile length field: the payload length or a string/blob length inside
                let at = rng.next() % 2 == 0 ? 16 : min(frame.count - 4, 20 + Int(rng.next() % 8))
                let value: UInt32 = [UInt32.max, 0x7fff_ffff, 64 << 20, 64 << 20 + 1, 0][Int(rng.next() % 5)]
                if at + 4 <= frame.count { withUnsafeBytes(of: value.bigEndian) { frame.replaceSubrange(at..<at + 4, with: $0) } }
            case 2:  // cut short
                frame.removeLast(Int(rng.next() % UInt64(frame.count)))
            case 3:  // random bytes only
                frame = (0..<(1 + rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            case 4:  // trailing garbage inside the declared payload
                frame += (0..<(rng.next() % 16)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            default:  // valid, to get past the handshake and reach the request handlers
                break
            }
            do {
                try connection!.sendAll(frame, deadline: Deadline(seconds: 2), what: "a fuzz frame")
                // Read what the store said; an end of stream means it dropped us (as it should
                // for most mutations), and the next frame goes to a new connection.
                var reply = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = recv(connection!.fd, &reply, reply.count, Int32(MSG_DONTWAIT))
                    if n > 0 { continue }
                    if n == 0 || (errno != EAGAIN && errno != EINTR) { connection = nil }
                    break
                }
            } catch {
                connection = nil
            }
            // Now and then start over, so hellos and requests before hello are both exercised.
            if rng.next() % 64 == 0 { connection = nil }
            sent += 1
        }
        connection = nil
        let seconds = Date().timeIntervalSince(started)
        // The store answers a real rank at once: a hello gets its reply (or a refusal) in 100 ms.
        let probe = try Socket.connect(host: "127.0.0.1", port: s.port, peerName: "the store", localRank: 0,
                                       deadline: Deadline(seconds: 5), what: "a probe")
        var hello = ByteWriter()
        hello.u32(0)
        hello.u32(4)
        let t0 = Date()
        try probe.sendAll(WireFormat.frame(.hello, token: token, payload: hello.bytes), deadline: Deadline(seconds: 1), what: "hello")
        let header = try WireFormat.parseHeader(try probe.receiveAll(count: WireFormat.headerSize, deadline: Deadline(seconds: 1), what: "the reply"),
                                                token: token, peer: "the store")
        XCTAssertTrue(header.type == .reply || header.type == .failure, "\(header.type)")
        XCTAssertLessThan(Date().timeIntervalSince(t0), 0.1, "the store took \(Date().timeIntervalSince(t0)) s to answer after the fuzz")
        let rss = Self.residentBytes(), grown = rss - residentBefore
        XCTAssertLessThan(grown, 256 << 20, "resident memory grew \(grown >> 20) MiB (to \(rss >> 20) MiB) over \(frames) frames")
        print("store fuzz: \(frames) frames over \(connections) connections in \(String(format: "%.1f", seconds)) s; resident \(rss >> 20) MiB (\(grown >> 20) MiB more); answered in \(String(format: "%.1f", Date().timeIntervalSince(t0) * 1000)) ms")
    }
}

/// A small seeded generator (the tests' own, so runs repeat).
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
