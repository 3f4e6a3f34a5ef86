import Foundation
import XCTest
@testable import FabricTCP
import FabricCore

/// The bytes a channel puts on the wire, read raw from the other end of a socket pair and
/// decoded here independently of `TCPChannel`.
final class FramingTests: XCTestCase {
    func testLargeMessagesStartAtAlignedStreamOffsetsAfterAnyMixOfSmallOnes() throws {
        var fds: [Int32] = [-1, -1]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        let channel = TCPChannel(peer: 1, socket: Socket(fd: fds[0], peerName: "test peer", localRank: 0))
        let raw = Socket(fd: fds[1], peerName: "raw end", localRank: 1)
        // Small (staged) lengths that leave the stream at every kind of offset, then large ones.
        let lengths = [3, 5000, 70, 1025, 0, 2000, 1024, 64, 4096, 1]
        let total = lengths.reduce(0, +)
        let out = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 64)
        defer { out.deallocate() }
        for i in 0..<total { out.storeBytes(of: UInt8(truncatingIfNeeded: i &* 7 &+ 1), toByteOffset: i, as: UInt8.self) }
        var offset = 0
        for (id, length) in lengths.enumerated() {
            channel.postSend(.init(base: out + offset, length: length, done: 0, id: UInt64(id)))
            offset += length
        }
        var completions: [Completion] = []
        var wire: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        for _ in 0..<10_000 where !channel.isIdle {
            try channel.progress(&completions)
            let n = recv(raw.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n > 0 { wire += buffer[0..<n] }
        }
        XCTAssertTrue(channel.isIdle, "the channel did not send everything in 10,000 rounds")
        while case let n = recv(raw.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT)), n > 0 { wire += buffer[0..<n] }
        XCTAssertEqual(completions.map(\.id), (0..<UInt64(lengths.count)).map { $0 })

        var at = 0, source = 0
        for length in lengths {
            guard at + 8 <= wire.count else { return XCTFail("the stream ends at byte \(at), inside a header") }
            let announced = wire[at..<at + 8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            XCTAssertEqual(announced, length, "header at stream offset \(at)")
            at += 8
            if length > TCPChannel.stagedBytes {
                while at % TCPChannel.payloadAlignment != 0 {
                    XCTAssertEqual(wire[at], 0, "padding byte at stream offset \(at)")
                    at += 1
                }
            }
            XCTAssertEqual(Array(wire[at..<min(at + length, wire.count)]),
                           (source..<source + length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) },
                           "the \(length)-byte message at stream offset \(at)")
            at += length
            source += length
        }
        XCTAssertEqual(at, wire.count, "bytes after the last frame")
    }
}
