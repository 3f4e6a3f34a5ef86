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

    public static func read(_ path: String, shapes: [String: Shape]) throws -> AnyRunDocument {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReportError("cannot read \(path): \(String(cString: strerror(errno))) (is the path right?)")
        }
        let header: Header
        do {
            header = try JSONReport.decoder().decode(Header.self, from: data)
        } catch {
            throw ReportError("\(path) is not JSON: \(error)")
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
        do {
            switch shape {
            case .pointToPoint: return .pointToPoint(try JSONReport.decoder().decode(RunDocument<PointToPointResult>.self, from: data))
            case .collective: return .collective(try JSONReport.decoder().decode(RunDocument<CollectiveResult>.self, from: data))
            case .matrix: return .matrix(try JSONReport.decoder().decode(RunDocument<LinkMatrixResult>.self, from: data))
            }
        } catch {
            throw ReportError("\(path): a \(command) result that does not decode: \(error)")
        }
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
