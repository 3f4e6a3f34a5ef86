import XCTest
@testable import FabricMeasure

final class HistogramEncodingTests: XCTestCase {
    func testRoundTripPreservesEveryBucket() throws {
        var h = LatencyHistogram()
        for v in [1, 2, 999, 1_000, 5_000, 5_000, 77_777, 123_456_789, 599_999_999_999] as [UInt64] { h.record(nanoseconds: v) }
        for i in 0..<10_000 { h.record(nanoseconds: UInt64(3_000 + i % 700)) }
        let decoded = try HistogramEncoding.decode(HistogramEncoding.encode(h))
        XCTAssertEqual(decoded.count, h.count)
        XCTAssertEqual(decoded.recordedBuckets.map(\.count), h.recordedBuckets.map(\.count))
        XCTAssertEqual(decoded.recordedBuckets.map(\.value), h.recordedBuckets.map(\.value))
        // The encoding keeps buckets, not exact values: percentiles agree to the bucket.
        for p in [0.0, 50, 99, 99.9, 100] {
            XCTAssertTrue(h.storage.valuesAreEquivalent(decoded.value(atPercentile: p), h.value(atPercentile: p)), "p\(p)")
        }
    }

    func testStartsWithTheStandardCompressedCookie() {
        var h = LatencyHistogram()
        h.record(nanoseconds: 1000)
        XCTAssertTrue(HistogramEncoding.encode(h).hasPrefix("HISTFAAA"))
    }

    /// Encoded by Python's hdrh package (HdrHistogram(1, 600e9, 3) with 1000, 2000, 5000,
    /// 5000 and 123456789 recorded): an independent implementation of the format.
    func testDecodesAnotherImplementationsEncoding() throws {
        let fromPython = "HISTFAAAAC54nJNpmSzMwMDAywABzFCaEYi7N50sYLD/ABE4z890lp9poQjL+5eMTAC4XQlP"
        let h = try HistogramEncoding.decode(fromPython)
        XCTAssertEqual(h.count, 5)
        XCTAssertTrue(h.storage.valuesAreEquivalent(h.value(atPercentile: 0), 1000))
        XCTAssertTrue(h.storage.valuesAreEquivalent(h.value(atPercentile: 50), 5000))
        XCTAssertEqual(h.recordedBuckets.map(\.count), [1, 1, 2, 1])
        XCTAssertTrue(h.storage.valuesAreEquivalent(h.value(atPercentile: 100), 123_456_789))
    }

    func testRejectsMalformedInput() {
        XCTAssertThrowsError(try HistogramEncoding.decode("not base64!")) { XCTAssertTrue("\($0)".contains("base64")) }
        XCTAssertThrowsError(try HistogramEncoding.decode(Data([1, 2, 3, 4, 0, 0, 0, 1, 9]).base64EncodedString())) {
            XCTAssertTrue("\($0)".contains("cookie"))
        }
        var h = LatencyHistogram()
        h.record(nanoseconds: 42)
        let good = Data(base64Encoded: HistogramEncoding.encode(h))!
        XCTAssertThrowsError(try HistogramEncoding.decode(good.prefix(12).base64EncodedString()))
    }
}
