import ArgumentParser
import FabricCore
import FabricEngine
import FabricMeasure
import FabricRendezvous
import FabricReport
import FabricResults
import Foundation

struct SmokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smoke",
        abstract: "A fixed, fast CI suite: latency, bandwidth, all-reduce ring and tree, and a matrix, each a named check with optional gates.",
        discussion: """
        Runs five checks, each an ordinary fabricbench run on local ranks (under 30 s in all on \
        a 2-core host over loopback): latency (8 B to 32 KiB, every byte checked), bandwidth \
        (64 KiB to 4 MiB), allreduce-ring and allreduce-tree (1 KiB to 1 MiB, results checked \
        exactly) on --np ranks, and a matrix of --matrix-np ranks (fails on a confirmed \
        verdict on median latency or bandwidth; tail latency verdicts, which a busy runner \
        makes, are reported, not failed). A check fails when its run fails, its data check fails, or a gate fails; the \
        exit status is 1 when any check failed, 2 for bad input. Start it once per host, not \
        under mpirun or srun.

        Gates: --max-latency-us on the median one-way latency, per size or for all; \
        --min-busbw on the all-reduce bus bandwidth at 1 MiB; --baseline, a smoke --json file \
        from before, with compare's significance test: a figure fails only when its confidence \
        interval shows a change beyond --max-regression, so noise does not fail a build \
        (latency p50, bandwidth and busbw per size; the matrix is judged by its verdicts).

        Examples:
          fabricbench smoke --junit fabricbench-smoke.xml --json fabricbench-smoke.json
          fabricbench smoke --max-latency-us 50 --max-latency-us 32K:120 --min-busbw 0.5
          fabricbench smoke --baseline last-good.json --max-regression 10%
          fabricbench smoke --transport verbs --prom /var/lib/node_exporter/textfile/fabricbench-smoke.prom
          fabricbench smoke --np 2 --matrix-np 4 --out smoke-results/
        """)

    @Option(name: .customLong("np"), help: "Ranks for the latency, bandwidth and all-reduce checks.")
    var ranks: Int = 2

    @Option(name: .customLong("matrix-np"), help: "Ranks of the matrix check (at least 3, so a bad rank stands out against the others).")
    var matrixRanks: Int = 3

    @Option(help: ArgumentHelp(TransportChoice.help))
    var transport: TransportChoice = .auto

    @Option(help: "Seconds any blocking step of a check may wait before failing with the peer's name.")
    var timeout: Double = 30

    @Option(name: .customLong("max-latency-us"), help: ArgumentHelp("Fail when the median one-way latency exceeds US microseconds: SIZE:US for one size (e.g. 8:50, 32K:120), US for every size without its own; repeatable.", valueName: "[size:]us"))
    var maxLatency: [String] = []

    @Option(name: .customLong("min-busbw"), help: ArgumentHelp("Fail when an all-reduce check's bus bandwidth at 1 MiB is below this many GB/s (e.g. --min-busbw 0.5).", valueName: "GB/s"))
    var minBusbw: Double?

    @Option(help: ArgumentHelp("A smoke --json file from an earlier run: fail on a significant regression against it (e.g. --baseline last-good.json).", valueName: "smoke.json"))
    var baseline: String?

    @Option(name: .customLong("max-regression"), help: ArgumentHelp("With --baseline: the largest change that may pass, as 10% or 0.1 (e.g. --max-regression 5%).", valueName: "fraction"))
    var maxRegression: String = "10%"

    @Option(help: ArgumentHelp("Write the suite's verdict and every check's result document as JSON (e.g. --json smoke.json; a later --baseline).", valueName: "path"))
    var json: String?

    @Option(help: ArgumentHelp("Write a JUnit XML report: one suite per check, one case per size and gate (e.g. --junit fabricbench-smoke.xml).", valueName: "path"))
    var junit: String?

    @Option(help: ArgumentHelp("Write Prometheus metrics for node_exporter's textfile collector, replaced atomically (e.g. --prom /var/lib/node_exporter/textfile/smoke.prom).", valueName: "path"))
    var prom: String?

    @Option(help: ArgumentHelp("Keep each check's result files (JSON, output) in this folder (default: a new folder under $TMPDIR, printed at the end).", valueName: "folder"))
    var out: String?

    func validate() throws {
        try FlagBounds.check(ranks, "--np", 2...64)
        try FlagBounds.check(matrixRanks, "--matrix-np", 3...64)
        try FlagBounds.check(timeout, "--timeout", FlagBounds.seconds, unit: " seconds")
        try FlagBounds.check(minBusbw, "--min-busbw", 0...1_000_000, unit: " GB/s")
        _ = try latencyCeilings()
        guard let r = SmokeSuite.fraction(maxRegression), r.isFinite, r > 0, r < 10 else {
            throw ValidationError("--max-regression '\(maxRegression)' is not a fraction: give e.g. 10% or 0.1 (above 0, below 1000%)")
        }
        if baseline == nil && maxRegression != "10%" { throw ValidationError("--max-regression needs --baseline OLD.json") }
        if let baseline { _ = try Self.loadBaseline(baseline) }
        try OutputPath.check(json, "--json")
        try OutputPath.check(junit, "--junit")
        try OutputPath.check(prom, "--prom")
    }

    /// --max-latency-us as size → ceiling; the nil key holds for every size.
    func latencyCeilings() throws -> [Int?: Double] {
        var out: [Int?: Double] = [:]
        for text in maxLatency {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            let size: Int? = parts.count == 2 ? try? ByteCount.parse(parts[0]) : nil
            guard parts.count <= 2, parts.count == 1 || size != nil, let us = Double(parts.last!), us.isFinite, us > 0, us <= 1e9 else {
                throw ValidationError("--max-latency-us '\(text)' is not [SIZE:]MICROSECONDS (e.g. 50 or 8:50 or 32K:120)")
            }
            guard out[size] == nil else { throw ValidationError("--max-latency-us gives \(size.map { ByteCount.format($0) } ?? "the all-sizes ceiling") twice") }
            out[size] = us
        }
        return out
    }

    /// A smoke --json file's runs, by check; every refusal names the file (exit 2).
    static func loadBaseline(_ path: String) throws -> [String: AnyRunDocument] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("--baseline \(path): cannot read the file") }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], object["command"] as? String == "smoke",
              let runs = object["runs"] as? [String: Any] else {
            throw ValidationError("--baseline \(path) is not a smoke result: pass a file written by 'fabricbench smoke --json'")
        }
        var out: [String: AnyRunDocument] = [:]
        for (name, run) in runs {
            do {
                let raw = try JSONSerialization.data(withJSONObject: run)
                out[name] = try AnyRunDocument.decode(raw, name: "\(path)#\(name)", shapes: FabricBench.resultShapes)
            } catch let error as ReportError {
                throw ValidationError("--baseline \(error.singleLine)")
            }
        }
        return out
    }

    func run() throws {
        if let spec = try LaunchEnvironment.detect(ManualLaunch(rank: nil, worldSize: nil, master: nil, jobToken: nil), environment: ProcessInfo.processInfo.environment) {
            throw FabricError.configuration("smoke runs its own local ranks, but this process was started by \(spec.launcher.rawValue): run it once per host, outside the launcher")
        }
        var thresholds = SmokeReport.Thresholds()
        thresholds.minBusbw = minBusbw
        thresholds.maxLatencyUs = try latencyCeilings()
        thresholds.maxRegression = SmokeSuite.fraction(maxRegression)!
        if let baseline {
            thresholds.baseline = try Self.loadBaseline(baseline)
            thresholds.baselineName = (baseline as NSString).lastPathComponent
        }
        let folder = try outputFolder()
        let common = ["--transport", transport.rawValue, "--timeout", "\(timeout)"]
        var verdicts: [SmokeReport.Verdict] = []
        var runs: [String: Any] = [:]
        let began = Date()
        print("# fabricbench smoke \(FabricBenchVersion.description): \(SmokeSuite.checks(ranks: ranks, matrixRanks: matrixRanks).count) checks; each check's files in \(folder.path)")
        for check in SmokeSuite.checks(ranks: ranks, matrixRanks: matrixRanks) {
            let jsonFile = folder.appendingPathComponent("\(check.name).json")
            try? FileManager.default.removeItem(at: jsonFile)  // never judge a stale file
            let arguments = check.arguments + common + ["--json", jsonFile.path]
            print("# \(check.name): fabricbench \(arguments.joined(separator: " "))")
            fflush(nil)
            let outcome = try SmokeSuite.run(arguments, outputFolder: folder, name: check.name)
            print(outcome.output, terminator: outcome.output.hasSuffix("\n") || outcome.output.isEmpty ? "" : "\n")
            let message = outcome.errors.split(whereSeparator: \.isNewline).last { $0.hasPrefix("fabricbench: error:") }
                .map { String($0.dropFirst("fabricbench: error: ".count)) }
            var document: AnyRunDocument?
            if FileManager.default.fileExists(atPath: jsonFile.path) {
                document = try? AnyRunDocument.read(jsonFile.path, shapes: FabricBench.resultShapes)
                runs[check.name] = (try? Data(contentsOf: jsonFile)).flatMap { try? JSONSerialization.jsonObject(with: $0) }
            }
            let run = SmokeReport.CheckRun(name: check.name, what: check.what, argv: ["fabricbench"] + arguments, exitStatus: outcome.exitStatus,
                                           seconds: outcome.seconds, document: document, message: message)
            let verdict = SmokeReport.judge(run, thresholds)
            verdicts.append(verdict)
            print(SmokeReport.line(verdict))
            fflush(nil)
            try write(verdicts, runs: runs, finished: false)
            // Bad input (an unusable --transport, say) is the same for every check: stop here.
            if outcome.exitStatus == 2 && document == nil {
                try write(verdicts, runs: runs, finished: true)
                throw FabricError.configuration("smoke check \(check.name): \(message ?? "exited with status 2")")
            }
        }
        try write(verdicts, runs: runs, finished: true)
        let failed = verdicts.filter { !$0.passed }
        print(String(format: "# smoke: %d checks, %d passed, %d failed in %.1f s", verdicts.count, verdicts.count - failed.count, failed.count, Date().timeIntervalSince(began)))
        for path in [json, junit, prom].compactMap({ $0 }) { print("# results written to \(path)") }
        if !failed.isEmpty {
            throw RankFailure(description: "smoke failed: " + failed.map { "\($0.check.name) (\($0.failures.first ?? "failed"))" }.joined(separator: "; "), code: 1)
        }
    }

    private func outputFolder() throws -> URL {
        let url = out.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("fabricbench-smoke-\(getpid())-\(Int(Date().timeIntervalSince1970))")
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw FabricError.configuration("--out \(url.path): cannot create the folder: \(error.localizedDescription)")
        }
        return url
    }

    /// Rewritten after every check, so a suite cut short keeps what it measured.
    private func write(_ verdicts: [SmokeReport.Verdict], runs: [String: Any], finished: Bool) throws {
        let properties = [("fabricbench_version", FabricBenchVersion.current), ("fabricbench_commit", FabricBenchVersion.commit),
                          ("host", ProcessInfo.processInfo.hostName), ("transport", transport.rawValue)]
        if let json {
            let document: [String: Any] = [
                "schema_version": currentSchemaVersion,
                "command": "smoke",
                "status": finished ? "complete" : "running",
                "passed": verdicts.allSatisfy(\.passed),
                "argv": RecordedArguments.redacted(CommandLine.arguments),
                "environment": Dictionary(uniqueKeysWithValues: properties),
                "checks": verdicts.map { v -> [String: Any] in
                    ["name": v.check.name, "passed": v.passed, "failures": v.failures, "seconds": v.check.seconds,
                     "exit_status": Int(v.check.exitStatus), "argv": v.check.argv]
                },
                "runs": runs,
            ]
            let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
            try JSONReport.writeAtomically(data, to: json, flag: "--json")
        }
        if let junit { try JSONReport.writeAtomically(Data(SmokeReport.junit(verdicts, properties: properties).utf8), to: junit, flag: "--junit") }
        if let prom { try JSONReport.writeAtomically(Data(SmokeReport.prom(verdicts).utf8), to: prom, flag: "--prom") }
    }
}
