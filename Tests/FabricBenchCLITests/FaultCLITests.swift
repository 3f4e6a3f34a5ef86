import Foundation
import XCTest

/// Ranks that stop answering or vanish mid-run, the way failing nodes do: the others fail
/// in bounded time naming the rank, and what was measured stays on disk.
final class FaultCLITests: XCTestCase {
    /// Three ranks started by hand on one store; returns them once `json` holds a result.
    func startJob(_ command: [String], ranks: Int, json: URL, timeout: Int) throws -> [(Process, URL, URL)] {
        let port = CLI.freePort()
        let dir = CLI.temporaryDirectory()
        let common = command + ["--world-size", "\(ranks)", "--master", "127.0.0.1:\(port)", "--job-token", "fault-\(port)",
                                "--timeout", "\(timeout)", "--json", json.path]
        let started = try (0..<ranks).map { try CLI.start(common + ["--rank", "\($0)"], in: dir) }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let d = try? CLI.json(json), let results = d["results"] as? [Any], !results.isEmpty { break }
            usleep(50_000)
        }
        return started
    }

    func testAStoppedRankIsNamedWithinTheTimeout() throws {
        let json = CLI.temporaryDirectory().appendingPathComponent("stopped.json")
        let timeout = 4
        let ranks = try startJob(["allreduce", "--algo", "ring", "-b", "8", "-e", "16M", "-f", "2", "-n", "200", "-c", "0"], ranks: 3, json: json, timeout: timeout)
        // SIGSTOP: the process and its connections stay, it just never answers again.
        kill(ranks[1].0.processIdentifier, SIGSTOP)
        let stoppedAt = Date()
        let survivors = [ranks[0], ranks[2]].map { CLI.wait($0, limit: Double(timeout) + 30) }
        let took = Date().timeIntervalSince(stoppedAt)
        kill(ranks[1].0.processIdentifier, SIGKILL)
        _ = CLI.wait(ranks[1], limit: 5)
        for r in survivors { XCTAssertNotEqual(r.status, 0, r.stderr) }
        XCTAssertLessThan(took, Double(timeout) + 5, "the others must give up within --timeout + 5 s")
        XCTAssertTrue(survivors.contains { $0.stderr.contains("rank 1") }, survivors.map(\.stderr).joined())
        XCTAssertGreaterThan((try CLI.json(json)["results"] as? [Any])?.count ?? 0, 0, "the sizes measured before stay")
    }

    func testRankZeroKilledMidSweepEndsEveryRankAndKeepsTheFile() throws {
        let json = CLI.temporaryDirectory().appendingPathComponent("rank0.json")
        let ranks = try startJob(["latency", "-b", "8", "-e", "1M", "-f", "2", "-n", "3000"], ranks: 4, json: json, timeout: 60)
        let measured = (try CLI.json(json)["results"] as? [Any])?.count ?? 0
        XCTAssertGreaterThan(measured, 0)
        kill(ranks[0].0.processIdentifier, SIGKILL)
        let killedAt = Date()
        let others = ranks.dropFirst().map { CLI.wait($0, limit: 30) }
        XCTAssertLessThan(Date().timeIntervalSince(killedAt), 5, "every rank must exit within 5 s of rank 0's death")
        for r in others { XCTAssertNotEqual(r.status, 0, r.stderr) }
        _ = CLI.wait(ranks[0], limit: 5)
        let d = try CLI.json(json)
        XCTAssertGreaterThanOrEqual((d["results"] as? [Any])?.count ?? 0, measured, "the last good file keeps every completed size")
    }

    /// Ranks 1 and 3 measure each other while rank 0 and rank 2 do: when rank 0 (and with it
    /// the store) dies, 1 and 3 see nothing wrong on their own link. They must still stop at
    /// once, not when their 30-second size ends.
    func testRanksWhosePeerLivesStopWhenRankZeroDies() throws {
        let json = CLI.temporaryDirectory().appendingPathComponent("long.json")
        let port = CLI.freePort()
        let dir = CLI.temporaryDirectory()
        let common = ["latency", "-b", "8", "-D", "30", "--world-size", "4", "--master", "127.0.0.1:\(port)",
                      "--job-token", "lost-\(port)", "--timeout", "60", "--json", json.path]
        let ranks = try (0..<4).map { try CLI.start(common + ["--rank", "\($0)"], in: dir) }
        // The file appears once the job is set up; give the pairs a moment to be mid-size.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && !FileManager.default.fileExists(atPath: json.path) { usleep(50_000) }
        sleep(2)
        kill(ranks[0].0.processIdentifier, SIGKILL)
        let killedAt = Date()
        let others = ranks.dropFirst().map { CLI.wait($0, limit: 40) }
        XCTAssertLessThan(Date().timeIntervalSince(killedAt), 5, "every rank must stop within 5 s of rank 0's death, not when its size ends")
        for r in others { XCTAssertNotEqual(r.status, 0, r.stderr) }
        XCTAssertTrue(others.contains { $0.stderr.contains("rendezvous") && $0.stderr.contains("rank 0") }, others.map(\.stderr).joined())
        _ = CLI.wait(ranks[0], limit: 5)
    }
}
