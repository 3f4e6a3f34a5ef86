import XCTest
import FabricMeasure
@testable import FabricReport
@testable import FabricResults

final class ComparisonTests: XCTestCase {
    /// A latency run whose samples are lognormal-ish around `median` µs, from a seeded generator.
    func run(median: Double, seed: UInt64, sizes: [Int] = [8, 4096], kernel: String = "6.1", samples: Int = 5000) -> AnyRunDocument {
        let env = RunEnvironment(hostname: "h", kernel: kernel, cpuModel: "cpu", cores: 2, clockSource: "tsc",
                                 transport: TransportInfo(kind: "tcp", selection: "requested", settings: [:]),
                                 launcher: "flags", worldSize: 2, rankHosts: ["h", "h"], fabricbenchVersion: "1", libraries: [:])
        var d = RunDocument<PointToPointResult>(command: "latency", arguments: ["n": "\(samples)"], argv: [], environment: env)
        var rng = SplitMix64(seed: seed)
        for bytes in sizes {
            var h = LatencyHistogram()
            for _ in 0..<samples {
                // Sum of uniforms: a bell with a right tail of occasional 3× spikes.
                let u = (0..<4).map { _ in Double(rng.next() % 1000) / 1000 }.reduce(0, +) / 4
                let spike = rng.next() % 100 == 0 ? 3.0 : 1.0
                h.record(nanoseconds: UInt64(median * 1000 * (0.8 + 0.4 * u) * spike))
            }
            var r = PointToPointResult(bytes: bytes, iterations: samples, warmupIterations: 0, pairs: [])
            r.oneWayUs = LatencySummary(h)
            r.histogram = HistogramEncoding.encode(h)
            d.results.append(r)
        }
        d.status = .complete
        return .pointToPoint(d)
    }

    func metric(_ c: ComparisonDocument, _ name: String, _ bytes: Int) throws -> ComparedMetric {
        try XCTUnwrap(c.metrics.first { $0.name == name && $0.bytes == bytes })
    }

    func testAFasterRunIsSignificantlyBetterAndTheSameDistributionIsNot() throws {
        let slower = run(median: 10, seed: 1), faster = run(median: 7, seed: 2), again = run(median: 10, seed: 3)
        let differ = try RunComparison.compare([("a.json", slower), ("b.json", faster)])
        let p50 = try metric(differ, "latency_p50_us", 8)
        XCTAssertTrue(p50.significant)
        XCTAssertEqual(p50.better, "b")
        XCTAssertEqual(p50.ratio, 0.7, accuracy: 0.03)
        XCTAssertLessThan(try XCTUnwrap(p50.ratioHigh), 0.8)
        XCTAssertTrue(differ.verdicts.contains { $0.hasPrefix("latency p50: b.json better than a.json at 2 of 2 sizes") }, "\(differ.verdicts)")

        let same = try RunComparison.compare([("a.json", slower), ("c.json", again)])
        XCTAssertEqual(same.metrics.filter(\.significant).map { "\($0.name) \($0.bytes)" }, [])
        XCTAssertTrue(same.verdicts.contains { $0.hasPrefix("latency p50: no significant difference at any of 2 sizes") }, "\(same.verdicts)")
        // p99.9 needs 10 samples beyond it: 5,000 samples are too few, and it says so.
        let tail = try metric(same, "latency_p999_us", 8)
        XCTAssertNil(tail.ratioLow)
        XCTAssertEqual(tail.note, "too few samples (5000; needs 10000)")
        XCTAssertEqual(same.warnings, [])
    }

    func testIncompatibleRunsAreRefusedAndEnvironmentDifferencesWarned() throws {
        XCTAssertThrowsError(try RunComparison.compare([("a.json", run(median: 10, seed: 1)), ("b.json", run(median: 10, seed: 2, sizes: [8]))])) {
            XCTAssertEqual("\($0)", "a.json measured 2 sizes (8 to 4K) but b.json measured 1 size (8): compare runs over the same sizes (same -b, -e, -f)")
        }
        XCTAssertThrowsError(try RunComparison.compare([("a.json", run(median: 10, seed: 1))]))
        let other = run(median: 10, seed: 2, kernel: "6.8", samples: 4000)
        let c = try RunComparison.compare([("a.json", run(median: 10, seed: 1)), ("b.json", other)])
        XCTAssertEqual(c.warnings, ["kernel differs: a.json: 6.1; b.json: 6.8", "argument n differs: a.json: 5000; b.json: 4000"])
        let text = CompareTable.render(c)
        XCTAssertTrue(text.contains("# warning: kernel differs"), text)
        XCTAssertTrue(text.contains("# verdict: latency p50"), text)
    }

    func testBootstrapIntervalsCoverTheTrueRatio() {
        // Same distribution: the ratio interval of the median contains 1; ×2: contains 2.
        let a = WeightedSample(values: (1...100).map(Double.init), counts: [Int](repeating: 50, count: 100))
        let b = WeightedSample(values: (1...100).map { Double($0) * 2 }, counts: [Int](repeating: 50, count: 100))
        let bootstrap = RatioBootstrap(resamples: 200)
        let same = bootstrap.intervals(baseline: a, candidate: a, statistics: [{ $0.percentile(50) }])[0]!
        XCTAssertTrue(same.contains(1), "\(same)")
        let double = bootstrap.intervals(baseline: a, candidate: b, statistics: [{ $0.percentile(50) }, { $0.mean }])
        XCTAssertTrue(double[0]!.contains(2) && !double[0]!.contains(1), "\(double)")
        XCTAssertEqual(double[1]!.low, 2, accuracy: 0.1)
        XCTAssertEqual(a.percentile(50), 50)
        XCTAssertEqual(a.mean, 50.5)
        XCTAssertEqual(a.mad, 25)
    }
}

final class CSVTests: XCTestCase {
    func testFieldsAreQuotedOnlyWhenNeeded() {
        XCTAssertEqual(CSVReport.field("plain"), "plain")
        XCTAssertEqual(CSVReport.field("a,b"), "\"a,b\"")
        XCTAssertEqual(CSVReport.field("say \"hi\""), "\"say \"\"hi\"\"\"")
    }
}
