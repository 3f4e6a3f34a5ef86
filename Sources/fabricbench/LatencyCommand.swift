import ArgumentParser
import FabricEngine
import FabricMeasure
import FabricReport
import FabricResults
import FabricVerbs

struct LatencyCommand: MeasuringCommand {
    static let resultShape = AnyRunDocument.Shape.pointToPoint
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract: "Ping-pong latency and jitter between rank pairs (rank i with rank i + N/2).",
        discussion: """
        One-way latency = round-trip time / 2. Every sample goes into an HDR histogram; the table \
        shows perftest's columns plus the 99.99th percentile and jitter (MAD, CV).

        Examples:
          fabricbench latency --np 2 -b 8 -e 1M -f 4 --json out.json
          fabricbench latency --np 2 --busy-poll --cpus 0,1 -n 100000 --histogram
          fabricbench latency --np 4 -b 64 -D 2
          fabricbench latency --np 2 --transport verbs --device mlx5_0 --gid-index 3 --mtu 4096 --numa 0
          fabricbench latency --np 2 --transport verbs --last-byte -b 2 -e 8M     # as ib_write_lat
          fabricbench latency --np 2 --transport verbs --verb send --events       # two-sided, sleeping waits
          fabricbench latency --np 2 --transport verbs --cm --iface eth1
          fabricbench latency --np 2 -b 8 -e 1M --json lat.json --csv lat.csv
          fabricbench latency --np 2 -b 8 -e 1M --junit lat.xml --prom /var/lib/prometheus/node-exporter/lat.prom
          fabricbench latency --np 2 --transport shm -b 8 -e 1M   # host floor
          srun fabricbench latency --job-token-file ~/.fbtoken   # a secret
        """)

    @OptionGroup var job: JobFlags
    @OptionGroup var sweep: SweepFlags

    @Option(name: .customShort("n"), help: "Timed iterations per size.")
    var iterations: Int = 1000

    @Option(name: .customShort("c"), help: "1: verify every echoed byte (outside the timed region); 0: off.")
    var check: Int = 0

    @Flag(help: "Print a binned histogram of each size's latency distribution.")
    var histogram = false

    @Flag(name: .customLong("last-byte"), help: "RDMA only: write into the peer's memory and poll the last byte, as ib_write_lat (no completions on the timed path).")
    var lastByte = false

    func validate() throws {
        try FlagBounds.check(iterations, "-n", FlagBounds.iterations)
        guard check == 0 || check == 1 else { throw ValidationError("-c takes 0 or 1 (got \(check))") }
        if lastByte && check == 1 { throw ValidationError("-c 1 checks whole messages; --last-byte polls only the last byte: use one or the other") }
        if lastByte && job.transport != .named(.verbs) { throw ValidationError("--last-byte writes into the peer's memory over RDMA: pass --transport verbs") }
    }

    func run() throws {
        var options = LatencyOptions()
        options.sizes = try sweep.sweep().sizes
        options.iterations = iterations
        options.warmup = sweep.warmup ?? min(100, iterations)
        options.duration = sweep.duration
        options.check = check == 1
        options.lastByte = lastByte
        let arguments = RecordedArguments.of(self).merging(sweep.derived) { _, b in b }
        let showHistogram = histogram
        try RankRunner.run(command: "latency", flags: job, arguments: arguments,
            makeSink: { document in
                try ReportSink(document: document, jsonPath: job.json, csvPath: job.csv, junitPath: job.junit, promPath: job.prom, header: LatencyTable.header(document), row: { $0.map(LatencyTable.row).joined(separator: "\n") },
                               detail: { results in
                                   guard let r = results.first else { return nil }
                                   var lines: [String] = []
                                   if let wrong = r.wrongBytes, wrong > 0 { lines.append("# \(r.bytes) bytes: \(wrong) received bytes differed from those sent") }
                                   if showHistogram, let text = r.histogram, let h = try? HistogramEncoding.decode(text) {
                                       lines.append(TerminalHistogram.render(h))
                                   }
                                   return lines.isEmpty ? nil : lines.joined(separator: "\n")
                               })
            },
            body: { job, clock, sink in
                sink?.expect(steps: options.sizes.map(ByteCount.format), what: "sizes")
                try LatencyBenchmark(job: job, options: options, clock: clock).run { try sink?.add([$0]) }
                if let wrong = sink?.document.results.compactMap(\.wrongBytes).reduce(0, +), wrong > 0 {
                    throw RankFailure(description: "data check failed: \(wrong) bytes differed", code: 1)
                }
            })
    }
}
