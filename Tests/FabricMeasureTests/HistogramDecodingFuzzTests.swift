import Foundation
import XCTest
@testable import FabricMeasure

/// The histogram decoder reads what peers and result files hand it: every input either
/// decodes to a histogram within the limits or throws a DecodeError. A trap would kill this
/// process, so reaching the end of a test is the proof.
final class HistogramDecodingFuzzTests: XCTestCase {
    static func zigZag(_ values: [Int64]) -> [UInt8] {
        var out: [UInt8] = []
        for v in values { HistogramEncoding.appendZigZag(v, to: &out) }
        return out
    }

    static func peakResidentKiB() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return usage.ru_maxrss
    }

    func testCraftedInputsAreRefusedNotTrapped() {
        let crafted: [(String, String)] = [
            ("a zero run of Int64.min", HistogramEncoding.wrap(payload: Self.zigZag([.min]))),
            ("a zero run of 2^62 buckets", HistogramEncoding.wrap(payload: Self.zigZag([-(1 << 62), 1]))),
            ("more counts than buckets", HistogramEncoding.wrap(payload: Self.zigZag(Array(repeating: 1, count: HistogramEncoding.bucketCount + 1)))),
            ("a count of Int64.max", HistogramEncoding.wrap(payload: Self.zigZag([.max]))),
            ("counts that sum past the cap", HistogramEncoding.wrap(payload: Self.zigZag([1 << 39, 1 << 39, 1 << 39]))),
            ("a payload longer than declared", HistogramEncoding.wrap(payload: [0xff, 0xff, 0xff])),
            ("another shape", HistogramEncoding.wrap(payload: Self.zigZag([1]), digits: 5)),
            ("samples that add up past 2^64 ns (HdrHistogram's iterators would trap)",
             HistogramEncoding.wrap(payload: Self.zigZag([-Int64(HistogramEncoding.bucketCount - 2), 1 << 39]))),
            ("not base64", "HISTF@@@"),
            ("empty", ""),
        ]
        for (what, text) in crafted {
            XCTAssertThrowsError(try HistogramEncoding.decode(text), what) { error in
                XCTAssertTrue(error is HistogramEncoding.DecodeError, "\(what): \(error)")
            }
        }
        // A decompression bomb: 32 MiB of zeros inflate from a few KiB; refused without inflating it all.
        var bomb = [UInt8](repeating: 0, count: 40)
        bomb += [UInt8](repeating: 0, count: 32 << 20)
        XCTAssertThrowsError(try HistogramEncoding.decode(HistogramEncoding.wrap(payload: bomb)))
        // At the cap it still decodes, and its summary is finite.
        let atCap = try? HistogramEncoding.decode(HistogramEncoding.wrap(payload: Self.zigZag([-1000, 1 << 39, 1 << 39])))
        XCTAssertEqual(atCap?.count, 1 << 40)
        XCTAssertTrue(atCap.map { LatencySummary($0).mean.isFinite } ?? false)
    }

    /// Seeded mutations of real encodings: flips, overwrites, cuts and splices, on the bytes
    /// under the base64 and on the inflated payload re-wrapped (so zlib does not reject them
    /// all up front). FABRICBENCH_FUZZ_ITERATIONS sets the count (scripts/fuzz.sh runs 1e6).
    func testMutatedEncodingsDecodeOrThrow() throws {
        let iterations = Int(ProcessInfo.processInfo.environment["FABRICBENCH_FUZZ_ITERATIONS"] ?? "") ?? 1_000
        var rng = SplitMix64(seed: 0xF00D)
        var seeds: [LatencyHistogram] = []
        for shape in 0..<4 {
            var h = LatencyHistogram()
            for i in 0..<(200 * (shape + 1)) { h.record(nanoseconds: UInt64(1 + (i * 7919 + shape * 104_729) % (1 << (10 + 8 * shape)))) }
            seeds.append(h)
        }
        let encodings = seeds.map { [UInt8](Data(base64Encoded: HistogramEncoding.encode($0))!) }
        let payloads = seeds.map { h -> [UInt8] in
            var counts: [Int64] = []
            for step in h.storage.allValues() { counts.append(Int64(step.count)) }
            while counts.last == 0 { counts.removeLast() }
            return Self.zigZag(counts)
        }
        var decoded = 0, refused = 0
        // No input may make the decoder allocate much: the peak resident size may grow by less
        // than 64 MiB over the whole run (the caps bound one decode to a few MiB).
        let peakBefore = Self.peakResidentKiB()
        let started = Date()
        for i in 0..<iterations {
            var bytes = i % 2 == 0 ? encodings[i % encodings.count] : payloads[i % payloads.count]
            for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<5, using: &rng) {
                case 0: bytes[at] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
                case 1: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                case 2: bytes.removeSubrange(at...)
                case 3: bytes.insert(contentsOf: (0..<Int.random(in: 1...16, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: at)
                default: bytes[at] = [0x00, 0x7f, 0x80, 0xff][Int.random(in: 0..<4, using: &rng)]
                }
            }
            let text = i % 2 == 0 ? Data(bytes).base64EncodedString() : HistogramEncoding.wrap(payload: bytes)
            do {
                let h = try HistogramEncoding.decode(text)
                XCTAssertLessThanOrEqual(h.count, HistogramEncoding.maximumTotalCount)
                _ = LatencySummary(h)
                decoded += 1
            } catch is HistogramEncoding.DecodeError {
                refused += 1
            }
        }
        XCTAssertEqual(decoded + refused, iterations)
        let grownMiB = Double(Self.peakResidentKiB() - peakBefore) / 1024
        print(String(format: "histogram fuzz: %d inputs in %.0f s: %d decoded, %d refused, 0 crashes; peak resident memory grew %.1f MiB",
                     iterations, Date().timeIntervalSince(started), decoded, refused, grownMiB))
        XCTAssertLessThan(grownMiB, 64, "decoding mutated histograms must never need 64 MiB")
        XCTAssertGreaterThan(decoded, 0, "some mutations of the counts must still decode, or the fuzzer tests nothing past the header")
    }
}
