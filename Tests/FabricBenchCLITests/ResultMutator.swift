import FabricMeasure
import Foundation

/// Seeded, structure-aware damage to a result file: numbers at and past every bound (one, or
/// every one under the same name), NaN and infinity as strings, deleted fields, duplicated and shortened arrays, swapped types, values
/// moved elsewhere; then sometimes truncated text or flipped bytes.
struct ResultMutator {
    var rng: SplitMix64

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(rng.next() % UInt64(n)) }
    mutating func pick<T>(_ list: [T]) -> T { list[below(list.count)] }

    static let numbers = ["0", "-1", "1", "2", "3", "-0.0", "0.5", "1e308", "-1e308", "1e400", "-1e400", "5e-324", "1e-320",
                          "9223372036854775807", "-9223372036854775808", "18446744073709551616", "1e19", "1125899906842624",
                          "1125899906842623", "9007199254740993", "1048576", "1048577", "1e15", "1.0000001e15", "1.7e308"]
    static let strings = ["NaN", "Infinity", "-Infinity", "nan", "", "HISTFAAAABx4", "<script>alert(1)</script>", String(repeating: "x", count: 5000)]

    mutating func mutate(_ text: String) -> Data {
        var doc = JSONValue.parse(text) ?? .null
        for _ in 0...below(3) { doc = mutateOnce(doc) }
        var bytes = Array(doc.text.utf8)
        switch below(10) {
        case 0 where !bytes.isEmpty: bytes.removeSubrange(below(bytes.count)...)
        case 1 where !bytes.isEmpty:
            for _ in 0...below(4) { bytes[below(bytes.count)] ^= UInt8(1 << below(8)) }
        default: break
        }
        return Data(bytes)
    }

    mutating func mutateOnce(_ doc: JSONValue) -> JSONValue {
        let paths = doc.paths()
        guard !paths.isEmpty else { return doc }
        func of(_ kind: (JSONValue) -> Bool) -> [[JSONValue.Step]] { paths.filter { kind(doc[$0]) } }
        let numbers = of { if case .number = $0 { return true } else { return false } }
        let arrays = of { if case .array = $0 { return true } else { return false } }
        let strings = of { if case .string = $0 { return true } else { return false } }
        switch below(11) {
        case 0...2 where !numbers.isEmpty:
            // One field of every size, rank or cell at once: conditions no single value makes
            // (an axis whose every point is 5e-324, every size at 2^63 - 1).
            // The name is drawn among the names of numbers, so that rare ones (bytes) come up as often as common ones (p50).
            let keys = Array(Set(numbers.compactMap { doc.key(at: $0) })).sorted()
            let value: JSONValue = below(5) == 0 ? .string(pick(["NaN", "Infinity", "-Infinity"])) : .number(pick(Self.numbers))
            return keys.isEmpty ? doc : doc.replacingNumbers(under: pick(keys), with: value)
        case 3...4 where !numbers.isEmpty:
            let path = pick(numbers)
            let value: JSONValue = below(5) == 0 ? .string(pick(["NaN", "Infinity", "-Infinity"])) : .number(pick(Self.numbers))
            return doc.updating(path) { _ in value }
        case 5 where !numbers.isEmpty:
            let path = pick(numbers), factor = pick([1e6, -1, 1e-300, 1e300, 0.5, 2])
            return doc.updating(path) { v in
                guard case .number(let token) = v, let d = Double(token) else { return v }
                return .number("\(d * factor)")
            }
        case 6:
            return doc.updating(pick(paths)) { _ in nil }
        case 7 where !arrays.isEmpty:
            let path = pick(arrays)
            let way = below(4)
            return doc.updating(path) { v in
                guard case .array(let e) = v else { return v }
                switch way {
                case 0: return .array(e + e)
                case 1: return .array(Array(e.prefix(e.isEmpty ? 0 : e.count - 1)))
                case 2: return .array([])
                default: return .array(e + e.prefix(1))
                }
            }
        case 8:
            let replacement = pick([JSONValue.null, .bool(true), .array([]), .object([]), .string("1"), .number("1"), .array([.number("1")])])
            return doc.updating(pick(paths)) { _ in replacement }
        case 9 where !strings.isEmpty:
            let s = pick(Self.strings)
            return doc.updating(pick(strings)) { _ in .string(s) }
        default:
            // A value moved to where another was: right types in the wrong places.
            let from = doc[pick(paths)]
            return doc.updating(pick(paths)) { _ in from }
        }
    }
}
