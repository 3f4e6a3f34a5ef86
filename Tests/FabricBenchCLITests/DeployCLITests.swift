import Foundation
import XCTest

/// What CI and monitoring read: --version, smoke as the CI recipes run it, and the JUnit and
/// Prometheus files checked by real parsers (Debian's python3-junitparser and promtool, from
/// scripts/install-deps.sh), never by string matching.
final class DeployCLITests: XCTestCase {
    static let python = "/usr/bin/python3"  // Debian's, where python3-junitparser and python3-yaml are

    /// Runs a Python snippet with Debian's python3; its stdout must be one JSON value.
    func python(_ script: String, _ arguments: [String], module: String) throws -> Any {
        let python = try Requirement.path([Self.python], "Debian's python3")
        let probe = try CLI.run(["-c", "import \(module)"], limit: 30, executable: python)
        try Requirement.check(probe.status == 0, "python3-\(module) (Debian)")
        let r = try CLI.run(["-c", script] + arguments, limit: 60, executable: python)
        XCTAssertEqual(r.status, 0, r.stderr)
        return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8), options: [.fragmentsAllowed])
    }

    /// junitparser's view of a file: each suite with its cases, their failures and properties.
    func junit(_ path: String) throws -> [[String: Any]] {
        let script = """
        import json, sys
        from junitparser import JUnitXml, Failure, Properties, Property
        xml = JUnitXml.fromfile(sys.argv[1])
        out = []
        for suite in xml:
            cases = []
            for case in suite:
                failures = [r.message for r in case.result if isinstance(r, Failure)]
                props = {}
                for group in case.iterchildren(Properties):
                    for p in group.iterchildren(Property):
                        props[p.name] = p.value
                cases.append({"name": case.name, "classname": case.classname, "failures": failures, "properties": props})
            out.append({"name": suite.name, "tests": suite.tests, "failures": suite.failures, "cases": cases})
        print(json.dumps(out))
        """
        return try XCTUnwrap(try python(script, [path], module: "junitparser") as? [[String: Any]])
    }

    /// `promtool check metrics` (Debian's prometheus package): exit 0 means the file parses
    /// and passes its lint rules (units, HELP, no stray quantile labels).
    func promtool(_ path: String) throws -> String {
        let promtool = try Requirement.path(["/usr/bin/promtool"], "promtool (Debian's prometheus package)")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let script = "promtool check metrics < \"$1\""
        let r = try CLI.run(["-c", script, "sh", path], limit: 30, executable: "/bin/sh")
        XCTAssertEqual(r.status, 0, "\(promtool) check metrics: \(r.stdout)\(r.stderr)\n\(text)")
        return text
    }

    func cases(_ suites: [[String: Any]]) -> [[String: Any]] { suites.flatMap { $0["cases"] as? [[String: Any]] ?? [] } }
    func names(_ cases: [[String: Any]]) -> [String] { cases.compactMap { $0["name"] as? String } }
    func failures(_ c: [String: Any]) -> [String] { c["failures"] as? [String] ?? [] }
    func properties(_ c: [String: Any]) -> [String: String] { c["properties"] as? [String: String] ?? [:] }

    func testVersionPrintsVersionAndCommitAndTheJSONRecordsBoth() throws {
        let dir = CLI.temporaryDirectory()
        let version = try CLI.run(["--version"], in: dir)
        XCTAssertEqual(version.status, 0, version.stderr)
        let line = version.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let pattern = #"^fabricbench ([0-9]+\.[0-9]+\.[0-9]+) \(commit (unknown|[0-9a-f]{12}(-dirty)?)\)$"#
        let match = try XCTUnwrap(line.range(of: pattern, options: .regularExpression), line)
        XCTAssertEqual(match, line.startIndex..<line.endIndex)
        let words = line.split(separator: " ")
        let r = try CLI.run(["latency", "--np", "2", "-n", "50", "--json", "l.json"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let environment = try XCTUnwrap(try CLI.json(dir.appendingPathComponent("l.json"))["environment"] as? [String: Any])
        XCTAssertEqual(environment["fabricbench_version"] as? String, String(words[1]))
        XCTAssertEqual(environment["fabricbench_commit"] as? String, String(words[3].dropLast()))
    }

    /// The smoke command line of both CI recipes (they must agree), as arguments after the binary.
    func recipeSmokeArguments() throws -> [String] {
        let script = """
        import json, sys, yaml
        gh = yaml.safe_load(open(sys.argv[1]))
        gl = yaml.safe_load(open(sys.argv[2]))
        # YAML 1.1 reads the key `on` as True: what GitHub means by it is still there.
        assert ("on" in gh) or (True in gh), "no trigger"
        steps = [s for job in gh["jobs"].values() for s in job["steps"]]
        gh_lines = [l for s in steps for l in str(s.get("run", "")).splitlines() if "fabricbench smoke" in l]
        publish = [s for s in steps if "junit" in str(s.get("uses", "")).lower()]
        job = gl["fabricbench-smoke"]
        gl_lines = [l for l in job["script"] if "fabricbench smoke" in l]
        print(json.dumps({"github": gh_lines, "gitlab": gl_lines, "github_publishes": [s["with"]["report_paths"] for s in publish],
                          "gitlab_publishes": job["artifacts"]["reports"]["junit"]}))
        """
        let ci = CLI.packageRoot.appendingPathComponent("scripts/examples/ci")
        let found = try XCTUnwrap(try python(script, [ci.appendingPathComponent("github-actions.yml").path, ci.appendingPathComponent("gitlab-ci.yml").path],
                                             module: "yaml") as? [String: Any])
        let github = try XCTUnwrap(found["github"] as? [String]), gitlab = try XCTUnwrap(found["gitlab"] as? [String])
        XCTAssertEqual(github.count, 1)
        XCTAssertEqual(github, gitlab, "both CI recipes run the same smoke command")
        let words = try XCTUnwrap(github.first).split(separator: " ").map(String.init)
        XCTAssertTrue(words[0].hasSuffix("/fabricbench"), words[0])
        let arguments = Array(words.dropFirst())
        let junit = try XCTUnwrap(arguments.firstIndex(of: "--junit").map { arguments[$0 + 1] })
        XCTAssertEqual(found["github_publishes"] as? [String], [junit], "GitHub publishes the file smoke writes")
        XCTAssertEqual(found["gitlab_publishes"] as? String, junit, "GitLab publishes the file smoke writes")
        return arguments
    }

    func testSmokeAsTheCIRecipesRunItPassesAndItsGatesFailWithTheirMessages() throws {
        let dir = CLI.temporaryDirectory()
        let arguments = try recipeSmokeArguments()
        XCTAssertEqual(arguments.prefix(1), ["smoke"])
        let smoke = try CLI.run(arguments + ["--prom", "smoke.prom"], limit: 120 * CLI.sanitizerSlack, in: dir)
        XCTAssertEqual(smoke.status, 0, smoke.stdout + smoke.stderr)
        // Under 30 s on this 2-core host in a release build; a debug build under load gets slack
        // (under ThreadSanitizer, beside other work: 67.5 s).
        XCTAssertLessThan(smoke.seconds, 60 * CLI.sanitizerSlack, smoke.stdout)
        for check in ["latency", "bandwidth", "allreduce-ring", "allreduce-tree", "matrix"] {
            XCTAssertTrue(smoke.stdout.contains("PASS \(check) "), smoke.stdout)
        }
        let junitPath = dir.appendingPathComponent(arguments[arguments.firstIndex(of: "--junit")! + 1]).path
        let suites = try junit(junitPath)
        XCTAssertEqual(suites.compactMap { $0["name"] as? String }, ["smoke latency", "smoke bandwidth", "smoke allreduce-ring", "smoke allreduce-tree", "smoke matrix"])
        XCTAssertEqual(suites.compactMap { $0["failures"] as? Int }, [0, 0, 0, 0, 0])
        let all = cases(suites)
        XCTAssertTrue(names(all).contains("latency 8"), "\(names(all))")
        XCTAssertTrue(names(all).contains("allreduce 1M out-of-place"), "\(names(all))")
        XCTAssertTrue(names(all).contains("matrix verdicts"), "\(names(all))")
        let eight = try XCTUnwrap(all.first { $0["name"] as? String == "latency 8" })
        XCTAssertNotNil(Double(properties(eight)["latency_p50_us"] ?? ""), "\(eight)")
        XCTAssertEqual(eight["classname"] as? String, "fabricbench.smoke.latency")
        let prom = try promtool(dir.appendingPathComponent("smoke.prom").path)
        XCTAssertTrue(prom.contains("\nfabricbench_smoke_success 1\n"), prom)
        XCTAssertTrue(prom.contains("fabricbench_collective_busbw_bytes_per_second{check=\"allreduce-tree\""), prom)

        // The same suite with gates it cannot meet, against the first run as a baseline.
        let jsonName = arguments[arguments.firstIndex(of: "--json")! + 1]
        let gated = try CLI.run(["smoke", "--max-latency-us", "8:0.001", "--min-busbw", "100000", "--baseline", jsonName, "--max-regression", "10%",
                                 "--junit", "gated.xml", "--json", "gated.json"], limit: 120 * CLI.sanitizerSlack, in: dir)
        XCTAssertEqual(gated.status, 1, gated.stdout + gated.stderr)
        XCTAssertTrue(gated.stdout.contains("FAIL latency "), gated.stdout)
        XCTAssertTrue(gated.stderr.hasPrefix("fabricbench: error: smoke failed: latency (latency 8 --max-latency-us 0.001: median one-way latency "), gated.stderr)
        let gatedCases = cases(try junit(dir.appendingPathComponent("gated.xml").path))
        let ceiling = try XCTUnwrap(gatedCases.first { $0["name"] as? String == "latency 8 --max-latency-us 0.001" })
        XCTAssertTrue(failures(ceiling).first?.hasPrefix("median one-way latency ") == true, "\(ceiling)")
        // The ceiling is for 8 B only: 64 B has its figures' case and no gate.
        XCTAssertEqual(gatedCases.first { $0["name"] as? String == "latency 64" }.map(failures), [], "\(names(gatedCases))")
        XCTAssertFalse(names(gatedCases).contains { $0.hasPrefix("latency 64 --max-latency-us") }, "\(names(gatedCases))")
        for algorithm in ["ring", "tree"] {
            let floor = try XCTUnwrap(gatedCases.first { $0["name"] as? String == "allreduce-\(algorithm) 1M --min-busbw 100000" })
            XCTAssertTrue(failures(floor).first?.contains("is below --min-busbw 100000.000") == true, "\(floor)")
        }
        // Every gated figure was compared with the baseline and says how; the matrix is not.
        let compared = gatedCases.filter { ($0["name"] as? String)?.hasSuffix("vs baseline") == true }
        XCTAssertEqual(Set(compared.compactMap { properties($0)["metric"] }), ["latency_p50_us", "bandwidth_gbps", "busbw_gbps"])
        XCTAssertTrue(compared.allSatisfy { ["yes", "no"].contains(properties($0)["significant"]) })
        XCTAssertFalse(compared.contains { ($0["name"] as? String)?.hasPrefix("matrix") == true })
        // Nothing measured is lost: the gated run's file holds every check's results.
        let kept = try CLI.json(dir.appendingPathComponent("gated.json"))
        XCTAssertEqual((kept["runs"] as? [String: Any])?.keys.sorted(), ["allreduce-ring", "allreduce-tree", "bandwidth", "latency", "matrix"])
        XCTAssertEqual(kept["passed"] as? Bool, false)
    }

    func testJUnitAndPrometheusOnMeasuringCommandsPassTheirParsers() throws {
        let dir = CLI.temporaryDirectory()
        // A gate the run cannot meet: exit 1, the gate a failing case with its message, the
        // sizes passing cases with their figures, and the results still on disk.
        let ar = try CLI.run(["allreduce", "--np", "2", "-b", "1K", "-e", "64K", "-f", "8", "-n", "5", "--algo", "ring", "--min-busbw", "100000",
                              "--json", "ar.json", "--junit", "ar.xml", "--prom", "ar.prom"], in: dir)
        XCTAssertEqual(ar.status, 1, ar.stderr)
        let arCases = cases(try junit(dir.appendingPathComponent("ar.xml").path))
        XCTAssertEqual(names(arCases), ["allreduce 1K out-of-place", "allreduce 1K in-place", "allreduce 8K out-of-place", "allreduce 8K in-place",
                                        "allreduce 64K out-of-place", "allreduce 64K in-place", "allreduce --min-busbw 100000", "allreduce run"])
        XCTAssertEqual(arCases.prefix(6).map(failures), Array(repeating: [], count: 6))
        XCTAssertEqual(properties(arCases[0])["algorithm"], "ring")
        XCTAssertNotNil(Double(properties(arCases[0])["busbw_gbps"] ?? ""))
        XCTAssertTrue(failures(arCases[6]).first?.hasPrefix("average bus bandwidth ") == true, "\(arCases[6])")
        XCTAssertTrue(failures(arCases[7]).first?.hasPrefix("failed: ") == true, "\(arCases[7])")
        let arProm = try promtool(dir.appendingPathComponent("ar.prom").path)
        XCTAssertTrue(arProm.contains("fabricbench_collective_busbw_bytes_per_second{collective=\"allreduce\""), arProm)
        XCTAssertTrue(arProm.contains("algorithm=\"ring\""), arProm)
        XCTAssertTrue(arProm.contains("fabricbench_run_success{command=\"allreduce\""), arProm)
        XCTAssertEqual((try CLI.json(dir.appendingPathComponent("ar.json"))["results"] as? [Any])?.count, 6)

        let lat = try CLI.run(["latency", "--np", "2", "-b", "8", "-e", "64", "-f", "8", "-n", "200", "-c", "1", "--junit", "lat.xml", "--prom", "lat.prom"], in: dir)
        XCTAssertEqual(lat.status, 0, lat.stderr)
        XCTAssertEqual(names(cases(try junit(dir.appendingPathComponent("lat.xml").path))), ["latency 8", "latency 64", "latency run"])
        let latProm = try promtool(dir.appendingPathComponent("lat.prom").path)
        XCTAssertTrue(latProm.contains("# TYPE fabricbench_latency_one_way_seconds summary"), latProm)
        XCTAssertTrue(latProm.contains("fabricbench_latency_one_way_seconds_count{"), latProm)

        let matrix = try CLI.run(["matrix", "--np", "3", "-n", "100", "--bw-size", "16K", "--junit", "m.xml", "--prom", "m.prom"], in: dir)
        XCTAssertEqual(matrix.status, 0, matrix.stderr)
        let mCases = cases(try junit(dir.appendingPathComponent("m.xml").path))
        XCTAssertEqual(names(mCases), ["link 0-1", "link 0-2", "link 1-2", "matrix verdicts", "matrix run"])
        XCTAssertNotNil(properties(mCases[0])["bandwidth_gbps_1_to_0"], "both directions: \(mCases[0])")
        let mProm = try promtool(dir.appendingPathComponent("m.prom").path)
        XCTAssertTrue(mProm.contains("fabricbench_matrix_bandwidth_bytes_per_second{host="), mProm)
        XCTAssertTrue(mProm.contains("rank=\"2\",peer_rank=\"0\""), "each way: \(mProm)")
        XCTAssertTrue(mProm.contains("\nfabricbench_matrix_verdicts "), mProm)
    }

    func testBadInputIsOneLineAndExitTwo() throws {
        let dir = CLI.temporaryDirectory()
        try Data("{\"command\": \"latency\"}".utf8).write(to: dir.appendingPathComponent("notsmoke.json"))
        for (arguments, message) in [
            (["smoke", "--max-latency-us", "abc"], "--max-latency-us 'abc' is not [SIZE:]MICROSECONDS"),
            (["smoke", "--max-latency-us", "8:1", "--max-latency-us", "8:2"], "--max-latency-us gives 8 twice"),
            (["smoke", "--max-regression", "5%"], "--max-regression needs --baseline OLD.json"),
            (["smoke", "--baseline", "notsmoke.json"], "--baseline notsmoke.json is not a smoke result"),
            (["smoke", "--baseline", "missing.json"], "--baseline missing.json: cannot read the file"),
            (["smoke", "--matrix-np", "2"], "--matrix-np 2 is out of range"),
            (["smoke", "--junit", "/nonexistent/s.xml"], "--junit /nonexistent/s.xml: the folder /nonexistent does not exist"),
            (["latency", "--np", "2", "--prom", "/nonexistent/l.prom"], "--prom /nonexistent/l.prom: the folder /nonexistent does not exist"),
            (["allreduce", "--np", "2", "--junit", "out/"], "--junit 'out/' is not a file name"),
        ] {
            let r = try CLI.run(arguments, limit: 30, in: dir)
            XCTAssertEqual(r.status, 2, "\(arguments): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(arguments): one line: \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("fabricbench: error: \(message)"), "\(arguments): \(r.stderr)")
        }
    }

    func testRecipesParseAndNameCommandsThatExist() throws {
        let examples = CLI.packageRoot.appendingPathComponent("scripts/examples")
        // The batch script is valid bash, and every fabricbench command in it and in the
        // systemd unit gets past this fabricbench's parser: with `--np 0` appended, a known
        // command line fails only on that (exit 2 naming --np), before anything runs; a
        // misspelt flag would fail on itself. (`--help` would not do: it ignores unknown flags.)
        let syntax = try CLI.run(["-n", examples.appendingPathComponent("slurm-fabric-check.sbatch").path], limit: 30, executable: "/bin/bash")
        XCTAssertEqual(syntax.status, 0, syntax.stderr)
        var commands: [[String]] = []
        for file in ["slurm-fabric-check.sbatch", "fabricbench-matrix.service"] {
            let text = try String(contentsOf: examples.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                let words = line.split(separator: " ").map(String.init)
                guard let i = words.firstIndex(where: { $0 == "fabricbench" || $0.hasSuffix("/fabricbench") }) else { continue }
                commands.append(Array(words[(i + 1)...].prefix { $0 != "||" }))
            }
        }
        XCTAssertEqual(commands.map { $0.first ?? "" }, ["matrix", "allreduce", "report", "matrix"])
        for command in commands {
            // The job's folder and the collector's are made real, so only --np can fail.
            let dir = CLI.temporaryDirectory()
            let concrete = command.map { $0.replacingOccurrences(of: "\"$out", with: dir.path).replacingOccurrences(of: "\"", with: "")
                .replacingOccurrences(of: "/var/lib/prometheus/node-exporter", with: dir.path).replacingOccurrences(of: "/var/lib/fabricbench", with: dir.path) }
                .map { $0.contains("$") ? "x" : $0 }
            if concrete.first == "report" {
                // No --np: the files it names do not exist yet, and it says so (after parsing).
                let r = try CLI.run(concrete, limit: 30, in: dir)
                XCTAssertEqual(r.status, 2, "\(concrete): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains("matrix.json"), "\(concrete): \(r.stderr)")
                continue
            }
            var args = concrete
            if let i = args.firstIndex(of: "--np") { args[i + 1] = "0" } else { args += ["--np", "0"] }
            let r = try CLI.run(args, limit: 30, in: dir)
            XCTAssertEqual(r.status, 2, "\(concrete): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("fabricbench: error: --np must be at least 1"), "\(concrete): \(r.stderr)")
        }
        let hostfile = try String(contentsOf: examples.appendingPathComponent("openmpi-hostfile"), encoding: .utf8)
        let hosts = hostfile.split(separator: "\n").filter { !$0.hasPrefix("#") }
        XCTAssertFalse(hosts.isEmpty)
        XCTAssertTrue(hosts.allSatisfy { $0.range(of: #"^[A-Za-z0-9.-]+ slots=[0-9]+$"#, options: .regularExpression) != nil }, "\(hosts)")
    }
}
