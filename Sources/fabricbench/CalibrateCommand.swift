import ArgumentParser
import FabricEngine
import FabricMeasure
import FabricReport
import FabricResults

struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Measure what `fabricbench model` needs and write it as one profile (--json).",
        discussion: """
        Per link class (intra: two ranks of one host; inter: ranks of two hosts; each where the \
        job has two ranks to measure it): a latency sweep with every pair of the class at once \
        (its histograms are the model's per-message draws), and a bandwidth run with every \
        paired rank sending and receiving at once (the model's β: a collective's ranks all send \
        at once, which a ping-pong slope misses). Then the reduction kernel (sum) per element \
        type, timed on every rank at once (γ), and the ranks of each host. Any launch mode and \
        transport, as the other measuring commands. The profile's shape is in docs/MODEL.md. \
        --inject-jitter delays the latency sweep only: the model adds a latency draw to every \
        message, so a bandwidth figure with the delays in it would count them twice.

        Examples:
          fabricbench calibrate --np 2 --json profile.json
          mpirun -np 16 fabricbench calibrate -b 8 -e 1M -f 8 -n 20000 --json profile.json
          fabricbench model profile.json --ranks 8,1K,1M --ranks-per-host 8 --oversubscription 2
        """)

    @OptionGroup var job: JobFlags

    @Option(name: .customShort("b"), help: ArgumentHelp("Smallest latency size.", valueName: "size"))
    var minBytes = ByteSize(8)

    @Option(name: .customShort("e"), help: ArgumentHelp("Largest latency size.", valueName: "size"))
    var maxBytes = ByteSize(1 << 20)

    @Option(name: .customShort("f"), help: "Multiply the latency size by this factor at each step.")
    var factor: Int = 8

    @Option(name: .customShort("n"), help: "Timed latency iterations per size and pair (the tail the model sees at scale needs many: ten times N beyond p99).")
    var iterations: Int = 4000

    @Option(name: .customShort("w"), help: "Warm-up latency iterations per size.")
    var warmup: Int = 100

    @Option(name: .customLong("bandwidth-bytes"), help: ArgumentHelp("Message size of the bandwidth run.", valueName: "size"))
    var bandwidthBytes = ByteSize(1 << 20)

    @Option(name: .customLong("bandwidth-iterations"), help: "Messages each way per pair in the bandwidth run.")
    var bandwidthIterations: Int = 200

    @Option(help: "Bandwidth messages in flight each way.")
    var window: Int = 16

    func validate() throws {
        try FlagBounds.check(iterations, "-n", FlagBounds.iterations)
        try FlagBounds.check(warmup, "-w", 0...FlagBounds.iterations.upperBound)
        try FlagBounds.check(bandwidthIterations, "--bandwidth-iterations", FlagBounds.iterations)
        try FlagBounds.check(window, "--window", 1...65536)
        try FlagBounds.check(minBytes.bytes, "-b", FlagBounds.bytes, unit: " bytes")
        try FlagBounds.check(maxBytes.bytes, "-e", FlagBounds.bytes, unit: " bytes")
        try FlagBounds.check(bandwidthBytes.bytes, "--bandwidth-bytes", FlagBounds.bytes, unit: " bytes")
        guard minBytes.bytes >= 1 else { throw ValidationError("-b must be at least 1 byte: a 0-byte message carries nothing to time over TCP") }
        do { _ = try SizeSweep(min: minBytes.bytes, max: maxBytes.bytes, factor: factor) } catch { throw ValidationError("\(error)") }
    }

    func run() throws {
        var options = CalibrationOptions()
        options.sizes = try SizeSweep(min: minBytes.bytes, max: maxBytes.bytes, factor: factor).sizes
        options.iterations = iterations
        options.warmup = warmup
        options.bandwidthBytes = bandwidthBytes.bytes
        options.bandwidthIterations = bandwidthIterations
        options.window = window
        try RankRunner.run(command: "calibrate", flags: job, arguments: RecordedArguments.of(self),
            makeSink: { document in
                try ReportSink(document: document, jsonPath: job.json, csvPath: job.csv, junitPath: job.junit, promPath: job.prom,
                               header: CalibrationTable.header(document), row: { $0.map(CalibrationTable.row).joined(separator: "\n") })
            },
            body: { job, clock, sink in
                let profile = try CalibrationBenchmark(job: job, options: options, clock: clock).run { sink?.note(CalibrationTable.link($0)) }
                if let profile { try sink?.add([profile]) }
            })
    }
}
