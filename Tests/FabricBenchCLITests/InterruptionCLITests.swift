import Foundation
import XCTest
import FabricReport
import FabricResults

/// Runs that end early, by a signal or a full disk: what was measured is kept, the file says
/// why it ends where it does, and no rank outlives its launcher.
final class InterruptionCLITests: XCTestCase {
    /// Processes whose parent is `pid`.
    static func children(of pid: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { child in
            guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid
        }
    }

    static func alive(_ pids: [pid_t]) -> [pid_t] { pids.filter { kill($0, 0) == 0 && !isZombie($0) } }

    static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }

    /// Starts a long --np sweep, waits until `json` holds a result and the ranks run.
    func startSweep(_ json: URL, in dir: URL) throws -> (started: (Process, URL, URL), ranks: [pid_t]) {
        let started = try CLI.start(["latency", "--np", "2", "-b", "8", "-e", "4M", "-f", "2", "-n", "3000", "--json", json.path], in: dir)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let d = try? CLI.json(json), let results = d["results"] as? [Any], !results.isEmpty { break }
            usleep(50_000)
        }
        return (started, Self.children(of: started.0.processIdentifier))
    }

    func testSIGINTKeepsTheMeasuredSizesAndMarksTheFileInterrupted() throws {
        let dir = CLI.temporaryDirectory()
        let json = dir.appendingPathComponent("int.json")
        let (started, ranks) = try startSweep(json, in: dir)
        XCTAssertEqual(ranks.count, 2, "the launcher's two ranks")
        kill(started.0.processIdentifier, SIGINT)
        let r = CLI.wait(started, limit: 10)
        XCTAssertEqual(r.status, 130, r.stderr)
        let d = try CLI.json(json)
        XCTAssertEqual(d["status"] as? String, "interrupted")
        XCTAssertEqual(d["error"] as? String, "interrupted by SIGINT", "the launcher passes the signal on")
        XCTAssertGreaterThan((d["results"] as? [Any])?.count ?? 0, 0)
        XCTAssertTrue(r.stderr.contains("measured result(s) kept in"), r.stderr)
        usleep(500_000)
        XCTAssertEqual(Self.alive(ranks), [], "no rank outlives the interrupted launcher")
    }

    func testRanksDieWithAKilledLauncher() throws {
        let dir = CLI.temporaryDirectory()
        let json = dir.appendingPathComponent("kill.json")
        let (started, ranks) = try startSweep(json, in: dir)
        XCTAssertEqual(ranks.count, 2)
        kill(started.0.processIdentifier, SIGKILL)
        _ = CLI.wait(started, limit: 5)
        let deadline = Date().addingTimeInterval(3)
        while !Self.alive(ranks).isEmpty && Date() < deadline { usleep(50_000) }
        XCTAssertEqual(Self.alive(ranks), [], "ranks still running 3 s after their launcher was killed")
        // Whatever rank 0 wrote last is whole.
        XCTAssertNotNil(try? CLI.json(json))
    }

    func testAFullDiskKeepsMeasuringAndLeavesAValidFileThatSaysSo() throws {
        try Requirement.check(getuid() == 0, "root (to mount a small tmpfs)")
        let dir = CLI.temporaryDirectory()
        let small = dir.appendingPathComponent("small")
        try FileManager.default.createDirectory(at: small, withIntermediateDirectories: true)
        let mount = try CLI.run(["-t", "tmpfs", "-o", "size=48k", "tmpfs", small.path], limit: 10, executable: "/usr/bin/mount")
        XCTAssertEqual(mount.status, 0, mount.stderr)
        defer { _ = try? CLI.run([small.path], limit: 10, executable: "/usr/bin/umount") }
        let json = small.appendingPathComponent("r.json")
        let r = try CLI.run(["latency", "--np", "2", "-b", "8", "-e", "1M", "-f", "2", "-n", "500", "--json", json.path], limit: 120)
        XCTAssertNotEqual(r.status, 0, "results that could not all be saved are a failure")
        // Every size was measured and printed, though the disk filled up on the way.
        let rows = r.stdout.split(separator: "\n").filter { Int($0.split(separator: " ").first ?? "") != nil }
        XCTAssertEqual(rows.count, 18, r.stdout)
        XCTAssertEqual(r.stderr.components(separatedBy: "measuring goes on").count - 1, 1, "one warning, not one per size: \(r.stderr)")
        let d = try CLI.json(json)
        XCTAssertEqual(d["status"] as? String, "failed")
        let error = d["error"] as? String ?? ""
        XCTAssertTrue(error.contains("could be saved") && error.contains("No space left"), error)
        let kept = (d["results"] as? [Any])?.count ?? 0
        XCTAssertGreaterThan(kept, 0)
        XCTAssertTrue(error.contains("only \(kept) of 18"), error)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: small.path), ["r.json"], "no temporary file left behind")
    }

    /// The old file stays until its replacement is renamed over it, so at the end of a run on a
    /// full disk the results of the last good write (with a longer error) may not fit beside
    /// it. The file must still end up saying "failed" and how many results it holds, with fewer
    /// results if need be, not stay "running". Result sizes are chosen so that it happens:
    /// a 5-page tmpfs; the file grows 1 page, 3 pages, then 5 pages (which cannot be written).
    func testAtTheEndOfAFullDiskTheFileSaysWhatItHoldsEvenWhenTheLastGoodOneLeavesNoRoom() throws {
        try Requirement.check(getuid() == 0, "root (to mount a small tmpfs)")
        let dir = CLI.temporaryDirectory()
        let small = dir.appendingPathComponent("small")
        try FileManager.default.createDirectory(at: small, withIntermediateDirectories: true)
        let mount = try CLI.run(["-t", "tmpfs", "-o", "size=20k", "tmpfs", small.path], limit: 10, executable: "/usr/bin/mount")
        XCTAssertEqual(mount.status, 0, mount.stderr)
        defer { _ = try? CLI.run([small.path], limit: 10, executable: "/usr/bin/umount") }
        let json = small.appendingPathComponent("r.json")
        let env = RunEnvironment(hostname: "h", kernel: "k", cpuModel: "cpu", cores: 2, clockSource: "c",
                                 transport: TransportInfo(kind: "tcp", selection: "requested", settings: [:]),
                                 launcher: "flags", worldSize: 2, rankHosts: ["h", "h"], fabricbenchVersion: "0", libraries: [:])
        let sink = try ReportSink(document: RunDocument<PointToPointResult>(command: "latency", arguments: [:], argv: [], environment: env),
                                  jsonPath: json.path, header: "", row: { _ in "" })
        func result(_ bytes: Int, padding: Int) -> PointToPointResult {
            var r = PointToPointResult(bytes: bytes, iterations: 1, warmupIterations: 0, pairs: [])
            r.histogram = String(repeating: "x", count: padding)
            return r
        }
        try sink.add([result(8, padding: 1_000)])
        try sink.add([result(16, padding: 8_000)])
        XCTAssertEqual((try CLI.json(json)["results"] as? [Any])?.count, 2, "the 3-page file fits beside the 1-page one")
        try sink.add([result(32, padding: 6_000)])  // warns, the run goes on
        XCTAssertThrowsError(try sink.complete())
        let d = try CLI.json(json)
        XCTAssertEqual(d["status"] as? String, "failed")
        let error = d["error"] as? String ?? ""
        XCTAssertEqual((d["results"] as? [Any])?.count, 1, error)
        XCTAssertTrue(error.contains("only 1 of 3") && error.contains("No space left"), error)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: small.path), ["r.json"], "no temporary file left behind")
    }
}
