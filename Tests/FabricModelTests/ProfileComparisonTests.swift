import XCTest
@testable import FabricModel
import FabricResults

final class ProfileComparisonTests: XCTestCase {
    func prediction(_ algo: String, _ ranks: Int, mean: Double) -> Prediction {
        Prediction(algo: algo, bytes: 8, ranks: ranks, meanUs: mean, p50Us: mean, p99Us: 2 * mean, lowerUs: mean / 2, upperUs: 3 * mean,
                   alphaBetaUs: mean, synchronousUs: mean, amplification: 2, extrapolated: false)
    }

    func testTheFasterProfileAndWhereItChanges() {
        let a = [prediction("ring", 8, mean: 10), prediction("ring", 1024, mean: 100), prediction("ring", 1 << 20, mean: 1000),
                 prediction("tree", 8, mean: 10)]
        let b = [prediction("ring", 8, mean: 12), prediction("ring", 1024, mean: 100.5), prediction("ring", 1 << 20, mean: 500),
                 prediction("tree", 8, mean: 5)]
        let rows = ProfileComparison.compare(a, b)
        XCTAssertEqual(rows.map(\.faster), ["a", "tie", "b", "b"])
        XCTAssertEqual(rows[0].by, 1.2, accuracy: 1e-12)
        XCTAssertEqual(rows[2].by, 2, accuracy: 1e-12)
        let changes = ProfileComparison.crossovers(rows)
        XCTAssertEqual(changes.count, 1, "the tie is skipped; tree never changes")
        XCTAssertEqual(changes.first?.algo, "ring")
        XCTAssertEqual(changes.first?.ranks, 1 << 20)
        XCTAssertEqual([changes.first?.from, changes.first?.to], ["a", "b"])
        // A prediction the other profile lacks is not compared.
        XCTAssertEqual(ProfileComparison.compare(a, [b[0]]).count, 1)
    }
}
