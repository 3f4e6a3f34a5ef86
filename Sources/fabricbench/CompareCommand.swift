import ArgumentParser
import FabricMeasure
import FabricReport
import FabricResults
import Foundation

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare result files of the same command side by side, with confidence intervals and a verdict per metric.",
        discussion: """
        The first file is the baseline (a); each other file (b) is compared with it, size by size: \
        latency percentiles and jitter (MAD), bandwidth, collective time and busbw. A difference is \
        significant when the bootstrap confidence interval of b/a, computed from the samples each \
        run recorded (latency histograms, bandwidth windows, per-iteration collective times), \
        excludes 1 and the ratio differs from 1 by at least --min-effect. Runs of different \
        commands or sizes are refused; differences of kernel, CPU, versions or arguments are \
        warned about.

        Examples:
          fabricbench compare nic-a.json nic-b.json
          fabricbench compare before.json after.json --min-effect 0.02 --json diff.json
        """)

    @Argument(help: ArgumentHelp("Result files written with --json; the first is the baseline.", valueName: "result.json"))
    var files: [String] = []

    @Option(help: "Write the comparison as JSON (with a `metrics` list) to this file.")
    var json: String?

    @Option(name: .customLong("min-effect"), help: "Smallest relative difference that can be significant (0.05 = 5%).")
    var minEffect: Double = 0.05

    @Option(help: "Bootstrap resamples per size.")
    var resamples: Int = 400

    @Option(help: "Confidence level of the intervals.")
    var confidence: Double = 0.95

    func validate() throws {
        guard files.count >= 2 else { throw ValidationError("compare needs at least two result files (got \(files.count)): fabricbench compare A.json B.json") }
        guard minEffect >= 0 && minEffect < 10 else { throw ValidationError("--min-effect is a fraction such as 0.05 (got \(minEffect))") }
        guard resamples >= 50 else { throw ValidationError("--resamples must be at least 50 (got \(resamples))") }
        guard confidence > 0.5 && confidence < 1 else { throw ValidationError("--confidence is between 0.5 and 1, e.g. 0.95 (got \(confidence))") }
    }

    func run() throws {
        let comparison: ComparisonDocument
        do {
            comparison = try compare()
        } catch let error as ReportError {
            throw RankFailure(description: error.singleLine, code: 2)  // unusable input files
        }
        print(CompareTable.render(comparison))
        for warning in comparison.warnings { FileHandle.standardError.write(Data("fabricbench compare: warning: \(warning)\n".utf8)) }
        if let json { try JSONReport.writeValue(comparison, to: json, flag: "--json") }
    }

    private func compare() throws -> ComparisonDocument {
        let runs = try files.map { (path: $0, document: try AnyRunDocument.read($0, shapes: FabricBench.resultShapes)) }
        var settings = RunComparison.Settings()
        settings.minEffect = minEffect
        settings.bootstrap.resamples = resamples
        settings.bootstrap.confidence = confidence
        return try RunComparison.compare(runs, settings: settings)
    }
}
