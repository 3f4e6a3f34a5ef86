import XCTest
@testable import FabricMeasure

final class JitterDistributionTests: XCTestCase {
    func testParsingRoundTripsAndRefusesNonsense() throws {
        for text in ["exp:500", "pareto:200:1.5", "uniform:100:900", "const:300", "const:0"] {
            XCTAssertEqual(try JitterDistribution(parsing: text).description, text)
        }
        for bad in ["", "exp", "exp:", "exp:0", "exp:-1", "exp:nan", "exp:inf", "pareto:200", "uniform:9:1", "gauss:1", "const:1:2", "exp:1e20"] {
            XCTAssertThrowsError(try JitterDistribution(parsing: bad), bad)
        }
    }

    /// Sample means against the closed forms (Pareto with alpha 3: mean s·a/(a−1), finite variance).
    func testDrawsHaveTheDistributionsMeans() throws {
        var rng = SplitMix64(seed: 4)
        let cases: [(String, Double)] = [("exp:500", 500), ("uniform:100:900", 500), ("const:300", 300), ("pareto:200:3", 300)]
        for (text, mean) in cases {
            let d = try JitterDistribution(parsing: text)
            let draws = (0..<200_000).map { _ in d.draw(&rng) }
            XCTAssertEqual(draws.reduce(0, +) / Double(draws.count), mean, accuracy: mean * 0.02, text)
            XCTAssertGreaterThanOrEqual(draws.min() ?? -1, 0, text)
        }
    }
}
