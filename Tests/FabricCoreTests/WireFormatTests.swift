import XCTest
@testable import FabricCore

final class WireFormatTests: XCTestCase {
    let token = WireFormat.token(for: "job-a")

    func header(magic: UInt32 = WireFormat.magic, version: UInt16 = WireFormat.version, type: UInt16 = 2,
                token: UInt64? = nil, length: UInt32 = 0) -> [UInt8] {
        var w = ByteWriter()
        w.u32(magic); w.u16(version); w.u16(type); w.u64(token ?? self.token); w.u32(length)
        return w.bytes
    }

    func rejection(_ bytes: [UInt8]) -> String {
        do {
            _ = try WireFormat.parseHeader(bytes, token: token, peer: "rank 7 (10.0.0.7:1234)")
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    func testAcceptsAWellFormedHeader() throws {
        let h = try WireFormat.parseHeader(header(length: 12), token: token, peer: "p")
        XCTAssertEqual(h, WireFormat.Header(type: .set, payloadLength: 12))
        XCTAssertEqual(Array(WireFormat.frame(.set, token: token, payload: [1, 2]).prefix(20)), header(length: 2))
    }

    func testRejectionsSayWhatWasWrongAndWho() {
        let wrongMagic = rejection(header(magic: 0x4745_5420))  // "GET " from an HTTP client
        XCTAssertTrue(wrongMagic.contains("not a fabricbench peer") && wrongMagic.contains("rank 7"), wrongMagic)
        XCTAssertTrue(rejection(header(version: 9)).contains("protocol v9"))
        XCTAssertTrue(rejection(header(token: WireFormat.token(for: "job-b"))).contains("another job"))
        XCTAssertTrue(rejection(header(type: 999)).contains("unknown message type 999"))
        XCTAssertTrue(rejection(header(length: UInt32(WireFormat.maxPayload + 1))).contains("limit"))
        XCTAssertTrue(rejection(Array(header().prefix(7))).contains("truncated"))
    }

    func testReaderRejectsOverrunsAndTrailingBytes() throws {
        var w = ByteWriter()
        w.u32(1000)  // claims a 1000-byte blob
        w.u16(1)
        var r = ByteReader(w.bytes, peer: "p", what: "set request")
        XCTAssertThrowsError(try r.blob()) { XCTAssertTrue("\($0)".contains("overruns")) }
        var ok = ByteWriter()
        ok.string("key")
        ok.u16(5)
        var r2 = ByteReader(ok.bytes, peer: "p", what: "get request")
        XCTAssertEqual(try r2.string(), "key")
        XCTAssertThrowsError(try r2.expectEnd()) { XCTAssertTrue("\($0)".contains("trailing")) }
    }

    func testTokensDifferPerJob() {
        XCTAssertNotEqual(WireFormat.token(for: "np/1/2"), WireFormat.token(for: "np/1/3"))
        XCTAssertEqual(WireFormat.token(for: "x"), WireFormat.token(for: "x"))
    }
}
