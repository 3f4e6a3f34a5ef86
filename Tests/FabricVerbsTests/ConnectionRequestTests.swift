import XCTest
@testable import FabricVerbs
import FabricCore
import FabricMeasure

/// `--cm`'s connection request (the rdma_cm private data): the job token in WireFormat's frame,
/// then who calls whom for which queue pair. The decoder must be total: whatever bytes a
/// stranger sends give a refusal, never a trap; and the accepting rank's checks of the claim.
final class ConnectionRequestTests: XCTestCase {
    let token: UInt64 = 0x1234_5678_9abc_def0
    let request = ConnectionRequest(rank: 70_000, target: 12, queuePair: 3, queuePairs: 4)

    /// The decoder's error, or nil when it decoded.
    func refusal(_ bytes: [UInt8], token: UInt64? = nil) -> String? {
        do {
            _ = try ConnectionRequest(decoding: bytes, token: token ?? self.token, peer: "a stranger")
            return nil
        } catch let error as FabricError {
            guard case .protocolViolation = error else { return "not a protocol violation: \(error)" }
            XCTAssertTrue("\(error)".contains("a stranger"), "the refusal does not name the sender: \(error)")
            return "\(error)"
        } catch {
            return "not a FabricError: \(error)"
        }
    }

    func testARequestRoundTripsWithAndWithoutTheCMsPadding() throws {
        let bytes = request.encoded(token: token)
        XCTAssertEqual(bytes.count, ConnectionRequest.encodedBytes)
        XCTAssertLessThanOrEqual(bytes.count, 56, "more than a connect request over IB or RoCE carries")
        for padding in [0, 24, ConnectionRequest.maximumBytes - bytes.count] {
            XCTAssertEqual(try ConnectionRequest(decoding: bytes + Array(repeating: 0, count: padding), token: token, peer: "rank 70000"), request)
        }
    }

    func testEveryTruncationIsRefused() {
        let bytes = request.encoded(token: token)
        for length in 0..<bytes.count {
            XCTAssertNotNil(refusal(Array(bytes.prefix(length))), "\(length) of \(bytes.count) bytes decoded")
        }
        XCTAssertNotNil(refusal(Array(repeating: 0, count: 56)), "zeros (an empty request, padded) decoded")
    }

    func testOversizedOrTrailingBytesAreRefused() {
        let bytes = request.encoded(token: token)
        XCTAssertNotNil(refusal(bytes + Array(repeating: 0, count: ConnectionRequest.maximumBytes + 1 - bytes.count)), "256 bytes decoded")
        XCTAssertNotNil(refusal(bytes + Array(repeating: 0, count: 4096)), "4 KiB decoded")
        XCTAssertNotNil(refusal(bytes + [0, 0, 7]), "a request with garbage after it decoded")
        // A header announcing a longer payload than a request's.
        var long = bytes
        long[16...19] = [0xff, 0xff, 0xff, 0xff]
        XCTAssertNotNil(refusal(long), "a payload length of 2^32-1 decoded")
        long[16...19] = [0, 0, 0, 13]
        XCTAssertNotNil(refusal(long + [0]), "a 13-byte payload decoded")
    }

    func testAnotherJobsTokenIsRefusedWhicheverBitDiffers() throws {
        XCTAssertNotNil(refusal(request.encoded(token: token &+ 1)))
        for bit in 0..<64 {
            let error = try XCTUnwrap(refusal(request.encoded(token: token ^ (1 << UInt64(bit)))), "token with bit \(bit) flipped decoded")
            XCTAssertTrue(error.contains("job token"), "bit \(bit): \(error)")
        }
        // The TCP data handshake's hello, with the right token, is not a connection request.
        let hello = WireFormat.frame(.channelHello, token: token, payload: Array(repeating: 0, count: 12))
        XCTAssertNotNil(refusal(hello))
    }

    /// Seeded mutations of a real request and random bytes of every length up to past the
    /// limit: each one decodes or is refused; the test getting to its end is the proof that
    /// none traps.
    func testMutatedAndRandomPrivateDataNeverTraps() {
        var random = SplitMix64(seed: 11)
        let bytes = request.encoded(token: token)
        var decoded = 0, refused = 0
        for i in 0..<20_000 {
            var input: [UInt8]
            if i % 2 == 0 {
                input = bytes + Array(repeating: 0, count: Int.random(in: 0...30, using: &random))
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    input[Int.random(in: 0..<input.count, using: &random)] ^= UInt8.random(in: 1...255, using: &random)
                }
                if Bool.random(using: &random) { input = Array(input.prefix(Int.random(in: 0...input.count, using: &random))) }
            } else {
                input = (0..<Int.random(in: 0...300, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            }
            if refusal(input) == nil { decoded += 1 } else { refused += 1 }
        }
        // Mutations of the rank, queue pair or padding-free fields still decode; the decoder
        // must not refuse everything either.
        XCTAssertGreaterThan(decoded, 0)
        XCTAssertGreaterThan(refused, 15_000)
    }

    func testTheAcceptingRankChecksTheClaim() {
        // Rank 2 of 6, 2 queue pairs per peer; rank 4's queue pair 0 is taken.
        func check(_ r: ConnectionRequest) -> (problem: String, fatal: Bool)? {
            r.refusal(at: 2, worldSize: 6, queuePairs: 2) { $0 == 4 && $1 == 0 }
        }
        XCTAssertNil(check(ConnectionRequest(rank: 3, target: 2, queuePair: 1, queuePairs: 2)))
        XCTAssertNil(check(ConnectionRequest(rank: 5, target: 2, queuePair: 0, queuePairs: 2)))
        XCTAssertNil(check(ConnectionRequest(rank: 4, target: 2, queuePair: 1, queuePairs: 2)))
        let refused: [(ConnectionRequest, String)] = [
            (ConnectionRequest(rank: 6, target: 2, queuePair: 0, queuePairs: 2), "from rank 6"),             // past the world
            (ConnectionRequest(rank: 0xFFFF_FFFF, target: 2, queuePair: 0, queuePairs: 2), "from rank 4294967295"),
            (ConnectionRequest(rank: 2, target: 2, queuePair: 0, queuePairs: 2), "from rank 2"),             // itself
            (ConnectionRequest(rank: 1, target: 2, queuePair: 0, queuePairs: 2), "from rank 1"),             // lower ranks accept
            (ConnectionRequest(rank: 3, target: 1, queuePair: 0, queuePairs: 2), "for rank 1"),              // addressed elsewhere
            (ConnectionRequest(rank: 3, target: 2, queuePair: 2, queuePairs: 2), "queue pair 2 of 2"),
            (ConnectionRequest(rank: 3, target: 2, queuePair: 65_535, queuePairs: 2), "queue pair 65535"),
            (ConnectionRequest(rank: 4, target: 2, queuePair: 0, queuePairs: 2), "taken"),
        ]
        for (request, words) in refused {
            let verdict = check(request)
            XCTAssertEqual(verdict?.fatal, false, "\(request): \(String(describing: verdict))")
            XCTAssertTrue(verdict?.problem.contains(words) == true, "\(request): \(String(describing: verdict))")
        }
        // Another --qps from a rank of this job (it holds the token): fatal, with the fix.
        let qps = check(ConnectionRequest(rank: 3, target: 2, queuePair: 0, queuePairs: 3))
        XCTAssertEqual(qps?.fatal, true)
        XCTAssertTrue(qps?.problem.contains("same --qps") == true, "\(String(describing: qps))")
    }
}
