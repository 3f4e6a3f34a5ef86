import FabricMeasure
import FabricReport
import FabricResults
import Foundation
import XCTest
@testable import fabricbench

/// What `compare A B` and `report A B -o x.html` do with files, run in-process through the
/// same library calls (without writing), reduced to the exit status the CLI would give: 0, or
/// 2 with the one-line message. Anything else (another error: exit 1) fails the test; a trap
/// kills the test process, which fails it too.
enum InProcess {
    struct Outcome { var status: Int32; var message: String? }

    static func read(_ paths: [String]) throws -> [(path: String, document: AnyRunDocument)] {
        try paths.map { (path: $0, document: try AnyRunDocument.read($0, shapes: FabricBench.resultShapes)) }
    }

    static func compare(_ paths: [String], resamples: Int = 100, file: StaticString = #filePath, line: UInt = #line) -> Outcome {
        do {
            let runs = try read(paths)
            var settings = RunComparison.Settings()
            settings.bootstrap.resamples = resamples
            let c = try RunComparison.compare(runs, settings: settings)
            XCTAssertFalse(CompareTable.render(c).isEmpty, file: file, line: line)
            XCTAssertNoThrow(try JSONReport.encoder().encode(c), "compare --json must be writable", file: file, line: line)
            return Outcome(status: 0)
        } catch let error as ReportError {
            return Outcome(status: 2, message: error.singleLine)
        } catch {
            XCTFail("compare \(paths): not a ReportError (exit 1): \(error)", file: file, line: line)
            return Outcome(status: 1, message: "\(error)")
        }
    }

    static func report(_ paths: [String], file: StaticString = #filePath, line: UInt = #line) -> Outcome {
        do {
            let html = HTMLReport.render(try read(paths), title: "fuzz")
            XCTAssertTrue(html.hasSuffix("</html>\n"), file: file, line: line)
            return Outcome(status: 0)
        } catch let error as ReportError {
            return Outcome(status: 2, message: error.singleLine)
        } catch {
            XCTFail("report \(paths): not a ReportError (exit 1): \(error)", file: file, line: line)
            return Outcome(status: 1, message: "\(error)")
        }
    }
}

/// Result files are input: mutated real files (seeded) are refused with exit 2 and one line,
/// or compared and rendered; never a trap, a hang or exit 1.
final class ResultFilesFuzzTests: XCTestCase {
    func texts() throws -> [String: String] { try RealResultFiles.texts.get() }

    /// One mutated file and its partner: the same command's original (half the time, so the
    /// mutation reaches compare and the charts) or another mutation of it.
    static func pair(_ mutator: inout ResultMutator, _ texts: [String: String], in dir: URL, tag: String) throws -> (String, String) {
        let name = mutator.pick(RealResultFiles.commands.map(\.name))
        let a = dir.appendingPathComponent("\(tag)-a.json"), b = dir.appendingPathComponent("\(tag)-b.json")
        try mutator.mutate(texts[name]!).write(to: a)
        try (mutator.below(2) == 0 ? Data(texts[name]!.utf8) : mutator.mutate(texts[name]!)).write(to: b)
        return (a.path, b.path)
    }

    func testRealFilesPassValidationAndRender() throws {
        let texts = try texts()
        let dir = CLI.temporaryDirectory()
        var paths: [String] = []
        for (name, text) in texts.sorted(by: { $0.key < $1.key }) {
            let path = dir.appendingPathComponent("\(name).json").path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            paths.append(path)
            XCTAssertEqual(InProcess.report([path, path]).status, 0, name)
            if name != "matrix" { XCTAssertEqual(InProcess.compare([path, path]).message, nil, name) }
        }
        XCTAssertEqual(InProcess.report(paths).status, 0)
    }

    func testMutatedFilesAreRefusedOrComparedAndRenderedInProcess() throws {
        let texts = try texts()
        let dir = CLI.temporaryDirectory()
        let count = Int(ProcessInfo.processInfo.environment["FABRICBENCH_RESULT_FUZZ_INPROCESS"] ?? "") ?? 300
        var mutator = ResultMutator(seed: 0x5EED_F11E)
        var statuses: [String: Int] = [:]
        let began = Date()
        for i in 0..<count {
            let (a, b) = try Self.pair(&mutator, texts, in: dir, tag: "m")
            for (what, outcome) in [("compare", InProcess.compare([a, b])), ("report", InProcess.report([a, b]))] {
                statuses["\(what) \(outcome.status)", default: 0] += 1
                if outcome.status == 2, let message = outcome.message {
                    XCTAssertFalse(message.contains("\n"), "\(i) \(what): \(message)")
                }
            }
            // Read errors name the file they are about.
            do { _ = try InProcess.read([a]) } catch let error as ReportError {
                XCTAssertTrue(error.description.contains(a), "\(i): \(error)")
            }
        }
        print("in-process result fuzz: \(count) mutated files in \(String(format: "%.1f", Date().timeIntervalSince(began))) s: \(statuses.sorted { $0.key < $1.key })")
        // Both ways are exercised: refusals, and mutations that pass validation and reach the statistics and charts.
        XCTAssertGreaterThan(statuses["report 2", default: 0], count / 4)
        XCTAssertGreaterThan(statuses["report 0", default: 0], count / 40)
        XCTAssertGreaterThan(statuses["compare 0", default: 0], count / 40)
    }

    /// The CLI itself: exit 0 or 2, never a signal or 1, and on 2 one line naming the problem.
    func testMutatedFilesExitWith0Or2ThroughTheCLI() throws {
        let texts = try texts()
        let dir = CLI.temporaryDirectory()
        var mutator = ResultMutator(seed: 0xC11)
        var statuses: Set<Int32> = []
        for i in 0..<12 {
            let (a, b) = try Self.pair(&mutator, texts, in: dir, tag: "c\(i)")
            for (arguments, expected) in [(["compare", a, b], InProcess.compare([a, b], resamples: 400)),
                                          (["report", a, b, "-o", dir.appendingPathComponent("c\(i).html").path], InProcess.report([a, b]))] {
                let r = try CLI.run(arguments, limit: 60, in: dir)
                XCTAssertFalse(r.signaled, "\(arguments): killed by signal \(r.status): \(r.stderr)")
                XCTAssertEqual(r.status, expected.status, "\(arguments): \(r.stderr)")
                statuses.insert(r.status)
                if r.status == 2 {
                    XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, r.stderr)
                    XCTAssertEqual(r.stderr, "fabricbench: error: \(expected.message ?? "")\n")
                }
            }
        }
        XCTAssertEqual(statuses, [0, 2])
    }

    /// An invalid file: exit 2 and one line naming the file and the field, from both commands.
    func testAnInvalidFileIsOneLineNamingTheFileAndTheField() throws {
        let texts = try texts()
        let dir = CLI.temporaryDirectory()
        var json = try XCTUnwrap(JSONValue.parse(texts["allreduce"]!))
        let path = try XCTUnwrap(Self.path(json, ["results", 1, "ranks", 1, "p50_us"]))
        json = json.updating(path) { _ in .number("-1") }
        let bad = dir.appendingPathComponent("r.json").path, good = dir.appendingPathComponent("good.json").path
        try json.text.write(toFile: bad, atomically: true, encoding: .utf8)
        try texts["allreduce"]!.write(toFile: good, atomically: true, encoding: .utf8)
        for arguments in [["compare", good, bad], ["report", bad, good, "-o", dir.appendingPathComponent("r.html").path]] {
            let r = try CLI.run(arguments, in: dir)
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssertEqual(r.stderr, "fabricbench: error: \(bad): results[1].ranks[1].p50_us: -1.0 is outside 0...1e15\n")
        }
        // A newline in a file name (or a command read from a file) stays on one line.
        let odd = dir.appendingPathComponent("two\nlines.json").path
        try "{".write(toFile: odd, atomically: true, encoding: .utf8)
        let r = try CLI.run(["compare", odd, good], in: dir)
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("two\\u{a}lines.json is not JSON"), r.stderr)
    }

    /// The path of `keys` (member names and array indexes) in `json`.
    static func path(_ json: JSONValue, _ keys: [Any]) -> [JSONValue.Step]? {
        var steps: [JSONValue.Step] = []
        var node = json
        for key in keys {
            switch (node, key) {
            case (.object(let members), let name as String):
                guard let i = members.firstIndex(where: { $0.key == name }) else { return nil }
                steps.append(.member(i)); node = members[i].value
            case (.array(let elements), let index as Int):
                guard index < elements.count else { return nil }
                steps.append(.element(index)); node = elements[index]
            default:
                return nil
            }
        }
        return steps
    }

    /// The long run (scripts/fuzz-results.sh): FABRICBENCH_RESULT_FUZZ_FILES mutated files through
    /// the CLI, two at a time, until FABRICBENCH_RESULT_FUZZ_SECONDS; prints the exit statuses.
    func testLongRunThroughTheCLI() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let files = environment["FABRICBENCH_RESULT_FUZZ_FILES"].flatMap({ Int($0) }) else {
            throw XCTSkip("the long run: scripts/fuzz-results.sh N (FABRICBENCH_RESULT_FUZZ_FILES=N)")
        }
        let seconds = environment["FABRICBENCH_RESULT_FUZZ_SECONDS"].flatMap(Double.init) ?? 3600
        let seed = environment["FABRICBENCH_RESULT_FUZZ_SEED"].flatMap { UInt64($0) } ?? 1
        let texts = try texts()
        let failures = CLI.temporaryDirectory()
        let began = Date()
        let lock = NSLock()
        nonisolated(unsafe) var statuses: [String: Int] = [:]
        nonisolated(unsafe) var done = 0
        nonisolated(unsafe) var problems: [String] = []
        let workers = 2
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var mutator = ResultMutator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(worker))
            let dir = CLI.temporaryDirectory()
            for i in stride(from: worker, to: files, by: workers) {
                guard Date().timeIntervalSince(began) < seconds else { break }
                guard let (a, b) = try? Self.pair(&mutator, texts, in: dir, tag: "f") else { continue }
                for arguments in [["compare", a, b], ["report", a, b, "-o", dir.appendingPathComponent("f.html").path]] {
                    let r = Spawn.run(CLI.binary, arguments, stderr: dir.appendingPathComponent("stderr").path, limit: 120)
                    let key = "\(arguments[0]) \(r.signaled ? "signal" : "exit") \(r.status)"
                    var problem: String?
                    if r.signaled || (r.status != 0 && r.status != 2) {
                        problem = key
                    } else if r.status == 2 && (r.stderr.filter { $0 == "\n" }.count != 1 || !r.stderr.hasPrefix("fabricbench: error: ")) {
                        problem = "\(key) with stderr of \(r.stderr.filter { $0 == "\n" }.count) lines"
                    }
                    lock.withLock {
                        statuses[key, default: 0] += 1
                        if let problem {
                            let keep = failures.appendingPathComponent("\(i)")
                            try? FileManager.default.createDirectory(at: keep, withIntermediateDirectories: true)
                            try? FileManager.default.copyItem(atPath: a, toPath: keep.appendingPathComponent("a.json").path)
                            try? FileManager.default.copyItem(atPath: b, toPath: keep.appendingPathComponent("b.json").path)
                            problems.append("\(problem): \(keep.path) (\(r.stderr.prefix(300)))")
                        }
                    }
                }
                lock.withLock { done += 1 }
            }
        }
        let elapsed = Date().timeIntervalSince(began)
        let counts = statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        print("result fuzz: \(done) of \(files) mutated files (seed \(seed)) in \(String(format: "%.1f", elapsed)) s; \(counts); problems: \(problems.count)")
        for p in problems.prefix(20) { print("result fuzz problem: \(p)") }
        XCTAssertEqual(problems, [])
    }
}

/// posix_spawn and waitpid, for running the binary from two threads at once (Foundation's
/// Process crashes when two threads start processes together), with its exit status or the
/// signal that ended it; stdout goes to /dev/null, stderr to a file that is read back.
enum Spawn {
    static func run(_ executable: String, _ arguments: [String], stderr path: String, limit: Double) -> CLIRun {
        let began = Date()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = argv.withUnsafeBufferPointer { posix_spawn(&pid, executable, &actions, nil, $0.baseAddress!, environ) }
        guard rc == 0 else { return CLIRun(status: -1, stdout: "", stderr: "posix_spawn: \(String(cString: strerror(rc)))", seconds: 0) }
        var status: Int32 = 0
        let deadline = began.addingTimeInterval(limit)
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() > deadline { kill(pid, SIGKILL); _ = waitpid(pid, &status, 0); break }
            usleep(1_000)
        }
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        // WIFSIGNALED / WTERMSIG / WEXITSTATUS, which Swift does not import.
        let signal = status & 0x7f
        return CLIRun(status: signal != 0 ? signal : (status >> 8) & 0xff, stdout: "", stderr: text,
                      seconds: Date().timeIntervalSince(began), signaled: signal != 0)
    }
}
