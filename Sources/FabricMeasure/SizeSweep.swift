/// Message sizes in bytes, parsed from "8", "4K", "1M", "1G" (binary multiples, as in
/// perftest and nccl-tests), and the geometric sweep min, min*f, ... <= max.
public enum ByteCount {
    public struct ParseError: Error, CustomStringConvertible {
        public let text: String
        public var description: String {
            "'\(text)' is not a size: use a whole number of bytes with an optional K, M or G suffix (e.g. 8, 4K, 1M)"
        }
    }

    public static func parse(_ text: String) throws -> Int {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard let last = t.last else { throw ParseError(text: text) }
        var digits = Substring(t)
        var multiplier = 1
        switch last {
        case "k", "K": multiplier = 1 << 10; digits = t.dropLast()
        case "m", "M": multiplier = 1 << 20; digits = t.dropLast()
        case "g", "G": multiplier = 1 << 30; digits = t.dropLast()
        default: break
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let n = Int(digits), n >= 0 else {
            throw ParseError(text: text)
        }
        let (v, overflow) = n.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw ParseError(text: text) }
        return v
    }

    /// "8", "4K", "1M" when exact, else the byte count.
    public static func format(_ bytes: Int) -> String {
        for (suffix, shift) in [("G", 30), ("M", 20), ("K", 10)] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(suffix)"
        }
        return "\(bytes)"
    }
}

public struct SizeSweep: Sendable, Equatable {
    public let sizes: [Int]

    public struct InvalidSweep: Error, CustomStringConvertible {
        public let description: String
    }

    public init(min: Int, max: Int, factor: Int) throws {
        guard min >= 0 else { throw InvalidSweep(description: "minimum size -b must be >= 0") }
        guard max >= min else {
            throw InvalidSweep(description: "maximum size -e \(ByteCount.format(max)) is below minimum size -b \(ByteCount.format(min))")
        }
        guard factor >= 2 || min == max else { throw InvalidSweep(description: "step factor -f must be at least 2 (got \(factor))") }
        var sizes: [Int] = []
        var s = min
        while s <= max {
            sizes.append(s)
            if s == 0 { s = 1; continue }
            let (next, overflow) = s.multipliedReportingOverflow(by: Swift.max(factor, 2))
            if overflow { break }
            s = next
        }
        self.sizes = sizes
    }
}
