import Foundation
import FabricCore
import FabricRendezvous
import XCTest

/// The launch paths other than --np, and what happens when ranks go missing.
final class LaunchCLITests: XCTestCase {
    func runPair(_ arguments: [String], environment: (Int) -> [String: String]) throws -> [CLIRun] {
        let dir = CLI.temporaryDirectory()
        let started = try (0..<2).map { try CLI.start(arguments, environment: environment($0), in: dir) }
        return started.map { CLI.wait($0, limit: 60) }
    }

    func testManualLaunchWithRankFlags() throws {
        let port = CLI.freePort()
        let dir = CLI.temporaryDirectory()
        let started = try (0..<2).map { rank in
            try CLI.start(["latency", "--rank", "\(rank)", "--world-size", "2", "--master", "127.0.0.1:\(port)",
                           "--job-token", "manual-\(port)", "-n", "100"], in: dir)
        }
        let runs = started.map { CLI.wait($0, limit: 60) }
        XCTAssertEqual(runs.map(\.status), [0, 0], runs.map(\.stderr).joined())
        XCTAssertTrue(runs[0].stdout.contains("t_typical"), runs[0].stdout)
        XCTAssertEqual(runs[1].stdout, "", "only rank 0 prints the table")
    }

    /// Started by hand, no launcher says how many ranks share a host; the job counts them from
    /// the ranks' host names. One rank more than this host has cores: waits sleep at once (a
    /// spinning wait would take the CPU its peer needs). The same ranks, each under its own
    /// --host-label: one rank a host, so waits spin first.
    func testAHandLaunchLearnsHowManyRanksShareTheHost() throws {
        let ranks = ProcessInfo.processInfo.activeProcessorCount + 1
        for separateHosts in [false, true] {
            let port = CLI.freePort()
            let dir = CLI.temporaryDirectory()
            let started = try (0..<ranks).map { rank in
                try CLI.start(["latency", "--rank", "\(rank)", "--world-size", "\(ranks)", "--master", "127.0.0.1:\(port)",
                               "--job-token", "hosts-\(port)", "--transport", "tcp", "-n", "20", "-b", "8", "-e", "8", "--json", "out.json"]
                              + (separateHosts ? ["--host-label", "host\(rank)"] : []), in: dir)
            }
            let runs = started.map { CLI.wait($0, limit: 120) }
            XCTAssertEqual(runs.map(\.status), Array(repeating: 0, count: ranks), runs.map(\.stderr).joined())
            let document = try CLI.json(dir.appendingPathComponent("out.json"))
            let settings = ((document["environment"] as? [String: Any])?["transport"] as? [String: Any])?["settings"] as? [String: String]
            XCTAssertEqual(settings?["spin_before_sleep"], separateHosts ? "1000 us" : "0",
                           "\(ranks) ranks on \(separateHosts ? "\(ranks) hosts" : "one host") with \(ranks - 1) cores: \(settings ?? [:])")
        }
    }

    func testOpenMPIEnvironment() throws {
        let namespace = "test-\(UUID().uuidString)"
        let runs = try runPair(["latency", "-n", "50"]) { rank in
            ["OMPI_COMM_WORLD_RANK": "\(rank)", "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
             "OMPI_COMM_WORLD_LOCAL_RANK": "\(rank)", "PMIX_NAMESPACE": namespace]
        }
        XCTAssertEqual(runs.map(\.status), [0, 0], runs.map(\.stderr).joined())
        XCTAssertTrue(runs[0].stdout.contains("t_typical"))
    }

    func testADerivedPortInUseSaysHowToChooseAnother() throws {
        let namespace = "test-\(UUID().uuidString)"
        let port = LaunchEnvironment.derivedPort(namespace)
        // Whoever holds the port (this socket, or something else on the host), rank 0 cannot have it.
        let holder = CLI.listen(onPort: port)
        defer { if holder >= 0 { close(holder) } }
        let r = try CLI.run(["latency", "-n", "10", "--timeout", "5"], environment: [
            "OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "2", "PMIX_NAMESPACE": namespace,
        ], limit: 30)
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("port \(port), derived from the job id in PMIX_NAMESPACE, is in use") && r.stderr.contains("--master"), r.stderr)
        XCTAssertLessThan(r.seconds, 10)
    }

    func testTorchrunEnvironment() throws {
        let port = CLI.freePort()
        let runs = try runPair(["latency", "-n", "50"]) { rank in
            ["RANK": "\(rank)", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "\(port)"]
        }
        XCTAssertEqual(runs.map(\.status), [0, 0], runs.map(\.stderr).joined())
    }

    func testAMissingRankTimesOutNamingIt() throws {
        let port = CLI.freePort()
        let r = try CLI.run(["latency", "--rank", "0", "--world-size", "2", "--master", "127.0.0.1:\(port)", "--timeout", "2"], limit: 30)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("rank 1") && r.stderr.contains("timed out after 2 s"), r.stderr)
        XCTAssertLessThan(r.seconds, 12)
    }

    func testAKilledRankFailsThePeerPromptlyAndMeasuredSizesAreKept() throws {
        let port = CLI.freePort()
        let dir = CLI.temporaryDirectory()
        let json = dir.appendingPathComponent("partial.json")
        let common = ["latency", "--world-size", "2", "--master", "127.0.0.1:\(port)", "--job-token", "kill-\(port)",
                      "-b", "8", "-e", "1K", "-D", "1", "--timeout", "60", "--json", json.path]
        let start = Date()
        let rank0 = try CLI.start(common + ["--rank", "0"], in: dir)
        let rank1 = try CLI.start(common + ["--rank", "1"], in: dir)
        // Wait for the first size to land in the JSON, then kill rank 1 mid-sweep.
        var measured = 0
        while measured == 0 && Date().timeIntervalSince(start) < 30 {
            usleep(50_000)
            measured = ((try? CLI.json(json))?["results"] as? [Any])?.count ?? 0
        }
        XCTAssertGreaterThan(measured, 0, "no size was measured within 30 s")
        kill(rank1.0.processIdentifier, SIGKILL)
        let killedAt = Date()
        let r0 = CLI.wait(rank0, limit: 30)
        _ = CLI.wait(rank1, limit: 5)
        XCTAssertEqual(r0.status, 1)
        XCTAssertLessThan(Date().timeIntervalSince(killedAt), 10, "rank 0 must notice long before its 60 s timeout")
        XCTAssertTrue(r0.stderr.contains("rank 1"), r0.stderr)
        let doc = try CLI.json(json)
        XCTAssertEqual(doc["status"] as? String, "failed")
        XCTAssertFalse((doc["error"] as? String ?? "").isEmpty)
        XCTAssertGreaterThanOrEqual((doc["results"] as? [Any])?.count ?? 0, measured)
    }

    func testTheLocalLauncherReportsAFailingRank() throws {
        // Rank 0 cannot write its JSON (no such directory): the launcher must fail the job.
        let r = try CLI.run(["latency", "--np", "2", "-n", "10", "--json", "/nonexistent-dir/out.json", "--timeout", "5"], limit: 60)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("/nonexistent-dir/out.json"), r.stderr)
        XCTAssertTrue(r.stderr.contains("rank 0 exited with status 1"), r.stderr)
    }

    func testBadInputExitsTwoWithOneLine() throws {
        let cases: [[String]] = [
            ["latency", "-b", "eight"],
            ["latency", "--np", "0"],
            ["latency", "--transport", "carrier-pigeon"],
            ["latency", "-c", "2"],
            ["latency", "-b", "1M", "-e", "8"],
            ["latency", "-b", "0"],
            ["latency", "--bogus"],
            ["latency", "--rank", "0"],
            ["latency", "--rank", "0", "--world-size", "2", "--master", "nocolon"],
            ["latency", "--np", "2", "--cpus", "a,b"],
            ["bandwidth", "--window", "0"],
            ["latency", "--last-byte"],
            ["latency", "--last-byte", "--transport", "verbs", "-c", "1"],
            ["latency", "--verb", "read"],
            ["latency", "--qps", "0"],
            ["allreduce", "--qps", "17"],
            ["latency", "--cm", "--mtu", "1024"],
            ["bandwidth", "--cm", "--sl", "3"],
            ["matrix", "--outlier-ratio", "0.5"],
            ["matrix", "--np", "1"],
            ["compare", "only-one.json"],
            ["report", "a.json", "-o", "report.png"],
            ["fly"],
        ]
        for arguments in cases {
            let r = try CLI.run(arguments, limit: 20)
            XCTAssertEqual(r.status, 2, "\(arguments): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(arguments): \(r.stderr)")
            XCTAssertTrue(lines.first?.hasPrefix("fabricbench: error: ") ?? false, "\(arguments): \(r.stderr)")
        }
    }

    func testNpInsideALauncherIsRefused() throws {
        let r = try CLI.run(["latency", "--np", "2"], environment: ["OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "2",
                                                                   "OMPI_COMM_WORLD_LOCAL_SIZE": "2", "PMIX_NAMESPACE": "x"], limit: 20)
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("drop --np"), r.stderr)
    }
}
