import FabricResults
import Foundation

/// A one-line progress indicator on standard error (step, what comes next, ETA), shown only
/// when standard error is a terminal, so CI logs and pipes stay clean.
public final class Progress {
    private let what: String
    private let enabled: Bool
    private let started = Date()
    private var shown = false

    public init(what: String, enabled: Bool = isatty(STDERR_FILENO) == 1) {
        self.what = what
        self.enabled = enabled
    }

    /// `done` of `total` steps are finished; `next` says what runs now.
    public func update(done: Int, of total: Int, next: String) {
        guard enabled else { return }
        guard done < total else { return finish() }
        var line = "# \(what): \(done)/\(total) done, now \(next)"
        if done > 0 {
            let remaining = Date().timeIntervalSince(started) / Double(done) * Double(total - done)
            line += String(format: ", ETA %.0f s", remaining.rounded(.up))
        }
        FileHandle.standardError.write(Data("\r\u{1B}[2K\(line)".utf8))
        shown = true
    }

    /// Clears the line.
    public func finish() {
        guard enabled, shown else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
        shown = false
    }
}
