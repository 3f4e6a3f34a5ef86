import Foundation
import XCTest

/// `matrix`'s choice of links and hosts, over loopback.
final class MatrixCLITests: XCTestCase {
    func run(_ extra: [String], environment: [String: String] = [:]) throws -> (status: Int32, document: [String: Any]?, stderr: String) {
        let dir = CLI.temporaryDirectory()
        let r = try CLI.run(["matrix", "--np", "4", "-n", "50", "--bw-size", "4K", "--bw-messages", "8", "--json", "m.json"] + extra,
                            environment: environment, limit: 90, in: dir)
        let path = dir.appendingPathComponent("m.json")
        return (r.status, FileManager.default.fileExists(atPath: path.path) ? try CLI.json(path) : nil, r.stderr)
    }

    func links(_ document: [String: Any]?) -> [[Int]] {
        ((document?["results"] as? [[String: Any]])?.first?["links"] as? [[String: Any]] ?? []).compactMap { $0["ranks"] as? [Int] }
    }

    func testLinksAndRanksChooseWhatIsMeasured() throws {
        var r = try run(["--links", "0-1,3-2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(links(r.document), [[0, 1], [2, 3]])
        let result = try XCTUnwrap((r.document?["results"] as? [[String: Any]])?.first)
        XCTAssertEqual(result["rounds"] as? [[[Int]]], [[[0, 1], [2, 3]]], "disjoint pairs share a round")
        let bandwidth = try XCTUnwrap(result["bandwidth_gbps"] as? [[Any]])
        XCTAssertTrue(bandwidth[0][2] is NSNull, "a link not measured stays empty")
        XCTAssertTrue(bandwidth[3][2] is Double && bandwidth[2][3] is Double, "both directions of a measured link")

        r = try run(["--ranks", "3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(links(r.document), [[0, 3], [1, 3], [2, 3]])

        // A link list in a file, comments and blank lines allowed.
        let file = CLI.temporaryDirectory().appendingPathComponent("links.txt")
        try "# to check again\n1 2\n\n0-3\n".write(to: file, atomically: true, encoding: .utf8)
        r = try run(["--links", file.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(links(r.document), [[0, 3], [1, 2]])
    }

    func testAMatrixFileChoosesItsSuspectsLinks() throws {
        // A matrix document whose diagnosis names rank 1's host: --links re-measures rank 1's links.
        let dir = CLI.temporaryDirectory()
        let first = try run([])
        XCTAssertEqual(first.status, 0, first.stderr)
        var document = try XCTUnwrap(first.document)
        document["verdicts"] = [["subject": "host", "hosts": ["h1"], "ranks": [1], "direction": "sends", "metric": "bandwidth_gbps",
                                 "between_hosts": true, "value": 0.1, "reference": 1.0, "ratio": 0.1, "text": "host h1: its sends are slow"]]
        document["outliers"] = [[2, 3]]
        let path = dir.appendingPathComponent("previous.json")
        try JSONSerialization.data(withJSONObject: document).write(to: path)
        let r = try run(["--links", path.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(links(r.document), [[0, 1], [1, 2], [1, 3], [2, 3]])
    }

    func testBadLinkChoicesAndHostLabelsExitTwoWithOneLine() throws {
        let garbage = CLI.temporaryDirectory().appendingPathComponent("garbage.json")
        try "{ \"schema_version\": 3, \"command\": \"latency\" }".write(to: garbage, atomically: true, encoding: .utf8)
        for (extra, says) in [(["--links", "0-0"], "two different ranks"), (["--links", "0-9"], "outside the world of 4 ranks"),
                              (["--links", "a-b"], "is not a link"), (["--ranks", "x"], "--ranks 'x'"),
                              (["--links", "0-1", "--ranks", "2"], "give one"), (["--links", garbage.path], "--links"),
                              (["--host-label", "two words"], "--host-label 'two words' is not a host label")] {
            let r = try run(extra)
            XCTAssertEqual(r.status, 2, "\(extra): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(says), "\(extra): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").filter { !$0.hasPrefix("#") }.count, 1, "\(extra): \(r.stderr)")
        }
        let r = try run([], environment: ["FABRICBENCH_HOST": ""])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("FABRICBENCH_HOST '' is not a host label"), r.stderr)
    }
}
