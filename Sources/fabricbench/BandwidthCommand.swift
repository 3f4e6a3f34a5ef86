import ArgumentParser
import FabricEngine
import FabricMeasure
import FabricReport
import FabricResults

struct BandwidthCommand: MeasuringCommand {
    static let resultShape = AnyRunDocument.Shape.pointToPoint
    static let configuration = CommandConfiguration(
        commandName: "bandwidth",
        abstract: "Streaming bandwidth between rank pairs, with a window of messages in flight.",
        discussion: """
        GB/s means 1e9 bytes per second. The receiver acknowledges the last message, so the time \
        covers delivery. --bidir streams both ways at once and sums both directions.

        Examples:
          fabricbench bandwidth --np 2 -b 4K -e 64M -f 4
          fabricbench bandwidth --np 2 -b 1M --bidir --window 16 --json bw.json
          fabricbench bandwidth --np 2 -b 64K -e 16M --junit bw.xml --prom bw.prom
          fabricbench bandwidth --np 2 --transport verbs --qps 4 -b 64K -e 64M -f 4
        """)

    @OptionGroup var job: JobFlags
    @OptionGroup var sweep: SweepFlags

    @Option(name: .customShort("n"), help: "Messages per size (fewer for large sizes: at most 4 GiB moved per size).")
    var iterations: Int = 1000

    @Option(help: "Messages in flight.")
    var window: Int = 64

    @Flag(help: "Stream in both directions at once.")
    var bidir = false

    func validate() throws {
        try FlagBounds.check(iterations, "-n", FlagBounds.iterations)
        try FlagBounds.check(window, "--window", 1...65536)
        if sweep.duration != nil { throw ValidationError("-D is for latency; bandwidth runs -n messages per size") }
    }

    func run() throws {
        var options = BandwidthOptions()
        options.sizes = try sweep.sweep().sizes
        options.iterations = iterations
        options.warmup = sweep.warmup ?? min(16, iterations)
        options.window = window
        options.bidirectional = bidir
        let arguments = RecordedArguments.of(self).merging(sweep.derived) { _, b in b }
        try RankRunner.run(command: "bandwidth", flags: job, arguments: arguments,
            makeSink: { document in
                try ReportSink(document: document, jsonPath: job.json, csvPath: job.csv, junitPath: job.junit, promPath: job.prom,
                               header: BandwidthTable.header(document, bidirectional: options.bidirectional, window: options.window),
                               row: { $0.map(BandwidthTable.row).joined(separator: "\n") })
            },
            body: { job, clock, sink in
                sink?.expect(steps: options.sizes.map(ByteCount.format), what: "sizes")
                try BandwidthBenchmark(job: job, options: options, clock: clock).run { try sink?.add([$0]) }
            })
    }
}
