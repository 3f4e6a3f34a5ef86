import XCTest
@testable import FabricReport
import FabricResults

final class ModelChartTests: XCTestCase {
    func prediction(_ algo: String, _ ranks: Int, _ mean: Double) -> Prediction {
        Prediction(algo: algo, bytes: 1024, ranks: ranks, meanUs: mean, p50Us: mean, p99Us: 2 * mean, lowerUs: mean / 2, upperUs: 3 * mean,
                   alphaBetaUs: mean / 1.5, synchronousUs: 2.5 * mean, amplification: 3, extrapolated: ranks > 1000)
    }

    /// Two profiles: a time chart and an amplification chart per size, a series per profile and
    /// algorithm; every string from the file is escaped.
    func testTimeAndAmplificationAgainstRanksPerAlgorithmAndProfile() {
        let inputs = ModelDocument.Inputs(files: ["<a.json>"], latencyBytes: 8, latencySamples: 100, alphaUs: 5, betaUsPerByte: 1e-4,
                                          betaSource: "<script>x</script>", gammaUsPerByte: 1e-5, ranksPerHost: 8, oversubscription: 2, delayAt: "sender",
                                          intra: .init(alphaUs: 1, betaUsPerByte: 1e-5, source: "s"))
        let a = [prediction("ring", 8, 10), prediction("ring", 1_000_000, 900), prediction("<i>tree</i>", 8, 12)]
        let b = [prediction("ring", 8, 11), prediction("ring", 1_000_000, 500)]
        let document = ModelDocument(inputs: inputs, profiles: [inputs, inputs], method: "m", predictions: a, predictionsB: b, comparison: nil)
        let html = HTMLReport.render([], models: [("dir/<p>.json", document)], title: "t")
        XCTAssertTrue(html.contains("data-chart=\"model-time-0-1024\""))
        XCTAssertTrue(html.contains("data-chart=\"model-amplification-0-1024\""))
        for name in ["A ring mean", "A ring p99", "B ring mean", "A &lt;i&gt;tree&lt;/i&gt; mean"] {
            XCTAssertTrue(html.contains(">\(name)</text>"), name)
        }
        XCTAssertTrue(html.contains(">1M<"), "rank ticks in K and M")
        XCTAssertFalse(html.contains("<script>x"), "strings from the file are escaped")
        XCTAssertFalse(html.contains("<i>tree"))
        XCTAssertFalse(html.contains("<p>.json"))
        XCTAssertTrue(html.contains("8 ranks a host"))
        XCTAssertTrue(html.contains("delay holds its sender"))
    }
}
