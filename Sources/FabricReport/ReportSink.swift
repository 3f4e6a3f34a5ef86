import FabricResults
import Foundation

/// Rank 0's collector: prints each result as it arrives and rewrites the JSON after every
/// size, so a run that fails later still leaves every size it measured on disk, marked
/// `"status": "failed"` with the error.
public final class ReportSink<Result: Codable & Sendable & CSVRecord> {
    public private(set) var document: RunDocument<Result>
    private let jsonPath: String?
    private let csvPath: String?
    private let row: ([Result]) -> String
    private let detail: (([Result]) -> String?)?
    private var progress: (line: Progress, steps: [String], done: Int)?

    /// `row` renders the entries of one size (one line of the table), `detail` optional lines under it.
    public init(document: RunDocument<Result>, jsonPath: String?, csvPath: String? = nil, header: String,
                row: @escaping ([Result]) -> String, detail: (([Result]) -> String?)? = nil) throws {
        self.document = document
        self.jsonPath = jsonPath
        self.csvPath = csvPath
        self.row = row
        self.detail = detail
        print(header)
        try save()
    }

    /// Shows progress on a terminal: one `add` per step, `steps` naming each (e.g. sizes).
    public func expect(steps: [String], what: String) {
        progress = (Progress(what: "\(document.command) \(what)"), steps, 0)
        progress?.line.update(done: 0, of: steps.count, next: steps.first ?? "")
    }

    /// Adds the entries of one size.
    public func add(_ results: [Result]) throws {
        document.results += results
        progress?.line.finish()  // the row goes where the progress line was
        print(row(results))
        if let text = detail?(results) { print(text) }
        fflush(nil)
        if var p = progress {
            p.done += 1
            p.line.update(done: p.done, of: p.steps.count, next: p.done < p.steps.count ? p.steps[p.done] : "")
            progress = p
        }
        try save()
    }

    /// Document-level findings that come after the results (stragglers, outliers).
    public func annotate(_ change: (inout RunDocument<Result>) -> Void) throws {
        change(&document)
        try save()
    }

    /// Lines after the table (footers, summaries).
    public func note(_ text: String) {
        print(text)
        fflush(nil)
    }

    /// Transport settings known only after connecting (e.g. the socket buffers granted).
    public func updateTransportSettings(_ settings: [String: String]) {
        document.environment.transport.settings.merge(settings) { _, new in new }
    }

    public func complete() throws {
        progress?.line.finish()
        document.status = .complete
        try save()
        for path in [jsonPath, csvPath].compactMap({ $0 }) { print("# results written to \(path)") }
    }

    /// Records the failure; never throws, so the original error is what the user sees.
    public func fail(_ error: Error) {
        progress?.line.finish()
        document.status = .failed
        document.error = "\(error)"
        do {
            try save()
            if let jsonPath {
                FileHandle.standardError.write(Data("fabricbench: \(document.results.count) measured result(s) kept in \(jsonPath)\n".utf8))
            }
        } catch {
            FileHandle.standardError.write(Data("fabricbench: \(error)\n".utf8))
        }
    }

    private func save() throws {
        if let jsonPath { try JSONReport.write(document, to: jsonPath) }
        if let csvPath { try JSONReport.writeAtomically(Data(CSVReport.render(document.results).utf8), to: csvPath, flag: "--csv") }
    }
}
