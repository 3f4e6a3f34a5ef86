import XCTest
@testable import FabricModel
import FabricMeasure

/// γ fitted to measured all-reduce times (`model lat.json ar.json`).
final class ReductionFitTests: XCTestCase {
    /// 10 µs latency, 10 GB/s; γ unknown (0 here).
    static let link = LinkCosts(latency: EmpiricalDistribution(values: [10], weights: [1]), beta: 1e-4, gamma: 0)

    /// Times made by the model itself with a known γ give that γ back, for every algorithm the
    /// model has (the tree's mean is not linear in γ: its pipeline takes a maximum), and the
    /// sizes below 64 KiB, where the reduction is lost in α, are left out.
    func testTimesMadeWithAKnownGammaGiveItBack() throws {
        for truth in [2e-5, 3e-4] {
            var made = Self.link
            made.gamma = truth
            let model = CollectiveModel(link: made)
            var measured: [MeasuredAllReduce] = []
            for (algorithm, ranks) in [(ModelAlgorithm.ring, 2), (.ring, 6), (.tree, 5), (.rd, 4), (.rd, 3)] {
                for bytes in [8, 4096, 65536, 1 << 20, 16 << 20] {
                    measured.append(MeasuredAllReduce(algorithm: algorithm, ranks: ranks, bytes: bytes,
                                                      meanUs: model.mean(algorithm, bytes: Double(bytes), ranks: ranks)))
                }
            }
            let fit = try ReductionFit.fit(measured, link: Self.link)
            XCTAssertEqual(fit.gamma, truth, accuracy: truth * 1e-6)
            XCTAssertEqual(fit.spread.lowerBound, truth, accuracy: truth * 1e-6, "every size agrees")
            XCTAssertEqual(fit.spread.upperBound, truth, accuracy: truth * 1e-6, "every size agrees")
            XCTAssertEqual(fit.sizes.count, 5 * 3)
            XCTAssertTrue(fit.sizes.allSatisfy { $0.bytes >= ReductionFit.smallestBytes })
        }
    }

    /// Noisy sizes: the median, not the mean, so one size slowed by a busy host does not move it.
    func testOneSlowSizeDoesNotMoveTheFit() throws {
        var made = Self.link
        made.gamma = 1e-4
        let model = CollectiveModel(link: made)
        var measured = [65536, 1 << 20, 4 << 20].map {
            MeasuredAllReduce(algorithm: .ring, ranks: 4, bytes: $0, meanUs: model.mean(.ring, bytes: Double($0), ranks: 4))
        }
        measured[1].meanUs *= 10
        let fit = try ReductionFit.fit(measured, link: Self.link)
        XCTAssertEqual(fit.gamma, 1e-4, accuracy: 1e-10)
        XCTAssertGreaterThan(fit.spread.upperBound, 1e-3, "the slow size's own value is reported in the spread")
    }

    /// A run faster than α and β alone allow (β overstated, say) fits γ = 0, not a negative
    /// speed; a run with no size large enough says what to run.
    func testFasterThanAlphaAndBetaIsZeroAndTooSmallSaysWhatToRun() throws {
        let model = CollectiveModel(link: Self.link)
        let fast = [1 << 20, 2 << 20].map {
            MeasuredAllReduce(algorithm: .rd, ranks: 2, bytes: $0, meanUs: model.mean(.rd, bytes: Double($0), ranks: 2) / 2)
        }
        XCTAssertEqual(try ReductionFit.fit(fast, link: Self.link).gamma, 0)
        let small = [MeasuredAllReduce(algorithm: .ring, ranks: 2, bytes: 4096, meanUs: 50)]
        XCTAssertThrowsError(try ReductionFit.fit(small, link: Self.link)) { error in
            XCTAssertTrue("\(error)".contains("-e 64K or more"), "\(error)")
        }
    }
}
