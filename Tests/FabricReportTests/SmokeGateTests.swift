import XCTest
import FabricMeasure
@testable import FabricReport
@testable import FabricResults

/// smoke's gates on documents made here (`run` is ComparisonTests' seeded latency run), so
/// what fails a build and what does not is exact, whatever the machine's load.
extension ComparisonTests {
    func check(_ document: AnyRunDocument?, name: String = "latency", status: Int32 = 0) -> SmokeReport.CheckRun {
        SmokeReport.CheckRun(name: name, what: "", argv: ["fabricbench", "latency"], exitStatus: status, seconds: 1, document: document, message: "it broke")
    }

    func testSmokeBaselineFailsOnARealRegressionAndNeverOnNoise() throws {
        var t = SmokeReport.Thresholds()
        t.baseline = ["latency": run(median: 5, seed: 1)]
        t.baselineName = "old.json"
        t.maxRegression = 0.1

        // Twice as slow: a significant regression at both sizes, named with its figures.
        let slower = SmokeReport.judge(check(run(median: 10, seed: 2)), t)
        XCTAssertFalse(slower.passed)
        let regressed = slower.cases.filter { $0.name.hasSuffix("latency_p50_us vs baseline") && $0.failure != nil }
        XCTAssertEqual(regressed.map(\.name), ["latency 8 latency_p50_us vs baseline", "latency 4K latency_p50_us vs baseline"])
        XCTAssertTrue(regressed[0].failure!.hasPrefix("latency_p50_us regressed: "), regressed[0].failure!)
        XCTAssertTrue(regressed[0].failure!.hasSuffix("beyond --max-regression 10%"), regressed[0].failure!)
        XCTAssertTrue(regressed[0].properties.contains { $0 == ("significant", "yes") })

        // Another sample of the same distribution: no case fails.
        let same = SmokeReport.judge(check(run(median: 5, seed: 3)), t)
        XCTAssertTrue(same.passed, "\(same.failures)")
        XCTAssertEqual(same.cases.filter { $0.name.hasSuffix("vs baseline") }.count, 2)

        // 3% slower is real but below --max-regression 10%: it passes.
        XCTAssertTrue(SmokeReport.judge(check(run(median: 5.15, seed: 4)), t).passed)
        // Faster never fails.
        XCTAssertTrue(SmokeReport.judge(check(run(median: 3, seed: 5)), t).passed)

        // A baseline without this check, or over other sizes, fails with the reason.
        let missing = SmokeReport.judge(check(run(median: 5, seed: 3), name: "bandwidth"), t)
        XCTAssertEqual(missing.failures, ["bandwidth vs baseline: old.json has no bandwidth check to compare with"])
        t.baseline = ["latency": run(median: 5, seed: 1, sizes: [8])]
        let sizes = SmokeReport.judge(check(run(median: 5, seed: 3)), t)
        XCTAssertEqual(sizes.failures.count, 1)
        XCTAssertTrue(sizes.failures[0].contains("compare runs over the same sizes"), sizes.failures[0])
    }

    func testSmokeLatencyCeilingsPerSizeAndForEverySize() throws {
        var t = SmokeReport.Thresholds()
        t.maxLatencyUs = [8: 1, nil: 1000]
        let v = SmokeReport.judge(check(run(median: 5, seed: 1)), t)
        let gates = v.cases.filter { $0.name.contains("--max-latency-us") }
        XCTAssertEqual(gates.map(\.name), ["latency 8 --max-latency-us 1", "latency 4K --max-latency-us 1000"])
        XCTAssertNotNil(gates[0].failure)
        XCTAssertTrue(gates[0].failure!.hasSuffix("is above --max-latency-us 1.00"), gates[0].failure!)
        XCTAssertNil(gates[1].failure)
        XCTAssertEqual(v.failures.count, 1)
        XCTAssertTrue(SmokeReport.line(v).hasPrefix("FAIL latency "))
    }

    func testSmokeCheckThatWroteNoResultFailsWithTheChildsMessage() throws {
        let v = SmokeReport.judge(check(nil, status: 2), SmokeReport.Thresholds())
        XCTAssertEqual(v.failures, ["latency run: exited with status 2 before writing results: it broke"])
        // A complete document but a non-zero exit (a gate of the command itself) still fails.
        let w = SmokeReport.judge(check(run(median: 5, seed: 1), status: 1), SmokeReport.Thresholds())
        XCTAssertEqual(w.failures, ["latency run: exited with status 1: it broke"])
    }

    func testSmokeMatrixFailsOnBandwidthAndMedianVerdictsButNotOnTailOnes() throws {
        guard case .matrix(var d) = BoundaryValueTests.matrix(figure: 2, world: 3) else { return XCTFail("no matrix") }
        d.status = .complete
        // A bandwidth verdict (link 0-1, and its host): the link's case and the verdicts fail.
        let bandwidth = SmokeReport.judge(check(.matrix(d), name: "matrix"), SmokeReport.Thresholds())
        XCTAssertEqual(bandwidth.failures, ["link 0-1: flagged (confirmed by its re-test): bandwidth_gbps", "matrix verdicts: t"])
        // A median latency verdict fails alike.
        d.results[0].verdicts[0].metric = "latency_p50_us"
        d.results[0].diagnosis![0].metric = "latency_p50_us"
        XCTAssertEqual(SmokeReport.judge(check(.matrix(d), name: "matrix"), SmokeReport.Thresholds()).failures,
                       ["link 0-1: flagged (confirmed by its re-test): latency_p50_us", "matrix verdicts: t"])
        // Tail latency only: nothing fails, and the verdict is still in the report.
        d.results[0].verdicts[0].metric = "latency_p999_us"
        d.results[0].diagnosis![0].metric = "latency_p999_us"
        d.results[0].diagnosis![0].text = "rank 0 on host h: latency p99.9 is high"
        let tail = SmokeReport.judge(check(.matrix(d), name: "matrix"), SmokeReport.Thresholds())
        XCTAssertTrue(tail.passed, "\(tail.failures)")
        let verdicts = try XCTUnwrap(tail.cases.first { $0.name == "matrix verdicts" })
        XCTAssertTrue(verdicts.properties.contains { $0 == ("tail_verdicts_not_judged", "rank 0 on host h: latency p99.9 is high") }, "\(verdicts.properties)")
        XCTAssertTrue(verdicts.properties.contains { $0 == ("verdicts", "0") }, "\(verdicts.properties)")
    }

    func testJUnitAndPrometheusEscapeWhatAHostNameCanHold() throws {
        XCTAssertEqual(JUnitReport.xml("a<b>&\"'\u{1}\u{7}z\n"), "a&lt;b&gt;&amp;&quot;&apos;\u{FFFD}\u{FFFD}z&#10;")
        let text = PrometheusReport.render([
            PromSample("m", "help \\ with\nnewline", [("host", "a\"b\\c\nd")], 1.5),
            PromSample("m", "", [("host", "a\"b\\c\nd")], 2),  // the same series again: dropped
            PromSample("m", "", [("host", "x")], .infinity),
        ])
        XCTAssertEqual(text, """
            # HELP m help \\\\ with\\nnewline
            # TYPE m gauge
            m{host="a\\"b\\\\c\\nd"} 1.5
            m{host="x"} +Inf

            """)
    }
}
