import XCTest
import FabricMeasure
@testable import FabricReport
@testable import FabricResults

/// Documents that pass validation with every figure at a bound (0, the smallest double,
/// 1e15, sizes of 0 and 2^50 - 1, one sample, equal samples, no samples, one rank): compare,
/// its JSON, the text table and the HTML report are computed without a trap, a hang or a
/// number that is not one.
final class BoundaryValueTests: XCTestCase {
    static let figures: [Double] = [0, .leastNonzeroMagnitude, 1e-300, 1, 1e15]

    static func environment(world: Int) -> RunEnvironment {
        RunEnvironment(hostname: "h", kernel: "k", cpuModel: "cpu", cores: 0, clockSource: "c",
                       transport: TransportInfo(kind: "tcp", selection: "s", settings: [:]), launcher: "l", worldSize: world,
                       rankHosts: Array(repeating: "h", count: world), fabricbenchVersion: "0", libraries: [:])
    }

    static func histogram(_ samples: [UInt64]) -> String {
        var h = LatencyHistogram()
        for s in samples { h.record(nanoseconds: s) }
        return HistogramEncoding.encode(h)
    }

    /// No samples, one, equal ones, the extremes of the histogram's range.
    static let histograms = [histogram([]), histogram([1]), histogram(Array(repeating: 5_000, count: 50)),
                             histogram([0, LatencyHistogram.highestTrackableNanoseconds]), histogram(Array(1...40))]

    static func summary(_ v: Double) -> LatencySummary {
        var s = LatencySummary(LatencyHistogram())
        s.min = v; s.p50 = v; s.p90 = v; s.p99 = v; s.p999 = v; s.p9999 = v; s.max = v; s.mean = v; s.stdev = v; s.mad = v; s.cv = v
        return s
    }

    static func pointToPoint(_ command: String, figure v: Double, histogram: String) -> AnyRunDocument {
        var d = RunDocument<PointToPointResult>(command: command, arguments: [:], argv: [], environment: environment(world: 2))
        for bytes in [0, 1, AnyRunDocument.maximumBytes - 1] {
            var r = PointToPointResult(bytes: bytes, iterations: 0, warmupIterations: 0, pairs: [PairResult(ranks: [0, 1], hosts: ["h", "h"])])
            if command == "latency" {
                r.oneWayUs = summary(v)
                r.histogram = histogram
            } else {
                r.bandwidth = BandwidthFigures(gbps: v, messageRateMpps: v, bidirectional: false, window: 0, seconds: v,
                                               windowGbps: WindowSpread(min: v, p50: v, max: v))
                r.bandwidth?.windowHistogram = histogram
            }
            d.results.append(r)
        }
        return .pointToPoint(d)
    }

    static func collective(figure v: Double, histogram: String, world: Int) -> AnyRunDocument {
        var d = RunDocument<CollectiveResult>(command: "allreduce", arguments: [:], argv: [], environment: environment(world: world))
        for bytes in [0, AnyRunDocument.maximumBytes - 1] {
            for inplace in [false, true] {
                d.results.append(CollectiveResult(
                    bytes: bytes, count: bytes, dtype: "float", op: "sum", root: -1, algo: "ring", algoSelection: "", inplace: inplace,
                    iterations: 0, warmupIterations: 0, timeUs: v, timeP50Us: v, timeP99Us: v, algbwGbps: v, busbwGbps: v, wrong: 0,
                    mismatches: nil, histogram: histogram,
                    ranks: (0..<world).map { RankTiming(rank: $0, host: "h", meanUs: v, p50Us: v, p99Us: v, maxUs: v, lateUs: v) }))
            }
        }
        d.stragglers = StragglerReport(k: v, slowestRank: world - 1, slowestLateUs: v, slowestLateFraction: v, flaggedRanks: [],
                                       perRankLateUs: Array(repeating: v, count: world), perRankMedianUs: Array(repeating: v, count: world),
                                       spikes: [], spikeK: v, summary: "")
        return .collective(d)
    }

    static func matrix(figure v: Double, world: Int) -> AnyRunDocument {
        var d = RunDocument<LinkMatrixResult>(command: "matrix", arguments: [:], argv: [], environment: environment(world: world))
        var links: [PairResult] = []
        for a in 0..<world {
            for b in (a + 1)..<max(a + 1, world) {
                var link = PairResult(ranks: [a, b], hosts: ["h", "h"])
                link.oneWayUs = summary(v)
                link.bandwidth = BandwidthFigures(gbps: v, messageRateMpps: v, bidirectional: false, window: 0, seconds: v, windowGbps: nil)
                link.reverseBandwidth = link.bandwidth
                links.append(link)
            }
        }
        let verdicts = world > 1 ? [LinkVerdict(ranks: [0, 1], metric: "bandwidth_gbps", value: v, median: v, ratio: v, text: "t")] : []
        let suspects = world > 1 ? [Verdict(subject: .host, hosts: ["h"], ranks: [0], direction: .sends, metric: "bandwidth_gbps",
                                            betweenHosts: true, value: v, reference: v, text: "t")] : []
        d.results = [LinkMatrixResult(latencyBytes: 0, latencyIterations: 0, bandwidthBytes: AnyRunDocument.maximumBytes - 1, bandwidthMessages: 0,
                                      rounds: [], links: links, hosts: Array(repeating: "h", count: world), rule: "r", verdicts: verdicts,
                                      transient: verdicts, diagnosis: suspects, transientSuspects: suspects)]
        d.verdicts = suspects
        return .matrix(d)
    }

    func assertRenders(_ runs: [(path: String, document: AnyRunDocument)], _ what: String) {
        for run in runs { XCTAssertNoThrow(try run.document.validate(), "\(what): \(run.path)") }
        let html = HTMLReport.render(runs, title: what)
        XCTAssertTrue(html.hasSuffix("</html>\n"), what)
        for bad in ["nan", "inf"] { XCTAssertFalse(html.lowercased().contains(bad), "\(what): \(bad) in the HTML") }
        guard runs.count >= 2 else { return }
        do {
            var settings = RunComparison.Settings()
            settings.bootstrap.resamples = 50
            let c = try RunComparison.compare(runs, settings: settings)
            XCTAssertFalse(CompareTable.render(c).lowercased().contains("nan"), what)
            let json = String(decoding: try JSONReport.encoder().encode(c), as: UTF8.self)
            XCTAssertFalse(json.lowercased().contains("nan") || json.lowercased().contains("inf"), what)
        } catch {
            XCTAssertTrue(error is ReportError, "\(what): \(error)")  // matrices are not compared
        }
    }

    func testEveryFigureAtItsBoundsRendersAndCompares() {
        // Each figure with one histogram, and each histogram with one figure.
        let cases = Self.figures.indices.map { ($0, $0 % Self.histograms.count) } + Self.histograms.indices.map { (1, $0) }
        let next = { (i: Int) in Self.figures[(i + 1) % Self.figures.count] }
        for (i, j) in cases {
            let v = Self.figures[i], h = Self.histograms[j], what = "figure \(v), histogram \(j)"
            for command in ["latency", "bandwidth"] {
                let a = Self.pointToPoint(command, figure: v, histogram: h)
                // Against itself, and against the next bounds (a baseline of 0 against more: an infinite ratio).
                let b = Self.pointToPoint(command, figure: next(i), histogram: Self.histograms[(j + 1) % Self.histograms.count])
                assertRenders([("a.json", a), ("a.json", a)], "\(command) \(what)")
                assertRenders([("a.json", a), ("b.json", b)], "\(command) \(what) against the next")
            }
            for world in [1, 2, 3] {
                assertRenders([("a.json", Self.collective(figure: v, histogram: h, world: world)),
                               ("b.json", Self.collective(figure: next(i), histogram: h, world: world))], "allreduce world \(world) \(what)")
            }
        }
        for v in Self.figures {
            for world in [1, 2, 5] {
                assertRenders([("m.json", Self.matrix(figure: v, world: world)), ("n.json", Self.matrix(figure: v, world: world))], "matrix world \(world) figure \(v)")
            }
        }
    }

    func testABaselineOfZeroHasNoRatioInTheJSON() throws {
        let zero = Self.pointToPoint("bandwidth", figure: 0, histogram: Self.histograms[2])
        let some = Self.pointToPoint("bandwidth", figure: 1, histogram: Self.histograms[2])
        let c = try RunComparison.compare([("a.json", zero), ("b.json", some)])
        XCTAssertEqual(c.metrics.first?.ratio, .infinity)
        XCTAssertTrue(CompareTable.render(c).contains("∞"))
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONReport.encoder().encode(c)) as? [String: Any])
        let metric = try XCTUnwrap((object["metrics"] as? [[String: Any]])?.first)
        XCTAssertTrue(metric["ratio"] is NSNull, "\(metric)")
        XCTAssertEqual(metric["a"] as? Double, 0)
    }

    func testStatisticsOfTinySamplesAreFinite() {
        let samples = [WeightedSample(values: [], counts: []), WeightedSample(values: [7], counts: [1]), WeightedSample(values: [3], counts: [0]),
                       WeightedSample(values: [5, 5, 5], counts: [2, 0, 9]), WeightedSample(values: [0, 6e11], counts: [1 << 39, 1 << 39])]
        for a in samples {
            XCTAssertTrue(a.percentile(0).isFinite && a.percentile(100).isFinite && a.mean.isFinite && a.mad.isFinite)
            for b in samples {
                let intervals = RatioBootstrap(resamples: 50).intervals(baseline: a, candidate: b, statistics: [{ $0.percentile(50) }, { $0.mad }, { 1 / max($0.mean, 1) }])
                for interval in intervals.compactMap({ $0 }) { XCTAssertTrue(interval.low.isFinite && interval.high.isFinite, "\(a) \(b)") }
            }
        }
    }

    func testChartAxesAreTotal() {
        for log in [false, true] {
            let axis = Axis(label: "", log: log)
            for values in [[], [0], [.leastNonzeroMagnitude], [-1e308, 1e308], [.nan, .infinity], [1e15, 1e15], [-5, -5], [1e300, 1e-300]] as [[Double]] {
                let r = axis.range(values)
                // (A log axis with nothing positive to show spans 1...1, as it always did.)
                XCTAssertTrue(r.0.isFinite && r.1.isFinite && r.1 >= r.0, "\(log) \(values): \(r)")
                let ticks = axis.tickMarks(r, format: SVG.number)
                XCTAssertLessThanOrEqual(ticks.count, 64, "\(log) \(values)")
                for v in values + [r.0, r.1] { XCTAssertTrue(axis.position(v, r).isFinite, "\(log) \(values) \(v)") }
            }
        }
        XCTAssertEqual(SVG.integer(1e300), SVG.number(1e300))
        XCTAssertEqual(HTMLReport.sizeText(9.3e18), SVG.number(9.3e18))
        XCTAssertEqual(HTMLReport.sizeText(4096), "4K")
    }
}

/// The validation rules, one field at a time: each refusal names the JSON path.
final class ValidationTests: XCTestCase {
    func field(_ document: AnyRunDocument) -> String? {
        do { try document.validate(); return nil } catch { return error.field }
    }

    func testEachRuleNamesTheField() {
        let h = BoundaryValueTests.histograms[2]
        guard case .pointToPoint(let latency) = BoundaryValueTests.pointToPoint("latency", figure: 1, histogram: h),
              case .collective(let collective) = BoundaryValueTests.collective(figure: 1, histogram: h, world: 3),
              case .matrix(let matrix) = BoundaryValueTests.matrix(figure: 1, world: 3) else { return XCTFail() }
        XCTAssertNil(field(.pointToPoint(latency)))
        XCTAssertNil(field(.collective(collective)))
        XCTAssertNil(field(.matrix(matrix)))

        func p(_ change: (inout RunDocument<PointToPointResult>) -> Void) -> String? { var d = latency; change(&d); return field(.pointToPoint(d)) }
        func c(_ change: (inout RunDocument<CollectiveResult>) -> Void) -> String? { var d = collective; change(&d); return field(.collective(d)) }
        func m(_ change: (inout RunDocument<LinkMatrixResult>) -> Void) -> String? { var d = matrix; change(&d); return field(.matrix(d)) }

        XCTAssertEqual(p { $0.schemaVersion = currentSchemaVersion + 1 }, "schema_version")
        XCTAssertEqual(p { $0.environment.worldSize = 0 }, "environment.world_size")
        XCTAssertEqual(p { $0.environment.worldSize = (1 << 20) + 1 }, "environment.world_size")
        XCTAssertEqual(p { $0.environment.rankHosts = ["h"] }, "environment.rank_hosts")
        XCTAssertEqual(p { $0.results[1].bytes = -1 }, "results[1].bytes")
        XCTAssertEqual(p { $0.results[1].bytes = 1 << 50 }, "results[1].bytes")
        XCTAssertEqual(p { $0.results[0].iterations = -1 }, "results[0].iterations")
        XCTAssertEqual(p { $0.results[2].oneWayUs?.p999 = .nan }, "results[2].one_way_us.p999")
        XCTAssertEqual(p { $0.results[2].oneWayUs?.p50 = .infinity }, "results[2].one_way_us.p50")
        XCTAssertEqual(p { $0.results[2].oneWayUs?.mad = -1 }, "results[2].one_way_us.mad")
        XCTAssertEqual(p { $0.results[2].oneWayUs?.max = 1.1e15 }, "results[2].one_way_us.max")
        XCTAssertEqual(p { $0.results[0].histogram = "HISTFAAA" }, "results[0].histogram")
        XCTAssertEqual(p { $0.results[0].pairs[0].ranks = [0, 2] }, "results[0].pairs[0].ranks[1]")
        XCTAssertEqual(p { $0.results[0].pairs[0].ranks = [1, 1] }, "results[0].pairs[0].ranks")
        XCTAssertEqual(p { $0.results[0].pairs[0].ranks = [0] }, "results[0].pairs[0].ranks")
        XCTAssertEqual(p { $0.results[0].pairs[0].hosts = [] }, "results[0].pairs[0].hosts")

        XCTAssertEqual(c { $0.results[3].ranks[1].p50Us = -1 }, "results[3].ranks[1].p50_us")
        XCTAssertEqual(c { $0.results[3].ranks.removeLast() }, "results[3].ranks")
        XCTAssertEqual(c { $0.results[0].ranks[2].rank = 3 }, "results[0].ranks[2].rank")
        XCTAssertEqual(c { $0.results[0].root = 3 }, "results[0].root")
        XCTAssertEqual(c { $0.results[0].mismatches = [Mismatch(rank: 0, index: 0, expected: .nan, got: 1)] }, "results[0].mismatches[0].expected")
        XCTAssertEqual(c { $0.results[0].wrong = -1 }, "results[0].wrong")
        XCTAssertEqual(c { $0.stragglers?.perRankLateUs = [1] }, "stragglers.per_rank_late_us")
        XCTAssertEqual(c { $0.stragglers?.slowestRank = -1 }, "stragglers.slowest_rank")
        XCTAssertEqual(c { $0.stragglers?.spikes = [.init(bytes: 0, inplace: false, iteration: 0, timeUs: 1, medianUs: 1, lateRank: 9)] },
                       "stragglers.spikes[0].late_rank")

        XCTAssertEqual(m { $0.results[0].latencyP50Us[1] = [nil, nil] }, "results[0].latency_p50_us[1]")
        XCTAssertEqual(m { $0.results[0].bandwidthGbps.removeLast() }, "results[0].bandwidth_gbps")
        XCTAssertEqual(m { $0.results[0].latencyP999Us[0][1] = -.infinity }, "results[0].latency_p999_us[0][1]")
        XCTAssertEqual(m { $0.results[0].verdicts[0].ranks = [0, 5] }, "results[0].verdicts[0].ranks[1]")
        XCTAssertEqual(m { $0.results[0].rounds = [[[0, 1, 2]]] }, "results[0].rounds[0][0]")
        XCTAssertEqual(m { $0.results[0].links[2].ranks = [] }, "results[0].links[2].ranks")
        XCTAssertEqual(m { $0.outliers = [[0]] }, "outliers[0]")
        XCTAssertEqual(m { $0.results[0].bandwidthBytes = Int.max }, "results[0].bandwidth_bytes")
    }
}
