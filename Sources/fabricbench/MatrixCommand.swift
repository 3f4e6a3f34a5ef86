import ArgumentParser
import FabricEngine
import FabricMeasure
import FabricReport
import FabricResults

struct MatrixCommand: MeasuringCommand {
    static let resultShape = AnyRunDocument.Shape.matrix
    static let configuration = CommandConfiguration(
        commandName: "matrix",
        abstract: "Latency and bandwidth of every pair of ranks, as N×N matrices, naming the outlier links.",
        discussion: """
        Pairs are measured in rounds of disjoint pairs (N−1 rounds for N ranks, so no rank is in \
        two measurements at once; --serial runs one pair at a time). Each pair runs a ping-pong \
        (--lat-size, -n iterations) and then a stream (--bw-size, --bw-messages). A link is an \
        outlier when one of its figures (latency p50, latency p99.9, bandwidth) is more than \
        --outlier-k robust standard deviations (1.4826·MAD of the logs: figures are ratios) from \
        the median link, and at least --outlier-ratio times worse than it. A flagged link is \
        measured again, alone, and stays an outlier only if flagged again (otherwise it is \
        reported as transient; --no-retest keeps the sweep's verdicts as they are). \
        With --fail-on-outlier the run exits 1 when any link is flagged, so a health check can \
        gate on it.

        Examples:
          fabricbench matrix --np 4
          mpirun -np 16 --map-by node fabricbench matrix --json links.json
          fabricbench matrix --np 6 --bw-size 4M --serial --fail-on-outlier
          fabricbench matrix --np 8 --outlier-k 3 --no-retest   # no re-test
        """)

    @OptionGroup var job: JobFlags

    @Option(name: .customLong("lat-size"), help: ArgumentHelp("Message size of the latency ping-pong.", valueName: "size"))
    var latencySize = ByteSize(8)

    @Option(name: .customShort("n"), help: "Latency iterations per link.")
    var iterations: Int = 1000

    @Option(name: .customLong("bw-size"), help: ArgumentHelp("Message size of the bandwidth stream.", valueName: "size"))
    var bandwidthSize = ByteSize(1 << 20)

    @Option(name: .customLong("bw-messages"), help: "Messages streamed per link.")
    var bandwidthMessages: Int = 64

    @Option(help: "Bandwidth messages in flight.")
    var window: Int = 16

    @Option(name: .customShort("w"), help: "Latency warm-up iterations per link.")
    var warmup: Int = 50

    @Flag(help: "Measure one pair at a time (slower; nothing else on the fabric).")
    var serial = false

    @Option(name: .customLong("outlier-k"), help: "Robust standard deviations (1.4826·MAD, log scale) from the median link that make an outlier.")
    var outlierK: Double = 5

    @Option(name: .customLong("outlier-ratio"), help: "A flagged link is also at least this many times worse than the median link.")
    var outlierRatio: Double = 1.5

    @Flag(name: .customLong("fail-on-outlier"), help: "Exit 1 when any link is flagged (after its re-test).")
    var failOnOutlier = false

    @Flag(inversion: .prefixedNo, help: "Measure each flagged link again, alone, and keep only the verdicts that hold.")
    var retest = true

    func validate() throws {
        try FlagBounds.check(iterations, "-n", FlagBounds.iterations)
        try FlagBounds.check(latencySize.bytes, "--lat-size", FlagBounds.bytes, unit: " bytes")
        try FlagBounds.check(bandwidthSize.bytes, "--bw-size", FlagBounds.bytes, unit: " bytes")
        try FlagBounds.check(bandwidthMessages, "--bw-messages", FlagBounds.iterations)
        try FlagBounds.check(window, "--window", 1...65536)
        try FlagBounds.check(warmup, "-w", 0...FlagBounds.iterations.upperBound)
        try FlagBounds.check(outlierK, "--outlier-k", FlagBounds.factor)
        try FlagBounds.check(outlierRatio, "--outlier-ratio", 1...1_000_000)
        if let n = job.localRanks, n < 2 { throw ValidationError("matrix measures pairs of ranks: --np must be at least 2 (got \(n))") }
    }

    func run() throws {
        var options = MatrixOptions()
        options.latencyBytes = latencySize.bytes
        options.latencyIterations = iterations
        options.bandwidthBytes = bandwidthSize.bytes
        options.bandwidthMessages = bandwidthMessages
        options.window = window
        options.warmup = warmup
        options.serial = serial
        options.retest = retest
        options.rule = OutlierRule(k: outlierK, minimumRatio: outlierRatio)
        let arguments = RecordedArguments.of(self)
        try RankRunner.run(command: "matrix", flags: job, arguments: arguments,
            makeSink: { document in
                try ReportSink(document: document, jsonPath: job.json, csvPath: job.csv, header: MatrixTable.header(document, notes: [
                    "every pair of ranks on its own, \(serial ? "one pair at a time" : "in rounds of disjoint pairs"); latency one-way (round trip / 2), GB/s = 1e9 bytes/s",
                ]), row: { $0.map(MatrixTable.render).joined(separator: "\n") })
            },
            body: { job, clock, sink in
                let progress = sink.map { _ in Progress(what: "matrix") }
                let benchmark = MatrixBenchmark(job: job, options: options, clock: clock)
                let result = try benchmark.run { done, total in progress?.update(done: done, of: total, next: "round \(done + 1)") }
                progress?.finish()
                guard let sink, let result else { return }
                try sink.add([result])
                try sink.annotate { $0.outliers = result.outliers }
                if failOnOutlier && !result.outliers.isEmpty {
                    let named = result.outliers.map { "rank \($0[0]) ↔ rank \($0[1])" }.joined(separator: ", ")
                    throw RankFailure(description: "outlier links: \(named)", code: 1)
                }
            })
    }
}
