/// The framing shared by every control message FabricBench sends between processes: the
/// rendezvous store's requests and replies, the handshake that opens a TCP data channel, and
/// the private data of a `--cm` connection request (FabricVerbs' ConnectionRequest).
///
///     magic u32 | version u16 | type u16 | job token u64 | payload length u32 | payload
///
/// All integers are big-endian. A frame is rejected, with a reason naming the peer, when
/// the magic, version or job token differ from ours (another program, another build, or
/// another job on the same port), when the type is unknown, or when the payload is longer
/// than `maxPayload`.
public enum WireFormat {
    public static let magic: UInt32 = 0x4642_4E43  // "FBNC"
    // 2: TCP data messages carry a length header (TCPChannel), so a v1 peer would misread them.
    public static let version: UInt16 = 2
    public static let headerSize = 20
    public static let maxPayload = 64 << 20

    public enum MessageType: UInt16, CaseIterable {
        case hello = 1, set, get, add, bye, reply, failure, channelHello, channelAccept, cmConnectRequest
    }

    public struct Header: Equatable {
        public var type: MessageType
        public var payloadLength: Int
    }

    public static func frame(_ type: MessageType, token: UInt64, payload: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.u32(magic)
        w.u16(version)
        w.u16(type.rawValue)
        w.u64(token)
        w.u32(UInt32(payload.count))
        return w.bytes + payload
    }

    /// Validates a header received from `peer`.
    public static func parseHeader(_ bytes: [UInt8], token: UInt64, peer: String) throws -> Header {
        var r = ByteReader(bytes, peer: peer, what: "message header")
        let m = try r.u32()
        guard m == magic else {
            throw FabricError.protocolViolation(peer: peer, detail: "not a fabricbench peer (magic 0x\(String(m, radix: 16)), expected 0x\(String(magic, radix: 16))); is another program using this port?")
        }
        let v = try r.u16()
        guard v == version else {
            throw FabricError.protocolViolation(peer: peer, detail: "it speaks fabricbench wire protocol v\(v), this binary v\(version): run the same fabricbench build on every rank")
        }
        let rawType = try r.u16()
        let t = try r.u64()
        // One XOR of the whole word: no early exit that would leak how much of it matched.
        guard t ^ token == 0 else {
            throw FabricError.protocolViolation(peer: peer, detail: "it belongs to another job (job token differs): give each job its own --master port or --job-token")
        }
        guard let type = MessageType(rawValue: rawType) else {
            throw FabricError.protocolViolation(peer: peer, detail: "unknown message type \(rawType)")
        }
        let length = Int(try r.u32())
        guard length <= maxPayload else {
            throw FabricError.protocolViolation(peer: peer, detail: "announced a \(length)-byte payload, above the \(maxPayload)-byte limit")
        }
        return Header(type: type, payloadLength: length)
    }

    /// A 64-bit job token from any string (FNV-1a), so a human-readable job name works.
    public static func token(for job: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in job.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}

public struct ByteWriter {
    public private(set) var bytes: [UInt8] = []
    public init() {}
    public mutating func u16(_ v: UInt16) { append(v) }
    public mutating func u32(_ v: UInt32) { append(v) }
    public mutating func u64(_ v: UInt64) { append(v) }
    public mutating func string(_ s: String) { blob(Array(s.utf8)) }
    public mutating func blob(_ b: [UInt8]) { u32(UInt32(b.count)); bytes += b }
    private mutating func append<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.bigEndian) { bytes += $0 } }
}

/// Bounds-checked reads: a short or oversized field throws a protocol violation naming the peer.
public struct ByteReader {
    let bytes: [UInt8]
    let peer: String
    let what: String
    public private(set) var position = 0

    public init(_ bytes: [UInt8], peer: String, what: String) {
        self.bytes = bytes
        self.peer = peer
        self.what = what
    }

    public var isAtEnd: Bool { position == bytes.count }

    public mutating func u16() throws -> UInt16 { try integer() }
    public mutating func u32() throws -> UInt32 { try integer() }
    public mutating func u64() throws -> UInt64 { try integer() }

    public mutating func blob(limit: Int = WireFormat.maxPayload) throws -> [UInt8] {
        let n = Int(try u32())
        guard n <= limit, n <= bytes.count - position else {
            throw FabricError.protocolViolation(peer: peer, detail: "\(what): field of \(n) bytes overruns the \(bytes.count)-byte message")
        }
        defer { position += n }
        return Array(bytes[position..<position + n])
    }

    public mutating func string(limit: Int = 4096) throws -> String {
        let b = try blob(limit: limit)
        guard let s = String(validating: b, as: UTF8.self) else {
            throw FabricError.protocolViolation(peer: peer, detail: "\(what): text field is not UTF-8")
        }
        return s
    }

    public func expectEnd() throws {
        guard isAtEnd else {
            throw FabricError.protocolViolation(peer: peer, detail: "\(what): \(bytes.count - position) unexpected trailing bytes")
        }
    }

    private mutating func integer<T: FixedWidthInteger>() throws -> T {
        let size = MemoryLayout<T>.size
        guard bytes.count - position >= size else {
            throw FabricError.protocolViolation(peer: peer, detail: "\(what) is truncated (\(bytes.count) bytes)")
        }
        var v: T = 0
        for i in 0..<size { v = v << 8 | T(bytes[position + i]) }
        position += size
        return v
    }
}
