import Foundation
import XCTest

/// Ranks `--np` starts are pinned to distinct cores by default (as mpirun binds them), a
/// `--cpus` list still decides when given, `--cpus none` leaves them unpinned; the JSON's
/// `environment.ranks` records the CPU and why.
final class PinningCLITests: XCTestCase {
    func ranks(_ extra: [String]) throws -> [[String: Any]] {
        let dir = CLI.temporaryDirectory()
        let r = try CLI.run(["allreduce", "--np", "2", "-b", "8", "-e", "8", "-n", "5", "-w", "1", "--json", "p.json"] + extra, in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let environment = try XCTUnwrap(try CLI.json(dir.appendingPathComponent("p.json"))["environment"] as? [String: Any])
        return try XCTUnwrap(environment["ranks"] as? [[String: Any]])
    }

    func testNpPinsLocalRanksToDistinctCoresByDefault() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.activeProcessorCount >= 2, "two distinct cores need a host with two")
        let ranks = try ranks([])
        let cpus = ranks.compactMap { $0["cpu"] as? Int }
        XCTAssertEqual(cpus.count, 2, "\(ranks)")
        XCTAssertEqual(Set(cpus).count, 2, "\(ranks)")
        for rank in ranks {
            XCTAssertTrue((rank["cpu_choice"] as? String)?.hasPrefix("--np default") ?? false, "\(rank)")
        }
    }

    func testAListStillDecides() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.activeProcessorCount >= 2, "CPUs 1 and 0 need a host with two")
        let ranks = try ranks(["--cpus", "1,0"])
        XCTAssertEqual(ranks.map { $0["cpu"] as? Int }, [1, 0])
        XCTAssertEqual(ranks.map { $0["cpu_choice"] as? String }, ["--cpus entry 1 of 2 (local rank 0 mod 2)", "--cpus entry 2 of 2 (local rank 1 mod 2)"])
    }

    func testCpusNoneLeavesRanksUnpinned() throws {
        let ranks = try ranks(["--cpus", "none"])
        XCTAssertEqual(ranks.count, 2)
        for rank in ranks {
            XCTAssertNil(rank["cpu"], "\(rank)")
            XCTAssertNil(rank["cpu_choice"], "\(rank)")
        }
    }

    func testBadCpusValuesExitTwoWithOneLine() throws {
        for value in ["a,b", "none,1", "", "70000", "0-3"] {
            let r = try CLI.run(["allreduce", "--np", "2", "--cpus", value], limit: 20)
            XCTAssertEqual(r.status, 2, "--cpus '\(value)': \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "--cpus '\(value)': \(r.stderr)")
            XCTAssertTrue(lines.first?.contains("--cpus") ?? false, "--cpus '\(value)': \(r.stderr)")
        }
    }
}
