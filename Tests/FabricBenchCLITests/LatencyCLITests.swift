import FabricMeasure
import Foundation
import XCTest

final class LatencyCLITests: XCTestCase {
    func results(_ document: [String: Any]) throws -> [[String: Any]] {
        try XCTUnwrap(document["results"] as? [[String: Any]])
    }

    func testTwoLocalRanksWriteTheDocumentedJSON() throws {
        let dir = CLI.temporaryDirectory()
        let r = try CLI.run(["latency", "--np", "2", "-b", "8", "-e", "1K", "-f", "4", "-n", "200", "--json", "out.json"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("t_typical[usec]") && r.stdout.contains("99.9% percentile[usec]"), r.stdout)
        let doc = try CLI.json(dir.appendingPathComponent("out.json"))
        XCTAssertEqual(doc["schema_version"] as? Int, 5)
        // Each rank's placement: host, local rank, the NIC it used and why.
        let ranks = try XCTUnwrap((doc["environment"] as? [String: Any])?["ranks"] as? [[String: Any]])
        XCTAssertEqual(ranks.map { $0["rank"] as? Int }, [0, 1])
        XCTAssertEqual(ranks.map { $0["local_rank"] as? Int }, [0, 1])
        XCTAssertEqual(ranks.map { $0["nic"] as? String }, ["lo", "lo"], "loopback TCP: the interface that owns 127.0.0.1")
        XCTAssertTrue(ranks.allSatisfy { ($0["address"] as? String)?.hasPrefix("127.0.0.1:") == true }, "\(ranks)")
        XCTAssertEqual(doc["command"] as? String, "latency")
        XCTAssertEqual(doc["status"] as? String, "complete")
        let arguments = try XCTUnwrap(doc["arguments"] as? [String: String])
        XCTAssertEqual(arguments["n"], "200")
        XCTAssertEqual(arguments["e"], "1024")
        let env = try XCTUnwrap(doc["environment"] as? [String: Any])
        for key in ["hostname", "kernel", "cpu_model", "cores", "clock_source", "transport", "fabricbench_version", "libraries"] {
            XCTAssertNotNil(env[key], "environment.\(key)")
        }
        let transport = try XCTUnwrap(env["transport"] as? [String: Any])
        XCTAssertEqual(transport["kind"] as? String, "tcp")
        XCTAssertTrue((transport["selection"] as? String ?? "").hasPrefix("auto chose"))
        let rows = try results(doc)
        XCTAssertEqual(rows.map { $0["bytes"] as? Int }, [8, 32, 128, 512])
        for row in rows {
            XCTAssertEqual(row["iterations"] as? Int, 200)
            let oneWay = try XCTUnwrap(row["one_way_us"] as? [String: Double])
            for key in ["min", "p50", "p90", "p99", "p999", "p9999", "max", "mean", "stdev"] { XCTAssertNotNil(oneWay[key], key) }
            XCTAssertGreaterThan(oneWay["p50"]!, 0)
            XCTAssertLessThanOrEqual(oneWay["min"]!, oneWay["p50"]!)
            XCTAssertLessThanOrEqual(oneWay["p50"]!, oneWay["max"]!)
            let histogram = try HistogramEncoding.decode(try XCTUnwrap(row["histogram"] as? String))
            XCTAssertEqual(histogram.count, 200)
        }
    }

    func testFourRanksMeasureTwoPairsAndMergeThem() throws {
        let dir = CLI.temporaryDirectory()
        let r = try CLI.run(["latency", "--np", "4", "-b", "64", "-n", "100", "--json", "out.json"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let row = try XCTUnwrap(results(try CLI.json(dir.appendingPathComponent("out.json"))).first)
        let pairs = try XCTUnwrap(row["pairs"] as? [[String: Any]])
        XCTAssertEqual(pairs.map { $0["ranks"] as? [Int] }, [[0, 2], [1, 3]])
        XCTAssertEqual(try HistogramEncoding.decode(row["histogram"] as! String).count, 200)
        for pair in pairs { XCTAssertEqual(try HistogramEncoding.decode(pair["histogram"] as! String).count, 100) }
    }

    func testCheckVerifiesEveryEchoedByte() throws {
        let dir = CLI.temporaryDirectory()
        let r = try CLI.run(["latency", "--np", "2", "-b", "1", "-e", "256K", "-f", "8", "-n", "20", "-c", "1", "--json", "out.json"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = try results(try CLI.json(dir.appendingPathComponent("out.json")))
        XCTAssertEqual(rows.count, 7)
        XCTAssertEqual(rows.compactMap { $0["wrong_bytes"] as? Int }, Array(repeating: 0, count: 7))
    }

    func testDurationModeAndHistogramOutput() throws {
        let r = try CLI.run(["latency", "--np", "2", "-b", "8", "-n", "10", "-D", "0.5", "-w", "10", "--histogram"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("from[usec]") && r.stdout.contains("#"), r.stdout)
        // -D wins over -n: half a second of ping-pong is far more than 10 round trips, even on
        // a loaded host or under a sanitizer (a round trip would have to take 50 ms).
        let row = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("8 ") })
        let iterations = Int(row.split(separator: " ")[1]) ?? 0
        XCTAssertGreaterThan(iterations, 10, String(row))
    }

    func testBandwidthBothWays() throws {
        let dir = CLI.temporaryDirectory()
        for extra in [[], ["--bidir"]] {
            let r = try CLI.run(["bandwidth", "--np", "2", "-b", "64K", "-e", "1M", "-f", "4", "-n", "40", "--json", "bw.json"] + extra, in: dir)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("GB/s = 1e9 bytes/s"), r.stdout)
            let rows = try results(try CLI.json(dir.appendingPathComponent("bw.json")))
            XCTAssertEqual(rows.count, 3)
            for row in rows {
                let bw = try XCTUnwrap(row["bandwidth"] as? [String: Any])
                XCTAssertGreaterThan(bw["gbps"] as? Double ?? 0, 0)
                XCTAssertEqual(bw["bidirectional"] as? Bool, !extra.isEmpty)
            }
        }
    }

    func testCSVBesideJSONAndProgressOnlyOnATerminal() throws {
        let dir = CLI.temporaryDirectory()
        let csv = dir.appendingPathComponent("lat.csv")
        let r = try CLI.run(["latency", "--np", "4", "-b", "8", "-e", "512", "-f", "8", "-n", "100", "--csv", csv.path], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertTrue(lines[0].hasPrefix("bytes,pair,hosts,iterations,lat_min_us,lat_p50_us"), String(lines[0]))
        XCTAssertEqual(lines.count, 1 + 3 * 3, "per size: all pairs, pair 0-2, pair 1-3")
        let fields = lines[2].split(separator: ",", omittingEmptySubsequences: false)
        XCTAssertEqual(fields.count, 18)
        XCTAssertEqual(fields[0], "8")
        XCTAssertEqual(fields[1], "0-2")
        XCTAssertGreaterThan(Double(fields[5]) ?? 0, 0, "p50")
        // Not a terminal here: no progress line in the log.
        XCTAssertFalse(r.stderr.contains("ETA") || r.stderr.contains("done, now"), r.stderr)

        // Under a pseudo-terminal (script(1)), the progress line appears with the next size.
        let command = [CLI.binary, "latency", "--np", "2", "-b", "8", "-e", "1M", "-f", "4", "-n", "200"].joined(separator: " ")
        let tty = try CLI.run(["-qec", command, "/dev/null"], in: dir, executable: "/usr/bin/script")
        XCTAssertEqual(tty.status, 0, tty.stdout)
        XCTAssertTrue(tty.stdout.contains("# latency sizes: 1/9 done, now 32, ETA"), tty.stdout)
    }
}
