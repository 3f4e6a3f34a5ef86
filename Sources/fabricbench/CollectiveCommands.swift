import ArgumentParser
import FabricCollectives
import FabricEngine
import FabricMeasure
import FabricReport
import FabricResults
import FabricCore
import FabricRendezvous

extension DataType: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

extension ReduceOp: ExpressibleByArgument {}

/// Flags of every collective command, in the nccl-tests spelling where it has one.
struct CollectiveFlags: ParsableArguments {
    @Option(name: .customShort("n"), help: "Timed iterations per size.")
    var iterations: Int = 20

    @Option(name: .customShort("c"), help: "1: check every result exactly after timing (default); 0: off.")
    var check: Int = 1

    @Option(help: "Element type: float, double, half, int32, int64.")
    var dtype: DataType = .float32

    @Option(help: "Reduction: sum, prod, min, max.")
    var op: ReduceOp = .sum

    @Option(help: ArgumentHelp("Algorithm, or auto: pick per size before the sweep, from a probe or from --tuning's table (the rule: docs/PERFORMANCE.md). \(AlgorithmChooser.probeHelp).", valueName: "name"))
    var algo: String = "auto"

    @Option(help: ArgumentHelp("Under --algo auto, choose each size's algorithm from this table (written by 'fabricbench tune') instead of probing; refused if measured on other hosts, another transport, world size or ranks per host.", valueName: "file"))
    var tuning: String?

    @Flag(help: "Only in-place (default: both).")
    var inplace = false

    @Flag(help: "Only out-of-place (default: both).")
    var outofplace = false

    @Option(help: "Pipeline chunk size.")
    var chunk = ByteSize(1 << 20)

    @Option(help: "Receives in flight per link (pipeline depth).")
    var slots: Int = 4

    @Option(help: "Exit non-zero when the average bus bandwidth (GB/s) is below this: a CI floor.")
    var minBusbw: Double?

    @Option(help: "Exit non-zero when any size's mean time (us) exceeds this: a CI ceiling.")
    var maxTimeUs: Double?

    @Option(help: "Straggler rule: flag ranks whose median lateness exceeds the group's by more than K MAD.")
    var stragglerK: Double = 3

    @Option(help: ArgumentHelp("Testing aid: RANK:MICROSECONDS makes that rank sleep before each timed iteration.", valueName: "rank:us"))
    var injectDelay: String?

    @Flag(help: "Start every timed call together: all ranks meet at a barrier (through the rendezvous, outside the timing) first, as OSU's benchmarks do and as `model` predicts; a late rank (--inject-delay) then waits at the barrier, not inside the call. Default: calls back to back, as a training loop issues them, where a rank that finished the last call early waits longer in the next. At most \(Self.barrierCalls) timed calls a run (-n x sizes x placements).")
    var barrier = false

    /// Each barrier leaves two keys in the rendezvous store: this bounds what a run adds.
    static let barrierCalls = 100_000

    func validate() throws {
        // Every iteration's time reaches rank 0, so the count stays within what it gathers.
        try FlagBounds.check(iterations, "-n", 1...1_000_000)
        try FlagBounds.check(chunk.bytes, "--chunk", 64...(1 << 30), unit: " bytes")
        try FlagBounds.check(stragglerK, "--straggler-k", FlagBounds.factor)
        try FlagBounds.check(minBusbw, "--min-busbw", 0...1_000_000, unit: " GB/s")
        try FlagBounds.check(maxTimeUs, "--max-time-us", 0.001...1e12, unit: " us")
        guard check == 0 || check == 1 else { throw ValidationError("-c takes 0 or 1 (got \(check))") }
        guard slots >= 1 && slots <= 64 else { throw ValidationError("--slots must be 1...64 (got \(slots))") }
        if inplace && outofplace { throw ValidationError("--inplace and --outofplace exclude each other (give neither for both)") }
        if let d = injectDelay { _ = try parseDelay(d) }
        if tuning != nil && algo != "auto" { throw ValidationError("--tuning chooses for --algo auto; drop --tuning or --algo \(algo)") }
    }

    func parseDelay(_ text: String) throws -> (rank: Int, microseconds: Int) {
        let parts = text.split(separator: ":").map { Int($0) }
        guard parts.count == 2, let r = parts[0], let us = parts[1], r >= 0, us >= 0 else {
            throw ValidationError("--inject-delay '\(text)' is not RANK:MICROSECONDS (e.g. 3:500)")
        }
        try FlagBounds.check(r, "--inject-delay's rank", 0...LaunchEnvironment.maximumWorldSize)
        try FlagBounds.check(us, "--inject-delay's microseconds", 0...60_000_000)
        return (r, us)
    }
}

/// What the four collective commands share; each command only names its collective.
enum CollectiveRun {
    static func run(_ kind: CollectiveKind, job flags: JobFlags, sweep: SweepFlags, collective: CollectiveFlags, root: Int,
                    recorded: [String: String]) throws {
        if sweep.duration != nil { throw ValidationError("-D is for latency; collectives run -n iterations per size") }
        let description = "minBytes \(sweep.minBytes.bytes) maxBytes \(sweep.maxBytes?.bytes ?? sweep.minBytes.bytes) step: \(sweep.factor)(factor)"
        try run(kind, job: flags, sizes: try sweep.sweep().sizes, warmup: sweep.warmup, sweepDescription: description,
                collective: collective, root: root, recorded: recorded.merging(sweep.derived) { _, b in b })
    }

    static func run(_ kind: CollectiveKind, job flags: JobFlags, sizes: [Int], warmup: Int?, sweepDescription: String,
                    collective: CollectiveFlags, root: Int, recorded: [String: String]) throws {
        let names = Algorithms.names(for: kind)
        guard collective.algo == "auto" || names.contains(collective.algo) else {
            throw ValidationError("--algo \(collective.algo) is not an algorithm for \(kind.rawValue) (choose from: \((names + ["auto"]).joined(separator: ", ")))")
        }
        if collective.tuning != nil && names.count < 2 {
            throw ValidationError("--tuning chooses between algorithms; \(kind.rawValue) has one (\(names.joined(separator: ", ")))")
        }
        if let path = collective.tuning { try TuningPreflight.check(path, kind: kind, flags: flags) }
        try FlagBounds.check(root, "--root", 0...LaunchEnvironment.maximumWorldSize)
        if let n = flags.localRanks, root >= n { throw ValidationError("--root \(root) is not a rank of --np \(n) (ranks 0...\(n - 1))") }
        var options = CollectiveOptions()
        options.kind = kind
        options.sizes = sizes
        options.iterations = collective.iterations
        options.warmup = warmup ?? 5
        options.check = collective.check == 1
        options.type = collective.dtype
        options.op = collective.op
        options.algo = collective.algo
        options.tuningTablePath = collective.tuning
        options.inPlace = !collective.outofplace
        options.outOfPlace = !collective.inplace
        options.root = root
        options.tuning = PipelineTuning(chunkBytes: collective.chunk.bytes, slots: collective.slots)
        options.injectDelay = try collective.injectDelay.map(collective.parseDelay)
        options.stragglerK = collective.stragglerK
        options.barrierEachCall = collective.barrier
        if collective.barrier {
            if kind == .barrier { throw ValidationError("--barrier is for timing other collectives from a common start; the barrier collective needs none") }
            let calls = options.iterations * sizes.count * ((options.inPlace ? 1 : 0) + (options.outOfPlace ? 1 : 0))
            if calls > CollectiveFlags.barrierCalls {
                throw ValidationError("--barrier takes at most \(CollectiveFlags.barrierCalls) timed calls a run, and -n \(options.iterations) x \(sizes.count) size\(sizes.count == 1 ? "" : "s")"
                                      + "\(options.inPlace && options.outOfPlace ? " x 2 placements" : "") is \(calls): each leaves two keys in the rendezvous store; lower -n, sweep fewer sizes, or give --inplace or --outofplace")
            }
        }
        var arguments = recorded
        // What runs, not the flags: both placements unless one is asked for alone.
        arguments["inplace"] = "\(options.inPlace)"
        arguments["outofplace"] = "\(options.outOfPlace)"
        arguments["root"] = "\(root)"
        let notes = [
            sweepDescription + " warmup iters: \(options.warmup) iters: \(options.iterations) validation: \(collective.check) algo: \(collective.algo) "
                + "chunk: \(ByteCount.format(collective.chunk.bytes)) slots: \(collective.slots)",
            "time = per iteration, the slowest rank's\(collective.barrier ? " (every call started together at a barrier)" : "")"
                + "; mean over iterations. algbw = size / time; busbw = algbw x \(kind.busBandwidthFactorText); GB/s = 1e9 bytes/s",
        ]
        try RankRunner.run(command: kind.rawValue, flags: flags, arguments: arguments,
            makeSink: { document in
                try ReportSink(document: document, jsonPath: flags.json, csvPath: flags.csv, junitPath: flags.junit, promPath: flags.prom, header: NcclTable.header(document, notes: notes), row: NcclTable.row)
            },
            body: { job, clock, sink in
                let benchmark = CollectiveBenchmark(job: job, options: options, clock: clock)
                let report = try benchmark.run(beforeSweep: { choice in
                    if let choice {
                        sink?.note(NcclTable.algorithmChoice(choice))
                        try sink?.annotate { $0.algorithmChoice = choice }
                    }
                    sink?.expect(steps: options.sizes.map(ByteCount.format), what: "sizes")
                }, onSize: { try sink?.add($0) })
                guard let sink else { return }
                let results = sink.document.results
                sink.note(NcclTable.footer(results, checked: options.check))
                if let report {
                    try sink.annotate { $0.stragglers = report }
                    sink.note("# \(report.summary)")
                }
                try enforce(results, collective: collective)
            })
    }


    /// Wrong results, then the CI gates: each makes the run fail with the reason.
    static func enforce(_ results: [CollectiveResult], collective: CollectiveFlags) throws {
        let wrong = results.compactMap(\.wrong).reduce(0, +)
        if wrong > 0 {
            let first = results.flatMap { r in (r.mismatches ?? []).map { (r, $0) } }.prefix(5)
                .map { r, m in "\(r.bytes) B \(r.inplace ? "in-place" : "out-of-place"): rank \(m.rank) [\(m.index)] expected \(m.expected), got \(m.got)" }
            throw RankFailure(description: "\(wrong) wrong element(s); first: " + first.joined(separator: "; "), code: 1)
        }
        if let floor = collective.minBusbw {
            let average = NcclTable.averageBusBandwidth(results)
            if average < floor {
                throw RankFailure(description: String(format: "average bus bandwidth %.3f GB/s is below --min-busbw %.3f", average, floor), code: 1)
            }
        }
        if let ceiling = collective.maxTimeUs, let worst = results.max(by: { $0.timeUs < $1.timeUs }), worst.timeUs > ceiling {
            throw RankFailure(description: String(format: "%d B %@ took %.2f us, above --max-time-us %.2f", worst.bytes,
                                                  worst.inplace ? "in-place" : "out-of-place", worst.timeUs, ceiling), code: 1)
        }
    }
}

struct AllReduceCommand: MeasuringCommand {
    static let resultShape = AnyRunDocument.Shape.collective
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "All-reduce (ring or double binary tree) with nccl-tests' table, exact checking and straggler analysis.",
        discussion: """
        Examples:
          fabricbench allreduce --np 4 -b 8 -e 128M -f 2
          fabricbench allreduce --np 2 -b 1M -e 64M --algo ring --dtype double --op max --json ar.json
          fabricbench allreduce --np 4 -b 1M --min-busbw 1.5      # CI floor: exit 1 below 1.5 GB/s
          fabricbench allreduce --np 4 -b 1M --min-busbw 1.5 --junit ar.xml --prom ar.prom   # the gate as a JUnit case
          fabricbench allreduce --np 4 -b 64M --chunk 512K --slots 8 --max-time-us 200000
          fabricbench allreduce --np 4 -b 8 -n 100 --inject-delay 2:500   # see the straggler report name rank 2
          fabricbench allreduce --np 4 -b 64K -e 16M -f 4 --barrier --json ar.json   # every call from a common start, as `model` predicts
          srun fabricbench allreduce --transport verbs --cm --qps 2 -b 8 -e 1G
        """)
    @OptionGroup var job: JobFlags
    @OptionGroup var sweep: SweepFlags
    @OptionGroup var collective: CollectiveFlags
    func run() throws { try CollectiveRun.run(.allreduce, job: job, sweep: sweep, collective: collective, root: 0, recorded: RecordedArguments.of(self)) }
}

struct BarrierCommand: MeasuringCommand {
    static let resultShape = AnyRunDocument.Shape.collective
    static let configuration = CommandConfiguration(
        commandName: "barrier", abstract: "Barrier latency (dissemination barrier over the data transport), in the same table.",
        discussion: "Example:\n  fabricbench barrier --np 4 -n 1000")
    @OptionGroup var job: JobFlags
    @OptionGroup var collective: CollectiveFlags
    @Option(name: .customShort("w"), help: "Warm-up iterations (not recorded).")
    var warmup: Int = 5

    func run() throws {
        try FlagBounds.check(warmup, "-w", 0...FlagBounds.iterations.upperBound)
        try CollectiveRun.run(.barrier, job: job, sizes: [0], warmup: warmup, sweepDescription: "size 0 (barrier)",
                              collective: collective, root: 0, recorded: RecordedArguments.of(self))
    }
}

struct ReduceScatterCommand: MeasuringCommand {
    static let resultShape = AnyRunDocument.Shape.collective
    static let configuration = CommandConfiguration(
        commandName: "reducescatter", abstract: "Reduce-scatter (ring); -b/-e give the full input size.",
        discussion: "Example:\n  fabricbench reducescatter --np 4 -b 1K -e 64M -f 4")
    @OptionGroup var job: JobFlags
    @OptionGroup var sweep: SweepFlags
    @OptionGroup var collective: CollectiveFlags
    func run() throws { try CollectiveRun.run(.reducescatter, job: job, sweep: sweep, collective: collective, root: 0, recorded: RecordedArguments.of(self)) }
}

struct AllGatherCommand: MeasuringCommand {
    static let resultShape = AnyRunDocument.Shape.collective
    static let configuration = CommandConfiguration(
        commandName: "allgather", abstract: "All-gather (ring); -b/-e give the full output size.",
        discussion: "Example:\n  fabricbench allgather --np 4 -b 1K -e 64M -f 4")
    @OptionGroup var job: JobFlags
    @OptionGroup var sweep: SweepFlags
    @OptionGroup var collective: CollectiveFlags
    func run() throws { try CollectiveRun.run(.allgather, job: job, sweep: sweep, collective: collective, root: 0, recorded: RecordedArguments.of(self)) }
}

struct BroadcastCommand: MeasuringCommand {
    static let resultShape = AnyRunDocument.Shape.collective
    static let configuration = CommandConfiguration(
        commandName: "broadcast", abstract: "Broadcast (pipelined chain) from --root.",
        discussion: "Example:\n  fabricbench broadcast --np 4 -b 1K -e 64M -f 4 --root 2")
    @OptionGroup var job: JobFlags
    @OptionGroup var sweep: SweepFlags
    @OptionGroup var collective: CollectiveFlags
    @Option(help: "Rank that broadcasts.")
    var root: Int = 0
    func run() throws { try CollectiveRun.run(.broadcast, job: job, sweep: sweep, collective: collective, root: root, recorded: RecordedArguments.of(self)) }
}
