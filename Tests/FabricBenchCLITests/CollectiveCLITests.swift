import Foundation
import XCTest

final class CollectiveCLITests: XCTestCase {
    /// Rows of the table as nccl-tests' parsers read them: 13 whitespace-separated fields.
    func rows(_ stdout: String) -> [[String]] {
        stdout.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            .map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
    }

    func testAllReduceTableParsesLikeNcclTestsAndTheJSONHasEveryField() throws {
        let dir = CLI.temporaryDirectory()
        let r = try CLI.run(["allreduce", "--np", "2", "-b", "8", "-e", "64K", "-f", "8", "-n", "5", "--json", "ar.json"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let table = rows(r.stdout)
        XCTAssertEqual(table.map { $0.count }, Array(repeating: 13, count: 5), r.stdout)
        XCTAssertEqual(table.map { Int($0[0]) }, [8, 64, 512, 4096, 32768])
        XCTAssertEqual(table.map { Int($0[1]) }, [2, 16, 128, 1024, 8192])
        for row in table {
            XCTAssertEqual(Array(row[2...4]), ["float", "sum", "-1"])
            XCTAssertEqual(row[8], "0")
            XCTAssertEqual(row[12], "0")
            for column in [5, 6, 7, 9, 10, 11] { XCTAssertNotNil(Double(row[column]), "\(row)") }
        }
        XCTAssertTrue(r.stdout.contains("# Out of bounds values : 0 OK"), r.stdout)
        XCTAssertTrue(r.stdout.contains("# Avg bus bandwidth    : "), r.stdout)
        XCTAssertTrue(r.stdout.contains("# algo auto: probed 5 size(s) in "), r.stdout)

        let doc = try CLI.json(dir.appendingPathComponent("ar.json"))
        XCTAssertEqual(doc["command"] as? String, "allreduce")
        let results = try XCTUnwrap(doc["results"] as? [[String: Any]])
        XCTAssertEqual(results.count, 10)  // 5 sizes x (out-of-place, in-place)
        for entry in results {
            for key in ["bytes", "count", "dtype", "op", "algo", "inplace", "time_us", "time_p50_us", "time_p99_us",
                        "algbw_gbps", "busbw_gbps", "wrong", "ranks", "algo_selection"] {
                XCTAssertNotNil(entry[key], key)
            }
            XCTAssertEqual((entry["ranks"] as? [Any])?.count, 2)
            XCTAssertTrue(["ring", "tree", "rd"].contains(entry["algo"] as? String ?? ""))
        }
        // auto's choice: every size of the sweep, each from its own probe (the sizes are 8x apart).
        let choice = try XCTUnwrap(doc["algorithm_choice"] as? [String: Any])
        XCTAssertEqual(choice["source"] as? String, "probe")
        let chosen = try XCTUnwrap(choice["sizes"] as? [[String: Any]])
        XCTAssertEqual(chosen.compactMap { $0["bytes"] as? Int }, [8, 64, 512, 4096, 32768])
        for (size, entry) in zip(chosen, results.filter { $0["inplace"] as? Bool == false }) {
            XCTAssertEqual(size["algo"] as? String, entry["algo"] as? String)
            XCTAssertTrue((entry["algo_selection"] as? String ?? "").hasPrefix("probed: "), "\(entry)")
        }
        let probed = try XCTUnwrap(choice["probed"] as? [[String: Any]])
        XCTAssertEqual(probed.count, 5)
        XCTAssertEqual((probed.first?["candidates"] as? [Any])?.count, 3)
        let stragglers = try XCTUnwrap(doc["stragglers"] as? [String: Any])
        XCTAssertNotNil(stragglers["summary"] as? String)
    }

    func testEveryCollectiveIsExactOnThreeRanks() throws {
        let cases: [[String]] = [
            ["allreduce", "--algo", "ring", "--dtype", "int64", "--op", "max"],
            ["allreduce", "--algo", "tree", "--dtype", "half", "--op", "prod"],
            ["reducescatter", "--dtype", "double", "--op", "min"],
            ["allgather", "--dtype", "int32"],
            ["broadcast", "--root", "2"],
        ]
        for extra in cases {
            let r = try CLI.run(extra + ["--np", "3", "-b", "1K", "-e", "16K", "-f", "4", "-n", "3", "-w", "1", "--chunk", "4K"])
            XCTAssertEqual(r.status, 0, "\(extra): \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("# Out of bounds values : 0 OK"), "\(extra): \(r.stdout)")
            XCTAssertEqual(rows(r.stdout).count, 3, "\(extra)")
        }
    }

    func testBarrierRunsInTheSameTable() throws {
        let r = try CLI.run(["barrier", "--np", "3", "-n", "50"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let table = rows(r.stdout)
        XCTAssertEqual(table.count, 1, r.stdout)
        XCTAssertEqual(table.first?.count, 13)
        XCTAssertEqual(table.first?[0], "0")
        XCTAssertGreaterThan(Double(table.first?[5] ?? "") ?? 0, 0, "barrier time")
    }

    func testCIGatesFailTheRun() throws {
        let floor = try CLI.run(["allreduce", "--np", "2", "-b", "4K", "-n", "3", "--min-busbw", "100000"])
        XCTAssertEqual(floor.status, 1)
        XCTAssertTrue(floor.stderr.contains("below --min-busbw"), floor.stderr)
        let ceiling = try CLI.run(["allreduce", "--np", "2", "-b", "4K", "-n", "3", "--max-time-us", "0.001"])
        XCTAssertEqual(ceiling.status, 1)
        XCTAssertTrue(ceiling.stderr.contains("above --max-time-us"), ceiling.stderr)
        let pass = try CLI.run(["allreduce", "--np", "2", "-b", "4K", "-n", "3", "--min-busbw", "0", "--max-time-us", "10000000"])
        XCTAssertEqual(pass.status, 0, pass.stderr)
    }

    func testALateRankIsNamedAsTheStraggler() throws {
        let dir = CLI.temporaryDirectory()
        // FABRICBENCH_HOST labels every rank's host (the --np ranks share it): the late rank is
        // named with it.
        let r = try CLI.run(["allreduce", "--np", "4", "-b", "64", "-n", "12", "-w", "2", "--algo", "ring",
                             "--inject-delay", "2:20000", "--json", "s.json"], environment: ["FABRICBENCH_HOST": "node-7"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let document = try CLI.json(dir.appendingPathComponent("s.json"))
        let report = try XCTUnwrap(document["stragglers"] as? [String: Any])
        XCTAssertEqual(report["flagged_ranks"] as? [Int], [2], "\(report)")
        XCTAssertEqual(report["flagged_hosts"] as? [String], ["node-7"], "\(report)")
        XCTAssertEqual(report["slowest_rank"] as? Int, 2)
        XCTAssertGreaterThan(report["slowest_late_us"] as? Double ?? 0, 10_000)
        // Named with its host and its NIC (over loopback TCP, lo).
        XCTAssertTrue(r.stdout.contains("straggler: rank 2 (host node-7 lo)"), r.stdout)
        XCTAssertEqual((document["environment"] as? [String: Any])?["rank_hosts"] as? [String], Array(repeating: "node-7", count: 4))
    }

    /// A rank 50 ms late to every call: back to back, every other rank waits for it inside
    /// the call, so the slowest rank's time holds the 50 ms; with --barrier every call starts
    /// after the late rank arrived, and the call itself is back to its own (sub-millisecond) time.
    func testBarrierStartsEveryCallTogether() throws {
        let dir = CLI.temporaryDirectory()
        var times: [Bool: Double] = [:]
        for barrier in [false, true] {
            let r = try CLI.run(["allreduce", "--np", "3", "-b", "64", "-n", "10", "-w", "1", "--algo", "ring", "--inject-delay", "1:50000",
                                 "--json", "b.json"] + (barrier ? ["--barrier"] : []), in: dir)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout.contains("every call started together at a barrier"), barrier, r.stdout)
            let document = try CLI.json(dir.appendingPathComponent("b.json"))
            XCTAssertEqual((document["arguments"] as? [String: String])?["barrier"], "\(barrier)")
            times[barrier] = ((document["results"] as? [[String: Any]])?.first?["time_us"] as? Double) ?? .nan
        }
        XCTAssertGreaterThan(times[false]!, 40_000, "back to back, the others wait for the late rank inside the call")
        XCTAssertLessThan(times[true]!, 25_000, "at a barrier, nobody waits inside the call: \(times)")
        for (arguments, says) in [(["allreduce", "--barrier", "-n", "60000"], "-n 60000 x 1 size x 2 placements is 120000"),
                                  (["barrier", "--barrier"], "the barrier collective needs none")] {
            let bad = try CLI.run(arguments, limit: 20)
            XCTAssertEqual(bad.status, 2, "\(arguments): \(bad.stderr)")
            XCTAssertTrue(bad.stderr.contains(says), "\(arguments): \(bad.stderr)")
            XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, "\(arguments): \(bad.stderr)")
        }
    }

    func testBadCollectiveInputExitsTwo() throws {
        for arguments in [["allreduce", "--algo", "bogus"], ["allreduce", "--dtype", "complex"], ["allreduce", "--op", "avg"],
                          ["broadcast", "--np", "2", "--root", "5"], ["allreduce", "--inplace", "--outofplace"],
                          ["allreduce", "-D", "1"], ["allgather", "--algo", "tree"]] {
            let r = try CLI.run(arguments, limit: 20)
            XCTAssertEqual(r.status, 2, "\(arguments): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(arguments): \(r.stderr)")
        }
    }
}
