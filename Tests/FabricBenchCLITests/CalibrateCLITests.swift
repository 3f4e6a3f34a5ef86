import Foundation
import XCTest

/// `calibrate` writes one profile that `model` reads, and `report` charts the model's output.
final class CalibrateCLITests: XCTestCase {
    func testCalibrateWritesOneProfileThatModelUsesAndReportCharts() throws {
        let dir = CLI.temporaryDirectory()
        var r = try CLI.run(["calibrate", "--np", "2", "-b", "8", "-e", "4K", "-f", "8", "-n", "300", "-w", "10",
                             "--bandwidth-bytes", "64K", "--bandwidth-iterations", "50", "--json", "profile.json"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("# intra: "), r.stdout)
        let document = try CLI.json(dir.appendingPathComponent("profile.json"))
        XCTAssertEqual(document["command"] as? String, "calibrate")
        XCTAssertEqual(document["status"] as? String, "complete")
        XCTAssertEqual(((document["environment"] as? [String: Any])?["ranks"] as? [Any])?.count, 2, "the environment block")
        let results = try XCTUnwrap(document["results"] as? [[String: Any]])
        XCTAssertEqual(results.count, 1, "one profile")
        let profile = results[0]
        XCTAssertEqual(profile["ranks_per_host"] as? Int, 2, "both local ranks on this host")
        XCTAssertEqual((profile["hosts"] as? [[String: Any]])?.first?["ranks"] as? [Int], [0, 1])
        let links = try XCTUnwrap(profile["links"] as? [[String: Any]])
        XCTAssertEqual(links.map { $0["level"] as? String }, ["intra"], "one host: only the intra-host link exists")
        let link = links[0]
        XCTAssertEqual(link["pairs"] as? [[Int]], [[0, 1]])
        let latency = try XCTUnwrap(link["latency"] as? [[String: Any]])
        XCTAssertEqual(latency.map { $0["bytes"] as? Int }, [8, 64, 512, 4096])
        XCTAssertTrue(latency.allSatisfy { ($0["histogram"] as? String)?.isEmpty == false }, "every size keeps its histogram")
        let bandwidth = try XCTUnwrap((link["bandwidth"] as? [[String: Any]])?.first?["bandwidth"] as? [String: Any])
        XCTAssertEqual(bandwidth["bidirectional"] as? Bool, true, "both ranks send at once")
        let perRank = try XCTUnwrap(link["per_rank_gbps"] as? Double)
        XCTAssertGreaterThan(perRank, 0)
        XCTAssertEqual(perRank, (bandwidth["gbps"] as? Double ?? 0) / 2, accuracy: perRank * 1e-9, "the total of both directions ÷ 2 sending ranks")
        let reduction = try XCTUnwrap(profile["reduction"] as? [[String: Any]])
        XCTAssertEqual(reduction.map { $0["dtype"] as? String }, ["float", "double", "half", "int32", "int64"])
        XCTAssertTrue(reduction.allSatisfy { ($0["us_per_byte"] as? Double ?? 0) > 0 }, "\(reduction)")

        // model takes the profile's figures: α from the smallest size, β from the bandwidth
        // with both ranks sending, γ from the --dtype's kernel.
        r = try CLI.run(["model", "profile.json", "--ranks", "4,8", "--algo", "ring,tree", "-b", "1M", "--dtype", "double",
                         "--ranks-per-host", "2", "--oversubscription", "3", "--json", "m.json"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("# two levels: 2 ranks a host"), r.stdout)
        let model = try CLI.json(dir.appendingPathComponent("m.json"))
        let inputs = try XCTUnwrap(model["inputs"] as? [String: Any])
        let mean8 = try XCTUnwrap((latency[0]["one_way_us"] as? [String: Any])?["mean"] as? Double)
        XCTAssertEqual(inputs["alpha_us"] as? Double ?? 0, mean8, accuracy: mean8 * 0.05, "α: the 8-byte histogram's mean")
        XCTAssertEqual(inputs["latency_samples"] as? Double, 300)
        XCTAssertEqual(inputs["beta_us_per_byte"] as? Double ?? 0, 1 / (perRank * 1000), accuracy: 1e-9 / perRank)
        XCTAssertEqual(inputs["gamma_us_per_byte"] as? Double, reduction[1]["us_per_byte"] as? Double, "γ of double")
        XCTAssertTrue((inputs["beta_source"] as? String)?.contains("calibrate intra") == true, "\(inputs)")
        XCTAssertEqual(inputs["ranks_per_host"] as? Int, 2)
        XCTAssertEqual(inputs["oversubscription"] as? Double, 3)
        XCTAssertNotNil(inputs["intra"], "a hierarchical model names its intra-host link")
        let predictions = try XCTUnwrap(model["predictions"] as? [[String: Any]])
        XCTAssertEqual(predictions.count, 4)
        // Oversubscription slows the all-reduce: the same profile flat and unoversubscribed is faster.
        r = try CLI.run(["model", "profile.json", "--ranks", "8", "--algo", "ring", "-b", "1M", "--dtype", "double", "--ranks-per-host", "2", "--json", "m1.json"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let plain = try XCTUnwrap((try CLI.json(dir.appendingPathComponent("m1.json"))["predictions"] as? [[String: Any]])?.first?["alpha_beta_us"] as? Double)
        let oversubscribed = try XCTUnwrap(predictions.first { $0["algo"] as? String == "ring" && $0["ranks"] as? Int == 8 }?["alpha_beta_us"] as? Double)
        XCTAssertGreaterThan(oversubscribed, plain)

        r = try CLI.run(["report", "m.json", "-o", "scale.html"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let html = try String(contentsOf: dir.appendingPathComponent("scale.html"), encoding: .utf8)
        for chart in ["model-time-0-1048576", "model-amplification-0-1048576"] {
            XCTAssertTrue(html.contains("data-chart=\"\(chart)\""), chart)
        }
        XCTAssertTrue(html.contains(">ring mean</text>") && html.contains(">tree p99</text>"), "a series per algorithm, mean and p99")

        // Bad input: one line, exit 2.
        for (arguments, says) in [(["model", "profile.json", "--ranks", "5", "--ranks-per-host", "2"], "not a multiple of --ranks-per-host 2"),
                                  (["model", "profile.json", "--dtype", "quad"], "--dtype 'quad'"),
                                  (["model", "profile.json", "--oversubscription", "0"], "--oversubscription")] {
            let bad = try CLI.run(arguments, in: dir)
            XCTAssertEqual(bad.status, 2, "\(arguments): \(bad.stderr)")
            XCTAssertTrue(bad.stderr.contains(says), "\(arguments): \(bad.stderr)")
            XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        }
    }

    /// --inject-jitter delays calibrate's latency sweep, not its bandwidth run: 5 ms before each
    /// send would hold 64 KiB messages to 0.013 GB/s.
    func testInjectedJitterDelaysTheLatencySweepOnly() throws {
        let dir = CLI.temporaryDirectory()
        let r = try CLI.run(["calibrate", "--np", "2", "-b", "8", "-n", "40", "-w", "2", "--inject-jitter", "const:5000",
                             "--bandwidth-bytes", "64K", "--bandwidth-iterations", "100", "--json", "p.json"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let link = try XCTUnwrap(((try CLI.json(dir.appendingPathComponent("p.json"))["results"] as? [[String: Any]])?.first?["links"] as? [[String: Any]])?.first)
        let latency = try XCTUnwrap((link["latency"] as? [[String: Any]])?.first?["one_way_us"] as? [String: Any])
        XCTAssertGreaterThanOrEqual(latency["min"] as? Double ?? 0, 5000, "every latency message waited 5 ms")
        XCTAssertGreaterThan(link["per_rank_gbps"] as? Double ?? 0, 0.05, "the bandwidth run was not delayed")
    }

    /// Four ranks started by hand, two labelled as each of two hosts: the intra-host pairs
    /// (within each host) and the inter-host pairs (host A's ranks with host B's) are measured
    /// apart, and model takes each link for its level.
    func testTwoHostsGiveIntraAndInterHostLinksApart() throws {
        let dir = CLI.temporaryDirectory()
        let master = "127.0.0.1:\(CLI.freePort())"
        let started = try (0..<4).map { rank in
            try CLI.start(["calibrate", "--rank", "\(rank)", "--world-size", "4", "--master", master, "--host-label", rank < 2 ? "hostA" : "hostB",
                           "-b", "8", "-n", "100", "-w", "5", "--bandwidth-bytes", "64K", "--bandwidth-iterations", "30", "--json", "two.json"], in: dir)
        }
        for (rank, process) in started.enumerated() {
            let r = CLI.wait(process, limit: 180)
            XCTAssertEqual(r.status, 0, "rank \(rank): \(r.stderr)")
        }
        let profile = try XCTUnwrap((try CLI.json(dir.appendingPathComponent("two.json"))["results"] as? [[String: Any]])?.first)
        XCTAssertEqual((profile["hosts"] as? [[String: Any]])?.map { $0["ranks"] as? [Int] }, [[0, 1], [2, 3]])
        XCTAssertEqual(profile["ranks_per_host"] as? Int, 2)
        let links = try XCTUnwrap(profile["links"] as? [[String: Any]])
        XCTAssertEqual(links.map { $0["level"] as? String }, ["intra", "inter"])
        XCTAssertEqual(links.map { $0["pairs"] as? [[Int]] }, [[[0, 1], [2, 3]], [[0, 2], [1, 3]]])
        let r = try CLI.run(["model", "two.json", "--ranks", "8", "--algo", "ring", "-b", "64K", "--ranks-per-host", "2", "--json", "m.json"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let inputs = try XCTUnwrap(try CLI.json(dir.appendingPathComponent("m.json"))["inputs"] as? [String: Any])
        let perRank = links.map { $0["per_rank_gbps"] as? Double ?? 0 }
        XCTAssertEqual(inputs["beta_us_per_byte"] as? Double ?? 0, 1 / (perRank[1] * 1000), accuracy: 1e-9 / perRank[1], "inter-host β from the inter link")
        XCTAssertEqual((inputs["intra"] as? [String: Any])?["beta_us_per_byte"] as? Double ?? 0, 1 / (perRank[0] * 1000), accuracy: 1e-9 / perRank[0],
                       "intra-host β from the intra link")
    }

    func testAModelFileWithABadFigureIsRefusedNamingTheField() throws {
        let dir = CLI.temporaryDirectory()
        let text = """
        {"command": "model", "method": "m", "inputs": {"files": ["x"], "latency_bytes": 8, "latency_samples": 10, "alpha_us": 1,
         "beta_us_per_byte": 0, "beta_source": "s", "gamma_us_per_byte": 0},
         "predictions": [{"algo": "ring", "bytes": 8, "ranks": 4, "mean_us": -1, "p50_us": 1, "p99_us": 1, "lower_us": 1, "upper_us": 1,
                          "alpha_beta_us": 1, "synchronous_us": 1, "amplification": 1, "extrapolated": false}]}
        """
        try text.write(to: dir.appendingPathComponent("bad.json"), atomically: true, encoding: .utf8)
        let r = try CLI.run(["report", "bad.json", "-o", "x.html"], in: dir)
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("bad.json: predictions[0].mean_us"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
    }
}
