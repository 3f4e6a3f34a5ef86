import Foundation
import XCTest

/// Arguments stated once: the JSON's `arguments` come from the declarations, every rank must
/// have the same measurement arguments, and every measuring command's file loads again.
final class ArgumentsCLITests: XCTestCase {
    /// Two ranks started by hand with these per-rank arguments.
    func pair(_ arguments: (Int) -> [String]) throws -> [CLIRun] {
        let port = CLI.freePort()
        let dir = CLI.temporaryDirectory()
        let started = try (0..<2).map { rank in
            try CLI.start(arguments(rank) + ["--rank", "\(rank)", "--world-size", "2", "--master", "127.0.0.1:\(port)", "--timeout", "20"], in: dir)
        }
        return started.map { CLI.wait($0, limit: 60) }
    }

    func testRanksStartedWithOtherIterationsAreRefusedNamingBoth() throws {
        let runs = try pair { ["latency", "-n", $0 == 0 ? "1000" : "500"] }
        XCTAssertEqual(runs.map(\.status), [2, 2], runs.map(\.stderr).joined())
        for run in runs {
            XCTAssertTrue(run.stderr.contains("rank 1 was started with -n 500, rank 0 with -n 1000"), run.stderr)
            XCTAssertLessThan(run.seconds, 15, "refused at start, not after a timeout")
        }
    }

    func testRanksRunningDifferentCommandsOrAlgorithmsAreRefused() throws {
        let commands = try pair { $0 == 0 ? ["allreduce", "-n", "2", "-b", "64"] : ["allgather", "-n", "2", "-b", "64"] }
        XCTAssertEqual(commands.map(\.status), [2, 2])
        XCTAssertTrue(commands[0].stderr.contains("rank 1 was started with command 'allgather', rank 0 with command 'allreduce'"), commands[0].stderr)
        let algorithms = try pair { ["allreduce", "-n", "2", "-b", "64", "--algo", $0 == 0 ? "ring" : "tree"] }
        XCTAssertEqual(algorithms.map(\.status), [2, 2])
        XCTAssertTrue(algorithms[1].stderr.contains("--algo tree, rank 0 with --algo ring"), algorithms[1].stderr)
    }

    func testRankLocalArgumentsMayDiffer() throws {
        // Where a rank writes, waits and pins is its own business.
        let dir = CLI.temporaryDirectory()
        let runs = try pair { ["latency", "-n", "50", "--json", dir.appendingPathComponent("r\($0).json").path] + ($0 == 0 ? ["--busy-poll"] : []) }
        XCTAssertEqual(runs.map(\.status), [0, 0], runs.map(\.stderr).joined())
    }

    func testTheRecordedArgumentsAreTheDeclaredFlagsWithoutSecrets() throws {
        let json = CLI.temporaryDirectory().appendingPathComponent("l.json")
        let r = try CLI.run(["latency", "--np", "2", "-n", "20", "-b", "16", "--busy-poll", "--job-token", "s3cr3t", "--json", json.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let text = try String(contentsOf: json, encoding: .utf8)
        XCTAssertFalse(text.contains("s3cr3t"), "the job token must not reach the JSON")
        let arguments = try XCTUnwrap(try CLI.json(json)["arguments"] as? [String: String])
        // Spelled as the flags, valued as given or defaulted; -e defaults to -b.
        XCTAssertEqual(arguments["busy_poll"], "true")
        XCTAssertEqual(arguments["b"], "16")
        XCTAssertEqual(arguments["e"], "16")
        XCTAssertEqual(arguments["n"], "20")
        XCTAssertEqual(arguments["gid_index"], "")
        XCTAssertEqual(arguments["timeout"], "30.0")
        XCTAssertEqual(arguments["transport"], "auto")
        XCTAssertNil(arguments["job_token"])
        XCTAssertNil(arguments["help"])
    }

    func testEveryMeasuringCommandsFileLoadsInReport() throws {
        let dir = CLI.temporaryDirectory()
        let commands: [[String]] = [
            ["latency", "-n", "20"], ["bandwidth", "-n", "8", "-b", "4K"], ["matrix", "--np", "3", "-n", "20", "--bw-size", "4K", "--bw-messages", "4"],
            ["allreduce", "-n", "2", "-b", "1K"], ["reducescatter", "-n", "2", "-b", "1K"], ["allgather", "-n", "2", "-b", "1K"],
            ["broadcast", "-n", "2", "-b", "1K"], ["barrier", "-n", "2"],
        ]
        var files: [String] = []
        for command in commands {
            let path = dir.appendingPathComponent("\(command[0]).json").path
            let r = try CLI.run(command + ["--json", path], limit: 90)
            XCTAssertEqual(r.status, 0, "\(command[0]): \(r.stderr)")
            files.append(path)
        }
        let report = try CLI.run(["report"] + files + ["-o", dir.appendingPathComponent("all.html").path])
        XCTAssertEqual(report.status, 0, report.stderr)
        XCTAssertFalse(report.stderr.contains("unknown command"), report.stderr)
        // Files of schema version 1 (before "interrupted" existed) still load.
        let old = dir.appendingPathComponent("v1.json")
        let text = try String(contentsOf: URL(fileURLWithPath: files[0]), encoding: .utf8)
        try text.replacingOccurrences(of: #""schema_version" : [0-9]+"#, with: "\"schema_version\" : 1", options: .regularExpression).write(to: old, atomically: true, encoding: .utf8)
        XCTAssertTrue(try String(contentsOf: old, encoding: .utf8).contains("\"schema_version\" : 1"))
        let compare = try CLI.run(["compare", old.path, files[0]])
        XCTAssertEqual(compare.status, 0, compare.stderr)
    }
}
