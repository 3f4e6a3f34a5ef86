import CZlib
import Foundation
import Histogram

/// HdrHistogram's V2 compressed encoding ("HISTFAAA..." in base64), the form every
/// HdrHistogram implementation (Java, C, Go, Python, JS) reads, so a JSON result can be
/// merged or re-analysed with standard tools.
///
/// Layout: compressed cookie, compressed length, then zlib(deflate) of the 40-byte V2
/// header followed by the counts as ZigZag LEB128, with runs of zeros as negative counts.
public enum HistogramEncoding {
    static let cookie: UInt32 = 0x1c84_9303 | 0x10
    static let compressedCookie: UInt32 = 0x1c84_9304 | 0x10

    public enum DecodeError: Error, CustomStringConvertible {
        case notBase64
        case truncated(String)
        case badCookie(UInt32)
        case inflateFailed(Int32)
        case incompatible(String)

        public var description: String {
            switch self {
            case .notBase64: return "histogram is not valid base64"
            case .truncated(let what): return "histogram encoding is truncated (\(what))"
            case .badCookie(let c): return "not an HdrHistogram V2 encoding (cookie 0x\(String(c, radix: 16)))"
            case .inflateFailed(let rc): return "histogram payload does not inflate (zlib error \(rc))"
            case .incompatible(let why): return "histogram encoding not supported here: \(why)"
            }
        }
    }

    public static func encode(_ histogram: LatencyHistogram) -> String {
        let h = histogram.storage
        // Counts in index order up to the last non-zero one.
        var counts: [UInt64] = []
        var lastNonZero = -1
        for (i, step) in h.allValues().enumerated() {
            counts.append(UInt64(step.count))
            if step.count != 0 { lastNonZero = i }
        }
        counts.removeSubrange((lastNonZero + 1)...)

        var payload: [UInt8] = []
        var i = 0
        while i < counts.count {
            if counts[i] == 0 {
                var run = 0
                while i < counts.count && counts[i] == 0 { run += 1; i += 1 }
                appendZigZag(-Int64(run), to: &payload)
            } else {
                appendZigZag(Int64(clamping: counts[i]), to: &payload)
                i += 1
            }
        }
        return wrap(payload: payload, digits: UInt32(h.numberOfSignificantValueDigits.rawValue),
                    lowest: h.lowestDiscernibleValue, highest: h.highestTrackableValue)
    }

    /// The V2 framing around a zig-zag counts payload: header, zlib, cookie, base64.
    /// (The tests craft hostile payloads through it.)
    static func wrap(payload: [UInt8], digits: UInt32 = 3, lowest: UInt64 = 1,
                     highest: UInt64 = LatencyHistogram.highestTrackableNanoseconds) -> String {
        var plain: [UInt8] = []
        appendBE(cookie, to: &plain)
        appendBE(UInt32(payload.count), to: &plain)
        appendBE(UInt32(0), to: &plain)  // normalizing index offset
        appendBE(digits, to: &plain)
        appendBE(lowest, to: &plain)
        appendBE(highest, to: &plain)
        appendBE(Double(1).bitPattern, to: &plain)
        plain += payload

        var bound = compressBound(uLong(plain.count))
        var deflated = [UInt8](repeating: 0, count: Int(bound))
        let rc = compress2(&deflated, &bound, plain, uLong(plain.count), Z_BEST_COMPRESSION)
        precondition(rc == Z_OK, "zlib compress2 failed: \(rc)")
        var out: [UInt8] = []
        appendBE(compressedCookie, to: &out)
        appendBE(UInt32(bound), to: &out)
        out += deflated[0..<Int(bound)]
        return Data(out).base64EncodedString()
    }

    /// Buckets of FabricBench's histogram shape (3 digits, 1 ns to highestTrackableNanoseconds).
    /// A value inside each bucket, by index: an empty histogram of the same shape, walked once.
    static let bucketValues: [UInt64] = LatencyHistogram().storage.allValues().map(\.value)
    static var bucketCount: Int { bucketValues.count }
    /// Samples one decoded histogram may hold: far above any run (2^40, 10^12), low enough that
    /// merging a million of them, and every sum the statistics take, stays exact and in range.
    public static let maximumTotalCount: UInt64 = 1 << 40
    /// Encoded text longer than this is refused before decoding (a histogram's is a few KiB).
    public static let maximumEncodedLength = 4 << 20

    public static func decode(_ text: String) throws -> LatencyHistogram {
        guard text.utf8.count <= maximumEncodedLength else { throw DecodeError.incompatible("\(text.utf8.count) bytes of text, above \(maximumEncodedLength)") }
        guard let data = Data(base64Encoded: text) else { throw DecodeError.notBase64 }
        let bytes = [UInt8](data)
        var r = Reader(bytes: bytes)
        let c = try r.u32("cookie")
        guard c & ~0xf0 == 0x1c84_9304 else { throw DecodeError.badCookie(c) }
        let length = Int(try r.u32("compressed length"))
        guard length <= bytes.count - 8 else { throw DecodeError.truncated("compressed body") }
        // The inflated size is unknown; grow until zlib stops asking for room, up to what a
        // histogram of this shape can need (a header and at most 9 bytes a bucket).
        let largestPlain = 40 + 9 * bucketCount
        var capacity = min(max(length * 8, 4096), largestPlain)
        var plain: [UInt8]
        while true {
            var size = uLong(capacity)
            plain = [UInt8](repeating: 0, count: capacity)
            let rc = bytes.withUnsafeBufferPointer { src in
                uncompress(&plain, &size, src.baseAddress! + 8, uLong(length))
            }
            if rc == Z_BUF_ERROR && capacity < largestPlain { capacity = min(capacity * 4, largestPlain); continue }
            if rc == Z_BUF_ERROR { throw DecodeError.incompatible("it inflates beyond the \(largestPlain) bytes a histogram can need") }
            guard rc == Z_OK else { throw DecodeError.inflateFailed(rc) }
            plain.removeSubrange(Int(size)...)
            break
        }
        var p = Reader(bytes: plain)
        let inner = try p.u32("cookie")
        guard inner & ~0xf0 == 0x1c84_9303 else { throw DecodeError.badCookie(inner) }
        let payloadLength = Int(try p.u32("payload length"))
        let offset = try p.u32("normalizing offset")
        let digits = try p.u32("significant digits")
        let lowest = try p.u64("lowest value")
        let highest = try p.u64("highest value")
        _ = try p.u64("conversion ratio")
        guard offset == 0 else { throw DecodeError.incompatible("normalizing index offset \(offset)") }
        guard digits == 3, lowest == 1 else {
            throw DecodeError.incompatible("\(digits) significant digits, lowest value \(lowest) (FabricBench writes 3 and 1)")
        }
        guard highest <= LatencyHistogram.highestTrackableNanoseconds else {
            throw DecodeError.incompatible("highest trackable value \(highest) ns is above this build's range")
        }
        guard payloadLength <= plain.count - p.position else { throw DecodeError.truncated("counts") }
        var counts: [UInt64] = []
        var total: UInt64 = 0, totalValue: UInt64 = 0
        let end = p.position + payloadLength
        while p.position < end {
            let v = try p.zigZag()
            if v < 0 {
                // A run of empty buckets: checked against the buckets left before it is made.
                let run = v == .min ? UInt64(Int64.max) : UInt64(-v)
                guard run <= UInt64(bucketCount - counts.count) else { throw DecodeError.incompatible("more counts than buckets") }
                counts += repeatElement(0, count: Int(run))
            } else {
                guard counts.count < bucketCount else { throw DecodeError.incompatible("more counts than buckets") }
                total += UInt64(v)
                guard total <= maximumTotalCount else {
                    throw DecodeError.incompatible("more than \(maximumTotalCount) samples (sums over such counts would overflow)")
                }
                // HdrHistogram's iterators sum count × value in 64 bits: the samples' total
                // (in ns, 584 years at most) must fit, with room for a bucket's width.
                let (weighted, overflow) = UInt64(v).multipliedReportingOverflow(by: 2 * bucketValues[counts.count])
                totalValue = overflow ? .max : totalValue.addingReportingOverflow(weighted).partialValue
                guard !overflow, totalValue <= UInt64.max / 2 else {
                    throw DecodeError.incompatible("its samples add up to more than 2^63 ns")
                }
                counts.append(UInt64(v))
            }
        }
        var result = LatencyHistogram()
        for (index, count) in counts.enumerated() where count != 0 {
            result.storage.record(bucketValues[index], count: count)
        }
        return result
    }

    static func appendZigZag(_ value: Int64, to out: inout [UInt8]) {
        var v = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        // LEB128-64b9B: at most 9 bytes, the ninth carries 8 full bits.
        for _ in 0..<8 {
            if v < 0x80 { out.append(UInt8(v)); return }
            out.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        out.append(UInt8(truncatingIfNeeded: v))
    }

    private static func appendBE<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { out += $0 }
    }

    private struct Reader {
        let bytes: [UInt8]
        var position = 0

        mutating func byte(_ what: String) throws -> UInt8 {
            guard position < bytes.count else { throw DecodeError.truncated(what) }
            defer { position += 1 }
            return bytes[position]
        }
        mutating func u32(_ what: String) throws -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<4 { v = v << 8 | UInt32(try byte(what)) }
            return v
        }
        mutating func u64(_ what: String) throws -> UInt64 {
            UInt64(try u32(what)) << 32 | UInt64(try u32(what))
        }
        mutating func zigZag() throws -> Int64 {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            for n in 0..<9 {
                let b = try byte("counts")
                if n == 8 { v |= UInt64(b) << 56; break }
                v |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { break }
                shift += 7
            }
            return Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)
        }
    }
}
