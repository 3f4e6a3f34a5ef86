import Foundation

/// Small real result files, written once per test process by the built binary.
enum RealResultFiles {
    static let commands: [(name: String, arguments: [String])] = [
        ("latency", ["latency", "--np", "2", "-n", "100", "-b", "8", "-e", "64", "-f", "8"]),
        ("bandwidth", ["bandwidth", "--np", "2", "-n", "20", "-b", "4K", "-e", "8K", "-f", "2"]),
        ("allreduce", ["allreduce", "--np", "2", "-n", "5", "-b", "8", "-e", "64", "-f", "8"]),
        ("matrix", ["matrix", "--np", "3", "-n", "20", "--bw-size", "4K", "--bw-messages", "4"]),
    ]

    /// Command name to the file's text.
    static let texts: Result<[String: String], any Error> = Result {
        let dir = CLI.temporaryDirectory()
        var texts: [String: String] = [:]
        for (name, arguments) in commands {
            let path = dir.appendingPathComponent("\(name).json").path
            let r = try CLI.run(arguments + ["--json", path], limit: 90, in: dir)
            guard r.status == 0 else { throw Requirement.Missing(description: "\(arguments.joined(separator: " ")) failed: \(r.stderr)") }
            texts[name] = try String(contentsOfFile: path, encoding: .utf8)
        }
        return texts
    }
}

/// A JSON value that keeps numbers as the text they were written as, so a mutation can put
/// any token in a file (2^64, 1e400, -0.0) and members keep their order.
indirect enum JSONValue: Equatable {
    case object([Member])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    struct Member: Equatable {
        var key: String
        var value: JSONValue
    }

    enum Step: Equatable { case member(Int), element(Int) }

    // MARK: reading (well-formed JSON only: the files fabricbench writes)

    static func parse(_ text: String) -> JSONValue? {
        var p = Parser(bytes: Array(text.utf8))
        guard let v = p.value() else { return nil }
        p.skipSpace()
        return p.position == p.bytes.count ? v : nil
    }

    private struct Parser {
        let bytes: [UInt8]
        var position = 0

        mutating func skipSpace() {
            while position < bytes.count, [0x20, 0x0a, 0x0d, 0x09].contains(bytes[position]) { position += 1 }
        }

        mutating func value() -> JSONValue? {
            skipSpace()
            guard position < bytes.count else { return nil }
            switch bytes[position] {
            case UInt8(ascii: "{"):
                position += 1
                var members: [Member] = []
                skipSpace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
                while true {
                    skipSpace()
                    guard case .string(let key)? = value() else { return nil }
                    skipSpace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { return nil }
                    position += 1
                    guard let v = value() else { return nil }
                    members.append(Member(key: key, value: v))
                    skipSpace()
                    guard position < bytes.count else { return nil }
                    position += 1
                    if bytes[position - 1] == UInt8(ascii: "}") { return .object(members) }
                    guard bytes[position - 1] == UInt8(ascii: ",") else { return nil }
                }
            case UInt8(ascii: "["):
                position += 1
                var elements: [JSONValue] = []
                skipSpace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(elements) }
                while true {
                    guard let v = value() else { return nil }
                    elements.append(v)
                    skipSpace()
                    guard position < bytes.count else { return nil }
                    position += 1
                    if bytes[position - 1] == UInt8(ascii: "]") { return .array(elements) }
                    guard bytes[position - 1] == UInt8(ascii: ",") else { return nil }
                }
            case UInt8(ascii: "\""):
                // The string's text, escapes and all, is decoded by Foundation.
                let start = position
                position += 1
                while position < bytes.count, bytes[position] != UInt8(ascii: "\"") {
                    position += bytes[position] == UInt8(ascii: "\\") ? 2 : 1
                }
                position += 1
                guard position <= bytes.count,
                      let s = try? JSONDecoder().decode(String.self, from: Data(bytes[start..<position])) else { return nil }
                return .string(s)
            case UInt8(ascii: "t"): position += 4; return .bool(true)
            case UInt8(ascii: "f"): position += 5; return .bool(false)
            case UInt8(ascii: "n"): position += 4; return .null
            default:
                let start = position
                while position < bytes.count, "+-.0123456789eE".utf8.contains(bytes[position]) { position += 1 }
                return position > start ? .number(String(decoding: bytes[start..<position], as: UTF8.self)) : nil
            }
        }
    }

    // MARK: writing

    var text: String {
        switch self {
        case .object(let members): return "{" + members.map { Self.quote($0.key) + ":" + $0.value.text }.joined(separator: ",") + "}"
        case .array(let elements): return "[" + elements.map(\.text).joined(separator: ",") + "]"
        case .string(let s): return Self.quote(s)
        case .number(let token): return token
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    // MARK: paths

    /// Every value below this one, by path, depth first.
    func paths(_ prefix: [Step] = []) -> [[Step]] {
        switch self {
        case .object(let members):
            return members.indices.flatMap { i in [prefix + [.member(i)]] + members[i].value.paths(prefix + [.member(i)]) }
        case .array(let elements):
            return elements.indices.flatMap { i in [prefix + [.element(i)]] + elements[i].paths(prefix + [.element(i)]) }
        default:
            return []
        }
    }

    subscript(path: [Step]) -> JSONValue {
        guard let step = path.first else { return self }
        switch (self, step) {
        case (.object(let m), .member(let i)): return m[i].value[Array(path.dropFirst())]
        case (.array(let e), .element(let i)): return e[i][Array(path.dropFirst())]
        default: return self
        }
    }

    /// The value with the node at `path` replaced by `change`'s result (nil: removed).
    func updating(_ path: [Step], _ change: (JSONValue) -> JSONValue?) -> JSONValue {
        guard let step = path.first else { return change(self) ?? .null }
        let rest = Array(path.dropFirst())
        switch (self, step) {
        case (.object(var m), .member(let i)):
            if rest.isEmpty, change(m[i].value) == nil { m.remove(at: i) } else { m[i].value = m[i].value.updating(rest, change) }
            return .object(m)
        case (.array(var e), .element(let i)):
            if rest.isEmpty, change(e[i]) == nil { e.remove(at: i) } else { e[i] = e[i].updating(rest, change) }
            return .array(e)
        default:
            return self
        }
    }

    /// The member name nearest above `path` (a matrix cell's is its matrix's).
    func key(at path: [Step]) -> String? {
        var node = self, key: String?
        for step in path {
            switch (node, step) {
            case (.object(let m), .member(let i)): key = m[i].key; node = m[i].value
            case (.array(let e), .element(let i)): node = e[i]
            default: return key
            }
        }
        return key
    }

    /// Every number under a member named `key`, anywhere (every size's `gbps`, every cell of a
    /// matrix), replaced by `value`.
    func replacingNumbers(under key: String, with value: JSONValue, inside: Bool = false) -> JSONValue {
        switch self {
        case .object(let members):
            return .object(members.map { Member(key: $0.key, value: $0.value.replacingNumbers(under: key, with: value, inside: inside || $0.key == key)) })
        case .array(let elements):
            return .array(elements.map { $0.replacingNumbers(under: key, with: value, inside: inside) })
        case .number:
            return inside ? value : self
        default:
            return self
        }
    }

    /// Every string value replaced by `change(field, string)` (nil: kept), `field` being the
    /// key it is under; in the objects `keysUnder` names (e.g. "settings") the keys too, as
    /// field "settings.key", and the values as field "settings".
    func mappingStrings(_ keysUnder: Set<String>, _ change: (String, String) -> String?, key: String = "") -> JSONValue {
        switch self {
        case .object(let members):
            return .object(members.map { m in
                let inside = keysUnder.contains(key)
                let newKey = inside ? (change(key + ".key", m.key) ?? m.key) : m.key
                return Member(key: newKey, value: m.value.mappingStrings(keysUnder, change, key: inside ? key : m.key))
            })
        case .array(let elements):
            return .array(elements.map { $0.mappingStrings(keysUnder, change, key: key) })
        case .string(let s):
            return .string(change(key, s) ?? s)
        default:
            return self
        }
    }
}
