import XCTest
import FabricMeasure
@testable import FabricReport
@testable import FabricResults

final class ReportTests: XCTestCase {
    func document() -> RunDocument<PointToPointResult> {
        let env = RunEnvironment(hostname: "h", kernel: "k", cpuModel: "cpu", cores: 2, clockSource: "CLOCK_MONOTONIC_RAW",
                                 transport: TransportInfo(kind: "tcp", selection: "requested", settings: ["busy_poll": "off"]),
                                 launcher: "flags", worldSize: 2, rankHosts: ["h", "h"], fabricbenchVersion: "0", libraries: [:])
        var d = RunDocument<PointToPointResult>(command: "latency", arguments: ["n": "10"], argv: ["fabricbench"], environment: env)
        var h = LatencyHistogram()
        for v in [5_000, 6_000, 7_000] as [UInt64] { h.record(nanoseconds: v) }
        var r = PointToPointResult(bytes: 8, iterations: 3, warmupIterations: 0, pairs: [])
        r.oneWayUs = LatencySummary(h)
        r.histogram = HistogramEncoding.encode(h)
        d.results = [r]
        return d
    }

    func testJSONUsesSnakeCaseAndRoundTrips() throws {
        let data = try JSONReport.encoder().encode(document())
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(object["schema_version"] as? Int, currentSchemaVersion)
        let results = try XCTUnwrap(object["results"] as? [[String: Any]])
        let oneWay = try XCTUnwrap(results[0]["one_way_us"] as? [String: Any])
        XCTAssertEqual(Set(oneWay.keys), ["count", "min", "p50", "p90", "p99", "p999", "p9999", "max", "mean", "stdev", "mad", "cv"])
        let back = try JSONReport.decoder().decode(RunDocument<PointToPointResult>.self, from: data)
        XCTAssertEqual(back.results[0].oneWayUs, document().results[0].oneWayUs)
    }

    func testWriteIsAtomicAndReportsUnwritablePaths() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fb-report-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("r.json").path
        try JSONReport.write(document(), to: path)
        try JSONReport.write(document(), to: path)  // replacing an existing file
        XCTAssertEqual(try JSONReport.read(path, as: PointToPointResult.self).command, "latency")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["r.json"])
        XCTAssertThrowsError(try JSONReport.write(document(), to: "/nonexistent-dir/x.json")) {
            XCTAssertTrue("\($0)".contains("/nonexistent-dir/x.json"))
        }
    }

    func testLatencyRowHasAValueUnderEveryColumn() {
        let d = document()
        let header = LatencyTable.header(d).split(separator: "\n").last!.split(separator: " ", omittingEmptySubsequences: true)
        let row = LatencyTable.row(d.results[0]).split(separator: " ", omittingEmptySubsequences: true)
        XCTAssertEqual(header.count, 14)  // two of the 12 column titles hold a space
        XCTAssertEqual(row.count, 12)
        XCTAssertEqual(row[0], "8")
        XCTAssertEqual(row[4], "6.00")  // t_typical = median
    }

    func testTerminalHistogramShowsEveryBinAndTheTail() {
        var h = LatencyHistogram()
        for _ in 0..<1000 { h.record(nanoseconds: 5_000) }
        h.record(nanoseconds: 500_000)
        let text = TerminalHistogram.render(h, bins: 10)
        let lines = text.split(separator: "\n")
        XCTAssertEqual(lines.count, 11)
        XCTAssertTrue(lines[1].hasSuffix(String(repeating: "#", count: 50)))  // the mode fills the width
        XCTAssertTrue(lines.last!.contains("#"))  // the lone spike is still drawn
    }
}
