import ArgumentParser
import FabricEngine
import FabricMeasure
import FabricReport
import FabricResults
import FabricRendezvous
import Foundation

struct MatrixCommand: MeasuringCommand {
    static let resultShape = AnyRunDocument.Shape.matrix
    static let configuration = CommandConfiguration(
        commandName: "matrix",
        abstract: "Latency and bandwidth of every pair of ranks, each way, naming the bad hosts, ranks and links.",
        discussion: """
        Pairs are measured in rounds of disjoint pairs (N−1 rounds for N ranks, so no rank is in \
        two measurements at once; --serial runs one pair at a time). Each pair runs a ping-pong \
        (--lat-size, -n iterations), then a stream each way (--bw-size, --bw-messages): a fault \
        is often in one direction only.

        The verdict names what to pull. A host is a suspect when its links are worse than the \
        links between the other hosts (judged one host at a time, so one bad host among four is \
        found even though it spoils half the links), with the direction: its sends, its \
        receives, or both. Ranks of a host are judged too, which tells a whole bad node from one \
        bad NIC or GPU in it, and hosts slow only to hosts outside their group are named as a \
        group (a switch). Hosts come from each rank's host name, or --host-label / \
        FABRICBENCH_HOST. Links within a host are judged apart from links between hosts. A \
        single link no suspect explains is an outlier when a figure (latency p50, p99.9, \
        bandwidth each way) is more than --outlier-k robust standard deviations (1.4826·MAD of \
        the logs) from the median link and at least --outlier-ratio times worse. Every \
        verdict is re-tested: flagged links, and samples of a suspect's links, are measured \
        again, alone, and a verdict stands only if they say the same (--no-retest keeps the \
        sweep's). With --fail-on-outlier the run exits 1 on any verdict, so a health check can \
        gate on it.

        Examples:
          fabricbench matrix --np 4
          mpirun -np 16 --map-by node fabricbench matrix --json links.json
          srun -N 32 --ntasks-per-node 8 fabricbench matrix --fail-on-outlier --json fabric.json
          fabricbench matrix --np 6 --bw-size 4M --serial --fail-on-outlier
          fabricbench matrix --np 8 --links fabric.json   # re-measure a run's suspects only
          fabricbench matrix --np 8 --links 2-5,3-5       # or given links
          srun -N 16 --ntasks-per-node 8 fabricbench matrix --rails --device auto   # rail by rail, verdicts per (host, NIC)
          fabricbench matrix --np 4 --prom /var/lib/prometheus/node-exporter/fabricbench-matrix.prom   # for node_exporter
          fabricbench matrix --np 4 --junit matrix.xml    # a case per link and one for the verdicts
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

    @Flag(inversion: .prefixedNo, help: "Measure each flagged link, and samples of each suspect's links, again, alone, and keep only the verdicts that hold.")
    var retest = true

    @Flag(help: "Keep each link's histograms in the JSON (latency, and bandwidth per window each way: N²/2 of each; the summary figures are always there).")
    var histograms = false

    @Option(help: ArgumentHelp("Measure only these links: pairs 'A-B' separated by commas, a file with one pair a line, or a matrix JSON file (its suspects' and outliers' links).", valueName: "links"))
    var links: String?

    @Option(help: ArgumentHelp("Measure only the links of these ranks (comma-separated) to every other rank.", valueName: "ranks"))
    var ranks: String?

    @Flag(help: "Measure rail by rail: only links between ranks of the same local rank on different hosts (local rank i drives NIC i, on rail i's leaf), and name each verdict's (host, NIC) and rail.")
    var rails = false

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
        if [links != nil, ranks != nil, rails].filter({ $0 }).count > 1 { throw ValidationError("--links, --ranks and --rails each choose links: give one") }
        if rails, job.localRanks != nil { throw ValidationError("--rails measures links between hosts, but --np runs every rank on this host: launch on several hosts (mpirun, srun, or scripts/netns-hosts.sh)") }
        let selection = try links.map(LinkSelection.links) ?? ranks.map { .ranks(try LinkSelection.ranks($0)) }
        // Against the world size where it is known before launch; otherwise every rank checks
        // it alike at start.
        if let selection, let world = job.localRanks ?? job.worldSize { _ = try selection.pairs(worldSize: world) }
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
        options.histograms = histograms
        let selection = try links.map(LinkSelection.links) ?? ranks.map { .ranks(try LinkSelection.ranks($0)) }
        let arguments = RecordedArguments.of(self)
        try RankRunner.run(command: "matrix", flags: job, arguments: arguments,
            makeSink: { document in
                try ReportSink(document: document, jsonPath: job.json, csvPath: job.csv, junitPath: job.junit, promPath: job.prom, header: MatrixTable.header(document, notes: [
                    "every pair of ranks on its own, \(serial ? "one pair at a time" : "in rounds of disjoint pairs"); latency one-way (round trip / 2), GB/s = 1e9 bytes/s",
                ]), row: { $0.map(MatrixTable.render).joined(separator: "\n") })
            },
            body: { job, clock, sink in
                var options = options
                do {
                    options.only = try selection?.pairs(worldSize: job.worldSize)
                } catch {
                    throw RankFailure(description: "\(error)", code: 2)
                }
                if rails {
                    options.only = try MatrixBenchmark.railLinks(job: job)
                    options.rails = true
                }
                let progress = sink.map { _ in Progress(what: "matrix") }
                let benchmark = MatrixBenchmark(job: job, options: options, clock: clock)
                let schedule = benchmark.rounds
                let started = Date()
                if sink != nil {
                    let pairs = schedule.reduce(0) { $0 + $1.count }
                    Self.note("matrix: \(pairs) links of \(job.worldSize) ranks in \(schedule.count) rounds of up to \(schedule.map(\.count).max() ?? 0) pairs, each a \(iterations)-iteration ping-pong and \(bandwidthMessages) × \(ByteCount.format(bandwidthSize.bytes)) each way; then re-tests. The time per round follows the first.")
                }
                let result = try benchmark.run { done, total in
                    if sink != nil && done == 1 && total > 1 {
                        let perRound = Date().timeIntervalSince(started)
                        Self.note(String(format: "matrix: the first round took %.2f s: about %.0f s for the other %d", perRound, perRound * Double(total - 1), total - 1))
                    }
                    progress?.update(done: done, of: total, next: "round \(done + 1)")
                }
                progress?.finish()
                guard let sink, let result else { return }
                try sink.add([result])
                try sink.annotate {
                    $0.outliers = result.outliers
                    $0.suspectHosts = result.suspectHosts
                    $0.suspectRanks = result.suspectRanks
                    $0.suspectNics = result.suspectNICs
                    $0.verdicts = result.diagnosis ?? []
                }
                let verdicts = result.diagnosis ?? []
                if failOnOutlier && !verdicts.isEmpty {
                    throw RankFailure(description: "\(verdicts.count) verdict\(verdicts.count == 1 ? "" : "s"): " + verdicts.map(\.text).joined(separator: "; "), code: 1)
                }
            })
    }

    static func note(_ line: String) { FileHandle.standardError.write(Data("# \(line)\n".utf8)) }
}

/// Which links `--links` and `--ranks` choose.
enum LinkSelection {
    case pairs([[Int]])
    case ranks([Int])

    /// Every pair is checked against the world size once it is known.
    func pairs(worldSize n: Int) throws -> [[Int]] {
        let pairs: [[Int]]
        switch self {
        case .pairs(let p): pairs = p
        case .ranks(let rs): pairs = rs.flatMap { r in (0..<n).filter { $0 != r }.map { [min(r, $0), max(r, $0)] } }
        }
        var unique: [[Int]] = []
        for p in pairs {
            guard p.allSatisfy({ (0..<n).contains($0) }) else {
                throw ValidationError("link \(p[0])-\(p[1]) names a rank outside the world of \(n) ranks")
            }
            if !unique.contains(p) { unique.append(p) }
        }
        guard !unique.isEmpty else { throw ValidationError("no links to measure") }
        return unique
    }

    static func ranks(_ text: String) throws -> [Int] {
        let list = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !list.isEmpty, list.allSatisfy({ $0 != nil && $0! >= 0 && $0! < LaunchEnvironment.maximumWorldSize }) else {
            throw ValidationError("--ranks '\(text)' is not a comma-separated list of ranks (e.g. 3,7)")
        }
        return list.map { $0! }
    }

    /// "2-5,3-5"; or a file: a matrix JSON (its suspects' and outliers' links) or one "A-B" a line.
    static func links(_ spec: String) throws -> LinkSelection {
        if FileManager.default.fileExists(atPath: spec) {
            guard let data = FileManager.default.contents(atPath: spec), data.count <= 1 << 30 else {
                throw ValidationError("--links \(spec): cannot read the file")
            }
            if data.first(where: { ![0x20, 0x09, 0x0a, 0x0d].contains($0) }) == UInt8(ascii: "{") {
                let document: RunDocument<LinkMatrixResult>
                do {
                    guard case .matrix(let d) = try AnyRunDocument.read(spec, shapes: ["matrix": .matrix]) else { throw ReportError("not a matrix") }
                    document = d
                } catch {
                    throw ValidationError("--links \(spec): \(error)")
                }
                let world = document.environment.worldSize
                var pairs = (document.outliers ?? []).map { [min($0[0], $0[1]), max($0[0], $0[1])] }
                for v in document.verdicts ?? [] where v.subject != .link {
                    // A suspect's links to every rank outside it.
                    pairs += v.ranks.flatMap { r in (0..<world).filter { !v.ranks.contains($0) }.map { [min(r, $0), max(r, $0)] } }
                }
                guard !pairs.isEmpty else { throw ValidationError("--links \(spec): that matrix run has no verdict, so nothing to measure again") }
                return .pairs(pairs)
            }
            let lines = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
            return .pairs(try lines.enumerated().map { i, line in try pair(line, where: "\(spec):\(i + 1)") })
        }
        return .pairs(try spec.split(separator: ",").map { try pair(String($0), where: "--links") })
    }

    private static func pair(_ text: String, where place: String) throws -> [Int] {
        let parts = text.split(whereSeparator: { $0 == "-" || $0 == " " || $0 == "\t" }).map { Int($0) }
        guard parts.count == 2, let a = parts[0], let b = parts[1], a >= 0, b >= 0, a != b,
              a < LaunchEnvironment.maximumWorldSize, b < LaunchEnvironment.maximumWorldSize else {
            throw ValidationError("\(place): '\(text)' is not a link: give two different ranks as A-B (e.g. 2-5)")
        }
        return [min(a, b), max(a, b)]
    }
}
