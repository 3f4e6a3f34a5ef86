import FabricResults
import Foundation

/// Rank 0's collector: prints each result as it arrives and rewrites the JSON after every
/// size, so a run that fails later still leaves every size it measured on disk, marked
/// `"status": "failed"` with the error, or `"interrupted"` after SIGINT/SIGTERM. A full disk
/// does not stop the measurement: it warns once and writes again at the end.
// @unchecked: the signal handler's thread calls `interrupt` while the measuring thread adds
// results; both go through `lock`.
public final class ReportSink<Result: Codable & Sendable & CSVRecord & MonitoredResult>: @unchecked Sendable {
    public var document: RunDocument<Result> { lock.withLock { _document } }
    private var _document: RunDocument<Result>
    private let lock = NSLock()
    /// The first write that failed during the run (retried at the end), and the results the
    /// file held at the last good write.
    private var unsaved: Error?
    private var savedResults = 0
    private let jsonPath: String?
    private let csvPath: String?
    private let junitPath: String?
    private let promPath: String?
    private let row: ([Result]) -> String
    private let detail: (([Result]) -> String?)?
    private var progress: (line: Progress, steps: [String], done: Int)?

    /// `row` renders the entries of one size (one line of the table), `detail` optional lines under it.
    /// `junitPath` and `promPath` are rewritten with the JSON, so each file always says how
    /// far the run got (a run killed mid-way shows as a failing case, and as not successful).
    public init(document: RunDocument<Result>, jsonPath: String?, csvPath: String? = nil, junitPath: String? = nil, promPath: String? = nil,
                header: String, row: @escaping ([Result]) -> String, detail: (([Result]) -> String?)? = nil) throws {
        _document = document
        self.jsonPath = jsonPath
        self.csvPath = csvPath
        self.junitPath = junitPath
        self.promPath = promPath
        self.row = row
        self.detail = detail
        print(header)
        try save(_document)
    }

    /// Shows progress on a terminal: one `add` per step, `steps` naming each (e.g. sizes).
    public func expect(steps: [String], what: String) {
        progress = (Progress(what: "\(document.command) \(what)"), steps, 0)
        progress?.line.update(done: 0, of: steps.count, next: steps.first ?? "")
    }

    /// Adds the entries of one size.
    public func add(_ results: [Result]) throws {
        lock.withLock { _document.results += results }
        progress?.line.finish()  // the row goes where the progress line was
        print(row(results))
        if let text = detail?(results) { print(text) }
        fflush(nil)
        if var p = progress {
            p.done += 1
            p.line.update(done: p.done, of: p.steps.count, next: p.done < p.steps.count ? p.steps[p.done] : "")
            progress = p
        }
        saveDuringRun()
    }

    /// Document-level findings that come after the results (stragglers, outliers).
    public func annotate(_ change: (inout RunDocument<Result>) -> Void) throws {
        lock.withLock { change(&_document) }
        saveDuringRun()
    }

    /// Lines after the table (footers, summaries).
    public func note(_ text: String) {
        print(text)
        fflush(nil)
    }

    /// Transport settings known only after connecting (e.g. the socket buffers granted).
    public func updateTransportSettings(_ settings: [String: String]) {
        lock.withLock { _document.environment.transport.settings.merge(settings) { _, new in new } }
    }

    public func complete() throws {
        progress?.line.finish()
        try lock.withLock {
            _document.status = .complete
            try saveAtEnd()
        }
        for path in [jsonPath, csvPath, junitPath, promPath].compactMap({ $0 }) { print("# results written to \(path)") }
    }

    /// Records the failure; never throws, so the original error is what the user sees.
    public func fail(_ error: Error) {
        progress?.line.finish()
        finish(.failed, "\(error)")
    }

    /// SIGINT/SIGTERM: the file says "interrupted" and keeps every result measured so far.
    public func interrupt(signal: Int32) {
        progress?.line.finish()
        finish(.interrupted, "interrupted by \(signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "signal \(signal)")")
    }

    private func finish(_ status: RunDocumentStatus, _ reason: String) {
        lock.withLock {
            _document.status = status
            _document.error = reason
            do {
                try saveAtEnd()
                if let jsonPath {
                    FileHandle.standardError.write(Data("fabricbench: \(_document.results.count) measured result(s) kept in \(jsonPath)\n".utf8))
                }
            } catch {
                FileHandle.standardError.write(Data("fabricbench: \(error)\n".utf8))
            }
        }
    }

    /// During the run a failed write (a full disk) warns once and lets the measurement go on.
    private func saveDuringRun() {
        lock.withLock {
            do {
                try save(_document)
            } catch {
                if unsaved == nil {
                    FileHandle.standardError.write(Data("fabricbench: \(error); measuring goes on, and the file is written again at the end\n".utf8))
                }
                unsaved = error
            }
        }
    }

    /// The last write: the whole document; if that no longer fits, the results the file held
    /// at its last good write, with a status and error that say what is missing.
    private func saveAtEnd() throws {
        do {
            try save(_document)
        } catch {
            guard unsaved != nil || savedResults < _document.results.count else { throw error }
            // The old file stays until the new one is renamed over it, so on a full disk even
            // the same results with a longer error may not fit beside it: then fewer results,
            // until a file that says what it holds fits (a file left saying "running" would lie).
            let cause = "\(error)"
            for count in stride(from: savedResults, through: 0, by: -1) {
                var kept = _document
                kept.results = Array(_document.results.prefix(count))
                if kept.status == .complete { kept.status = .failed }
                kept.error = "only \(count) of \(_document.results.count) result(s) could be saved: \(cause)"
                    + (_document.error.flatMap { $0 == cause ? nil : "; \($0)" } ?? "")
                if (try? save(kept)) != nil { break }
            }
            throw error
        }
    }

    private func save(_ document: RunDocument<Result>) throws {
        if let jsonPath { try JSONReport.write(document, to: jsonPath) }
        if let csvPath { try JSONReport.writeAtomically(Data(CSVReport.render(document.results).utf8), to: csvPath, flag: "--csv") }
        if let junitPath { try JSONReport.writeAtomically(Data(JUnitReport.render(document).utf8), to: junitPath, flag: "--junit") }
        if let promPath { try JSONReport.writeAtomically(Data(PrometheusReport.render(document).utf8), to: promPath, flag: "--prom") }
        savedResults = document.results.count
    }
}
