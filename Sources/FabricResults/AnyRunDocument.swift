import Foundation

/// A result document of any command, read from disk: what `compare` and `report` take.
public enum AnyRunDocument: Sendable {
    case pointToPoint(RunDocument<PointToPointResult>)
    case collective(RunDocument<CollectiveResult>)
    case matrix(RunDocument<LinkMatrixResult>)

    /// Which result type a command writes. The CLI derives the table from its commands, so
    /// a new command's files load in compare and report without being listed here.
    public enum Shape: Sendable {
        case pointToPoint, collective, matrix
    }

    private struct Header: Decodable {
        var schemaVersion: Int?
        var command: String?
    }

    /// Reads, decodes and validates (see `validate()`) one result file. Every refusal is a
    /// ReportError of one line naming the file and, where there is one, the field.
    public static func read(_ path: String, shapes: [String: Shape]) throws -> AnyRunDocument {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReportError("cannot read \(path): \(String(cString: strerror(errno))) (is the path right?)")
        }
        return try decode(data, name: path, shapes: shapes)
    }

    /// As `read`, for a document already in memory (a run embedded in a smoke file);
    /// `name` stands for the file in messages.
    public static func decode(_ data: Data, name path: String, shapes: [String: Shape]) throws -> AnyRunDocument {
        let header: Header
        do {
            header = try JSONReport.decoder().decode(Header.self, from: data)
        } catch {
            throw ReportError("\(path) is not JSON: \(describe(error))")
        }
        guard let version = header.schemaVersion, let command = header.command else {
            throw ReportError("\(path) is not a fabricbench result (no schema_version or command): pass a file written with --json")
        }
        guard version <= currentSchemaVersion else {
            throw ReportError("\(path) has schema_version \(version), written by a newer fabricbench; this one reads up to \(currentSchemaVersion)")
        }
        guard let shape = shapes[command] else {
            throw ReportError("\(path): unknown command '\(command)' in a fabricbench result (this build knows \(shapes.keys.sorted().joined(separator: ", ")))")
        }
        let document: AnyRunDocument
        do {
            switch shape {
            case .pointToPoint: document = .pointToPoint(try JSONReport.decoder().decode(RunDocument<PointToPointResult>.self, from: data))
            case .collective: document = .collective(try JSONReport.decoder().decode(RunDocument<CollectiveResult>.self, from: data))
            case .matrix: document = .matrix(try JSONReport.decoder().decode(RunDocument<LinkMatrixResult>.self, from: data))
            }
        } catch {
            throw ReportError("\(path): a \(command) result that does not decode: \(describe(error))")
        }
        do {
            try document.validate()
        } catch {
            throw ReportError("\(path): \(error)")
        }
        return document
    }

    /// A decoding error as one line: the JSON path (snake_case, as in the file) and what is wrong there.
    static func describe(_ error: Error) -> String {
        func path(_ keys: [CodingKey]) -> String {
            var text = ""
            for key in keys {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += (text.isEmpty ? "" : ".") + snakeCase(key.stringValue)
                }
            }
            return text.isEmpty ? "" : text + ": "
        }
        let text: String
        switch error as? DecodingError {
        case .typeMismatch(let type, let c)?: text = path(c.codingPath) + "not of type \(type): \(c.debugDescription)"
        case .valueNotFound(let type, let c)?: text = path(c.codingPath) + "no \(type) value: \(c.debugDescription)"
        case .keyNotFound(let key, let c)?: text = path(c.codingPath + [key]) + "missing"
        case .dataCorrupted(let c)?:
            text = path(c.codingPath) + c.debugDescription + (c.underlyingError.map { " (\($0))" } ?? "")
        default: text = "\(error)"
        }
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// `oneWayUs` → `one_way_us`: the spelling of the file (the encoder's convertToSnakeCase).
    static func snakeCase(_ key: String) -> String {
        var out = ""
        for c in key {
            if c.isUppercase {
                if !out.isEmpty { out += "_" }
                out += c.lowercased()
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// What every kind of document has.
    private var header: any RunDocumentHeader {
        switch self {
        case .pointToPoint(let d): return d
        case .collective(let d): return d
        case .matrix(let d): return d
        }
    }

    public var command: String { header.command }
    public var environment: RunEnvironment { header.environment }
    public var arguments: [String: String] { header.arguments }
    public var status: String { header.status.rawValue }
}

protocol RunDocumentHeader {
    var command: String { get }
    var environment: RunEnvironment { get }
    var arguments: [String: String] { get }
    var status: RunDocumentStatus { get }
}

extension RunDocument: RunDocumentHeader {}
