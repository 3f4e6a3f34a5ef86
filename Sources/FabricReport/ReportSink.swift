import Foundation

/// Rank 0's collector: prints each result as it arrives and rewrites the JSON after every
/// size, so a run that fails later still leaves every size it measured on disk, marked
/// `"status": "failed"` with the error.
public final class ReportSink<Result: Codable & Sendable> {
    public private(set) var document: RunDocument<Result>
    private let jsonPath: String?
    private let row: ([Result]) -> String
    private let detail: (([Result]) -> String?)?

    /// `row` renders the entries of one size (one line of the table), `detail` optional lines under it.
    public init(document: RunDocument<Result>, jsonPath: String?, header: String,
                row: @escaping ([Result]) -> String, detail: (([Result]) -> String?)? = nil) throws {
        self.document = document
        self.jsonPath = jsonPath
        self.row = row
        self.detail = detail
        print(header)
        try save()
    }

    /// Adds the entries of one size.
    public func add(_ results: [Result]) throws {
        document.results += results
        print(row(results))
        if let text = detail?(results) { print(text) }
        fflush(stdout)
        try save()
    }

    public func setStragglers(_ report: StragglerReport) throws {
        document.stragglers = report
        try save()
    }

    /// Lines after the table (footers, summaries).
    public func note(_ text: String) {
        print(text)
        fflush(stdout)
    }

    /// Transport settings known only after connecting (e.g. the socket buffers granted).
    public func updateTransportSettings(_ settings: [String: String]) {
        document.environment.transport.settings.merge(settings) { _, new in new }
    }

    public func complete() throws {
        document.status = .complete
        try save()
        if let jsonPath { print("# results written to \(jsonPath)") }
    }

    /// Records the failure; never throws, so the original error is what the user sees.
    public func fail(_ error: Error) {
        document.status = .failed
        document.error = "\(error)"
        do {
            try save()
            if let jsonPath {
                FileHandle.standardError.write(Data("fabricbench: \(document.results.count) measured size(s) kept in \(jsonPath)\n".utf8))
            }
        } catch {
            FileHandle.standardError.write(Data("fabricbench: \(error)\n".utf8))
        }
    }

    private func save() throws {
        if let jsonPath { try JSONReport.write(document, to: jsonPath) }
    }
}
