import Foundation
import XCTest

/// `fabricbench tune` writes a table; `--tuning FILE` runs choose from it instead of probing,
/// and refuse a table of another setup or a damaged one with one line and exit status 2.
final class TuningCLITests: XCTestCase {
    func testATunedTableReplacesTheProbeOnItsSetupOnly() throws {
        let dir = CLI.temporaryDirectory()
        let tune = try CLI.run(["tune", "--np", "2", "-b", "8", "-e", "8K", "-f", "4", "--transport", "tcp", "--tuning", "t.json", "--json", "tune.json"], in: dir)
        XCTAssertEqual(tune.status, 0, tune.stderr)
        XCTAssertTrue(tune.stdout.contains("# algo auto: probed 6 size(s)"), tune.stdout)
        XCTAssertTrue(tune.stdout.contains("written to t.json"), tune.stdout)
        let table = try CLI.json(dir.appendingPathComponent("t.json"))
        XCTAssertEqual(table["format"] as? String, "fabricbench-tuning")
        let setup = try XCTUnwrap(table["setup"] as? [String: Any])
        XCTAssertEqual(setup["transport"] as? String, "tcp")
        XCTAssertEqual(setup["world_size"] as? Int, 2)
        XCTAssertEqual(setup["ranks_per_host"] as? Int, 2)
        XCTAssertEqual((setup["hosts"] as? [String])?.count, 1)
        let sizes = try XCTUnwrap(table["sizes"] as? [[String: Any]])
        XCTAssertEqual(sizes.compactMap { $0["bytes"] as? Int }, [8, 32, 128, 512, 2048, 8192])
        for size in sizes {
            XCTAssertTrue(["ring", "tree", "rd"].contains(size["algo"] as? String ?? ""), "\(size)")
            let candidates = try XCTUnwrap(size["candidates"] as? [[String: Any]])
            XCTAssertEqual(Set(candidates.compactMap { $0["algo"] as? String }), ["ring", "tree", "rd"])
            for c in candidates {
                XCTAssertGreaterThan(c["median_us"] as? Double ?? 0, 0)
                XCTAssertGreaterThanOrEqual(c["p99_us"] as? Double ?? 0, c["median_us"] as? Double ?? 0 / 2)
                XCTAssertGreaterThanOrEqual(c["rounds"] as? Int ?? 0, 3)
            }
        }
        // tune's own JSON carries the same evidence.
        let tuneDocument = try CLI.json(dir.appendingPathComponent("tune.json"))
        XCTAssertEqual((tuneDocument["algorithm_choice"] as? [String: Any])?["source"] as? String, "probe")

        // A run with the table: no probe, the table named in the output and the JSON, and
        // sizes between probed ones chosen by the rule (-f 2 puts one between each pair).
        let run = try CLI.run(["allreduce", "--np", "2", "-b", "8", "-e", "8K", "-f", "2", "-n", "3", "--transport", "tcp",
                               "--tuning", "t.json", "--json", "ar.json"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("# algo auto: from tuning table t.json (created \(table["created"] as? String ?? "?")"), run.stdout)
        XCTAssertFalse(run.stdout.contains("# algo auto: probed"), run.stdout)
        let document = try CLI.json(dir.appendingPathComponent("ar.json"))
        let choice = try XCTUnwrap(document["algorithm_choice"] as? [String: Any])
        XCTAssertEqual(choice["source"] as? String, "table")
        let used = try XCTUnwrap(choice["table"] as? [String: Any])
        XCTAssertEqual(used["path"] as? String, "t.json")
        XCTAssertEqual(used["created"] as? String, table["created"] as? String)
        XCTAssertGreaterThanOrEqual(used["age_seconds"] as? Double ?? -1, 0)
        XCTAssertNil(choice["probe_seconds"])
        let results = try XCTUnwrap(document["results"] as? [[String: Any]])
        XCTAssertEqual(results.count, 22)  // 11 sizes, both placements
        let probedAlgo = Dictionary(uniqueKeysWithValues: sizes.map { ($0["bytes"] as! Int, $0["algo"] as! String) })
        for entry in results {
            let bytes = try XCTUnwrap(entry["bytes"] as? Int), why = entry["algo_selection"] as? String ?? ""
            XCTAssertTrue(why.hasPrefix("table t.json: "), why)
            if let algo = probedAlgo[bytes] {
                XCTAssertEqual(entry["algo"] as? String, algo, "\(bytes)")
            } else {
                XCTAssertTrue(why.contains("between"), why)
            }
        }

        // Another transport, another world size: refused by the launcher, one line, exit 2.
        for (arguments, difference) in [(["--np", "2", "--transport", "shm"], "transport"), (["--np", "3", "--transport", "tcp"], "world size")] {
            let refused = try CLI.run(["allreduce", "-b", "8", "-n", "2", "--tuning", "t.json"] + arguments, limit: 60, in: dir)
            XCTAssertEqual(refused.status, 2, "\(arguments): \(refused.stderr)")
            XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
            XCTAssertTrue(refused.stderr.contains("(the \(difference)"), refused.stderr)
            XCTAssertFalse(refused.stdout.contains("# algo"), refused.stdout)
        }
        // Under --transport auto, rank 0 checks the transport it chose (every rank exits 2).
        let text = try String(contentsOf: dir.appendingPathComponent("t.json"), encoding: .utf8)
        try text.replacingOccurrences(of: "\"transport\" : \"tcp\"", with: "\"transport\" : \"verbs\"")
            .write(to: dir.appendingPathComponent("verbs.json"), atomically: true, encoding: .utf8)
        let verbs = try CLI.run(["allreduce", "--np", "2", "-b", "8", "-n", "2", "--tuning", "verbs.json"], limit: 60, in: dir)
        XCTAssertEqual(verbs.status, 2, verbs.stderr)
        XCTAssertTrue(verbs.stderr.contains("over verbs"), verbs.stderr)
        XCTAssertTrue(verbs.stderr.contains("(the transport differ)"), verbs.stderr)
    }

    func testADamagedTableIsOneLineAndExitTwo() throws {
        let dir = CLI.temporaryDirectory()
        for (name, content) in [("garbage.json", "not json at all\u{0}\u{1b}[2J"), ("truncated.json", "{\"format\" : \"fabricbench-tuning\", \"vers"),
                                ("empty.json", ""), ("wrong.json", "{\"format\": \"fabricbench-tuning\", \"version\": 1}")] {
            try Data(content.utf8).write(to: dir.appendingPathComponent(name))
            let r = try CLI.run(["allreduce", "--np", "2", "-b", "8", "-n", "2", "--tuning", name], limit: 60, in: dir)
            XCTAssertEqual(r.status, 2, "\(name): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(name): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("--tuning \(name): not a tuning table"), r.stderr)
            XCTAssertFalse(r.signaled)
        }
        let missing = try CLI.run(["allreduce", "--np", "2", "-b", "8", "--tuning", "absent.json"], limit: 60, in: dir)
        XCTAssertEqual(missing.status, 2, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("cannot read it"), missing.stderr)
    }

    func testTuningFlagsThatCannotApplyExitTwo() throws {
        for arguments in [["tune", "--np", "2"], ["allreduce", "--algo", "ring", "--tuning", "t.json"],
                          ["reducescatter", "--tuning", "t.json"], ["tune", "--tuning", "t.json", "-w", "3"]] {
            let r = try CLI.run(arguments, limit: 20)
            XCTAssertEqual(r.status, 2, "\(arguments): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(arguments): \(r.stderr)")
        }
        // Where the table cannot be written: refused before the probe, not after it.
        for (path, says) in [("/nonexistent-folder/t.json", "the folder /nonexistent-folder does not exist"), ("/tmp", "--tuning /tmp is a folder")] {
            let r = try CLI.run(["tune", "--np", "2", "-b", "8", "-e", "1M", "--tuning", path], limit: 20)
            XCTAssertEqual(r.status, 2, "\(path): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(path): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(says), "\(path): \(r.stderr)")
        }
    }
}
