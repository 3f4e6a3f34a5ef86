import ArgumentParser
import FabricCollectives
import FabricCore
import FabricEngine
import FabricMeasure
import FabricReport
import FabricResults
import Foundation

struct TuneCommand: MeasuringCommand {
    static let resultShape = AnyRunDocument.Shape.collective
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Probe the all-reduce algorithms over a size range and write the choice per size to a tuning table.",
        discussion: """
        Runs --algo auto's probe alone (no sweep) and writes, atomically, a JSON table keyed by \
        transport, world size, ranks per host and hosts, with each probed size's algorithm and \
        every candidate's median, p99 and noise as evidence. Later runs given --tuning FILE choose \
        from it instead of probing (sizes between probed ones by the same rule), and refuse a \
        table measured on another setup. \(AlgorithmChooser.probeHelp).

        Examples:
          fabricbench tune --np 4 -b 8 -e 256M --tuning tcp-4.json
          fabricbench allreduce --np 4 -b 8 -e 256M --tuning tcp-4.json
        """)
    @OptionGroup var job: JobFlags
    @OptionGroup var sweep: SweepFlags

    @Option(help: ArgumentHelp("The table to write (replaced atomically).", valueName: "file"))
    var tuning: String

    @Option(help: "Element type: float, double, half, int32, int64.")
    var dtype: DataType = .float32

    @Option(help: "Reduction: sum, prod, min, max.")
    var op: ReduceOp = .sum

    @Option(help: "Pipeline chunk size.")
    var chunk = ByteSize(1 << 20)

    @Option(help: "Receives in flight per link (pipeline depth).")
    var slots: Int = 4

    func validate() throws {
        if sweep.duration != nil { throw ValidationError("-D is for latency; tune probes by rounds (see --help)") }
        if sweep.warmup != nil { throw ValidationError("-w does not apply to tune: each probe round warms up every algorithm itself") }
        try FlagBounds.check(chunk.bytes, "--chunk", 64...(1 << 30), unit: " bytes")
        guard slots >= 1 && slots <= 64 else { throw ValidationError("--slots must be 1...64 (got \(slots))") }
        let largest = sweep.maxBytes?.bytes ?? sweep.minBytes.bytes
        guard largest >= dtype.size else { throw ValidationError("-e \(largest) holds no \(dtype.rawValue) element (\(dtype.size) bytes): nothing to tune") }
    }

    func run() throws {
        let kind = CollectiveKind.allreduce
        var options = CollectiveOptions()
        options.kind = kind
        options.sizes = try sweep.sweep().sizes
        options.type = dtype
        options.op = op
        options.algo = "auto"
        options.tuning = PipelineTuning(chunkBytes: chunk.bytes, slots: slots)
        let path = tuning
        // The table is written only after the whole probe: a path that cannot take it fails
        // now, where it will be written (the --np launcher, else rank 0's host).
        if try RankRunner.localLaunchSize(flags: job) != nil { try TuningPreflight.checkDestination(path) }
        try RankRunner.run(command: "tune", flags: job, arguments: RecordedArguments.of(self).merging(sweep.derived) { _, b in b },
            makeSink: { (document: RunDocument<CollectiveResult>) in
                try ReportSink(document: document, jsonPath: job.json, header: NcclTable.summaryHeader(document, notes: [
                    "tune: \(kind.rawValue) \(ByteCount.format(options.sizes.first ?? 0))...\(ByteCount.format(options.sizes.last ?? 0)) "
                        + "\(dtype.rawValue) \(op.rawValue) chunk: \(ByteCount.format(chunk.bytes)) slots: \(slots) -> \(path)",
                ]), row: NcclTable.row)
            },
            body: { job, clock, sink in
                if job.rank == 0 { try TuningPreflight.checkDestination(path) }
                guard let tuned = try CollectiveBenchmark(job: job, options: options, clock: clock).tune(), let sink else { return }
                let (choice, setup) = tuned
                guard !choice.probed.isEmpty else {
                    throw FabricError.configuration("no size from -b to -e holds a whole \(dtype.rawValue) element per rank: nothing to tune; raise -b")
                }
                let table = TuningTable(created: Date(), fabricbenchVersion: FabricBenchVersion.current, setup: setup, dtype: dtype.rawValue,
                                        op: op.rawValue, chunkBytes: chunk.bytes, slots: slots, rule: choice.rule,
                                        probeSeconds: choice.probeSeconds ?? 0, sizes: choice.probed)
                sink.note(NcclTable.algorithmChoice(choice))
                try sink.annotate { $0.algorithmChoice = choice }
                do {
                    try table.write(to: path)
                } catch let e as ReportError {
                    throw FabricError.configuration(e.singleLine)
                }
                sink.note("# tuning table for \(setup.collective) over \(setup.transport), \(setup.worldSize) ranks, \(setup.ranksPerHost) per host written to \(path)")
            })
    }
}

/// What the `--np` launcher can check of a `--tuning` table before starting any rank, so a
/// wrong table is one line and exit 2 (rank 0 checks again, with the transport it chose).
enum TuningPreflight {
    static func check(_ path: String, kind: CollectiveKind, flags: JobFlags) throws {
        guard let ranks = try RankRunner.localLaunchSize(flags: flags) else { return }
        let table: TuningTable
        do {
            table = try TuningTable.load(path) { CollectiveKind(rawValue: $0).map(Algorithms.names(for:)) ?? [] }
        } catch let e as ReportError {
            throw FabricError.configuration(e.singleLine)
        }
        let host = flags.jobOptions.hostLabel ?? ProcessInfo.processInfo.hostName
        // Under --transport auto the ranks have not chosen yet: rank 0 checks the transport.
        let transport = flags.transport == .auto ? table.setup.transport : flags.transport.rawValue
        let setup = TuningSetup(collective: kind.rawValue, transport: transport, rankHosts: Array(repeating: host, count: ranks))
        if let refusal = table.refusal(for: setup, path: path) { throw FabricError.configuration(refusal) }
    }

    /// Whether `tune` can write its table at `path`: checked only where it will be written
    /// (other ranks' hosts need not have that folder), as a configuration error (exit 2).
    static func checkDestination(_ path: String) throws {
        do {
            try OutputPath.checkWritable(path, "--tuning")
        } catch let e as ValidationError {
            throw FabricError.configuration(e.message)
        }
    }
}
