import XCTest
@testable import FabricMeasure

final class StatisticsTests: XCTestCase {
    func testSummaryOfAKnownDistribution() {
        var h = LatencyHistogram()
        for us in 1...1000 { h.record(nanoseconds: UInt64(us) * 1000) }  // 1..1000 µs uniform
        let s = LatencySummary(h)
        XCTAssertEqual(s.count, 1000)
        XCTAssertEqual(s.min, 1, accuracy: 0.01)
        XCTAssertEqual(s.max, 1000, accuracy: 1)
        XCTAssertEqual(s.p50, 500, accuracy: 1)
        XCTAssertEqual(s.p99, 990, accuracy: 1)
        XCTAssertEqual(s.mean, 500.5, accuracy: 0.5)
        XCTAssertEqual(s.stdev, 288.7, accuracy: 1)
        XCTAssertEqual(s.mad, 250, accuracy: 2)  // half the values lie within 250 of the median
        XCTAssertEqual(s.cv, s.stdev / s.mean, accuracy: 1e-9)
    }

    func testSummaryFiguresAreHdrHistogramsOwn() {
        // The one-walk summary must give the library's figures (percentiles, mean, population stdev).
        var generator = SystemRandomNumberGenerator()
        var h = LatencyHistogram()
        for _ in 0..<5_000 { h.record(nanoseconds: UInt64.random(in: 800...2_000_000, using: &generator)) }
        for _ in 0..<20 { h.record(nanoseconds: 90_000_000) }
        let s = LatencySummary(h)
        XCTAssertEqual(s.mean, h.storage.mean / 1000, accuracy: 1e-9 * s.mean)
        XCTAssertEqual(s.stdev, h.storage.stdDeviation / 1000, accuracy: 1e-9 * s.stdev)
        let us = 1.0 / 1000
        let percentiles = [s.p50, s.p90, s.p99, s.p999, s.p9999, s.max]
        let library = [50, 90, 99, 99.9, 99.99].map { Double(h.storage.valueAtPercentile($0)) * us } + [Double(h.storage.max) * us]
        XCTAssertEqual(percentiles, library)
        for n in [1, 2, 3, 7, 100] {  // small counts: rank rounding at the edges
            var small = LatencyHistogram()
            for i in 0..<n { small.record(nanoseconds: UInt64(1_000 + 37 * i * i)) }
            let t = LatencySummary(small)
            XCTAssertEqual([t.min, t.p50, t.p90, t.p99], [0, 50, 90, 99].map { Double(small.storage.valueAtPercentile($0)) * us }, "\(n) samples")
        }
        let empty = LatencySummary(LatencyHistogram())
        XCTAssertEqual([empty.p50, empty.p99, empty.mean, empty.stdev, empty.mad], [0, 0, 0, 0, 0])
    }

    func testMADIgnoresARareSpikeWhereStdevDoesNot() {
        var steady = LatencyHistogram(), spiky = LatencyHistogram()
        for i in 0..<10_000 { let v = UInt64(5_000 + (i % 10) * 10); steady.record(nanoseconds: v); spiky.record(nanoseconds: v) }
        for _ in 0..<5 { spiky.record(nanoseconds: 5_000_000) }
        let a = LatencySummary(steady), b = LatencySummary(spiky)
        XCTAssertEqual(a.mad, b.mad, accuracy: 0.011)
        XCTAssertGreaterThan(b.stdev, 10 * a.stdev)
        XCTAssertGreaterThan(b.max, 4000)
    }

    func testValuesAboveTheRangeAreClampedAndCounted() {
        var h = LatencyHistogram()
        h.record(nanoseconds: LatencyHistogram.highestTrackableNanoseconds * 2)
        XCTAssertEqual(h.count, 1)
        XCTAssertEqual(h.clampedCount, 1)
    }

    func testMergeAddsCounts() {
        var a = LatencyHistogram(), b = LatencyHistogram()
        for _ in 0..<3 { a.record(nanoseconds: 1_000) }
        for _ in 0..<7 { b.record(nanoseconds: 9_000) }
        a.add(b)
        XCTAssertEqual(a.count, 10)
        XCTAssertEqual(a.value(atPercentile: 30), 1_000)
        XCTAssertTrue(a.storage.valuesAreEquivalent(a.value(atPercentile: 31), 9_000))
    }

    func testByteCountParsing() throws {
        XCTAssertEqual(try ByteCount.parse("8"), 8)
        XCTAssertEqual(try ByteCount.parse("4K"), 4096)
        XCTAssertEqual(try ByteCount.parse("1m"), 1 << 20)
        XCTAssertEqual(try ByteCount.parse("1G"), 1 << 30)
        for bad in ["", "K", "-1", "1.5K", "12Q", "99999999999999999999G"] {
            XCTAssertThrowsError(try ByteCount.parse(bad), bad)
        }
        XCTAssertEqual(ByteCount.format(4096), "4K")
        XCTAssertEqual(ByteCount.format(1000), "1000")
    }

    func testSizeSweep() throws {
        XCTAssertEqual(try SizeSweep(min: 8, max: 1 << 20, factor: 4).sizes, [8, 32, 128, 512, 2048, 8192, 32768, 131072, 524288])
        XCTAssertEqual(try SizeSweep(min: 64, max: 64, factor: 2).sizes, [64])
        XCTAssertThrowsError(try SizeSweep(min: 1024, max: 8, factor: 2))
        XCTAssertThrowsError(try SizeSweep(min: 8, max: 1024, factor: 1))
    }

    func testTSCCalibrationAgreesWithTheMonotonicClock() {
        guard Clock.tscIsInvariant else {
            // No invariant TSC: `auto` must fall back to CLOCK_MONOTONIC_RAW.
            XCTAssertEqual(Clock.make(nil).source, .monotonicRaw)
            return
        }
        let tsc = Clock.calibratedTSC()
        let t0 = tsc.now(), m0 = monotonicNanoseconds()
        usleep(50_000)
        let elapsedTSC = Double(tsc.nanoseconds(tsc.now() &- t0)), elapsedMono = Double(monotonicNanoseconds() - m0)
        XCTAssertEqual(elapsedTSC / elapsedMono, 1, accuracy: 0.02)
    }

    func testOutlierRuleFlagsOnlyTheBadSideBeyondBothMargins() {
        let rule = OutlierRule(k: 5, minimumRatio: 1.5)
        // Latency: one link 4× the others is flagged with its ratio; a fast link is not.
        let latency = [10, 10.5, 9.8, 40, 10.2, 2.0]
        let flags = rule.flag(latency, higherIsWorse: true)
        XCTAssertEqual(flags.map(\.index), [3])
        XCTAssertEqual(flags[0].ratio, 40 / 10.1, accuracy: 1e-9)
        // Bandwidth: a link at a hundredth is flagged although a linear k·MAD could not reach it.
        XCTAssertEqual(rule.flag([3.2, 0.03, 3.9, 2.5, 3.6, 1.9], higherIsWorse: false).map(\.index), [1])
        // Uniform fabric: MAD ≈ 0, and noise below the ratio floor is not an outlier.
        XCTAssertEqual(rule.flag([10, 10, 10, 10, 13], higherIsWorse: true), [])
        XCTAssertEqual(rule.flag([10, 10, 10, 10, 16], higherIsWorse: true).map(\.index), [4])
        // Too few links to have a majority, or values that are not ratios.
        XCTAssertEqual(rule.flag([1, 100], higherIsWorse: true), [])
        XCTAssertEqual(rule.flag([1, 0, 1, 1], higherIsWorse: false), [])
        XCTAssertEqual(RobustStatistics.median([3, 1, 2, 10]), 2.5)
        XCTAssertEqual(RobustStatistics.mad([1, 2, 3, 4, 100]), 1)
    }
}

/// The median is found by selection; it must equal the sorted definition on any input.
final class MedianSelectionTests: XCTestCase {
    func testSelectionMedianEqualsSortedMedian() {
        var rng = SplitMix64(seed: 42)
        for trial in 0..<2000 {
            let count = 1 + trial % 37
            // Few distinct values in half the trials: ties are where partitions go wrong.
            let values = (0..<count).map { _ in trial % 2 == 0 ? Double(Int.random(in: 0..<4, using: &rng)) : Double.random(in: -1e6..<1e6, using: &rng) }
            let s = values.sorted()
            let expected = s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
            XCTAssertEqual(RobustStatistics.median(values), expected, "\(values)")
        }
        XCTAssertEqual(RobustStatistics.median([]), 0)
    }
}
