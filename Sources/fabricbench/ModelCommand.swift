import ArgumentParser
import FabricCollectives
import FabricEngine
import FabricMeasure
import FabricModel
import FabricResults
import Foundation

extension Topology.DelaySite: ExpressibleByArgument {}

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Predict all-reduce time at 1,000 to 1,000,000 ranks from a latency run on a few, jitter included.",
        discussion: """
        A bulk-synchronous step ends when its slowest rank does, so at scale the tail of the \
        link latency, not its mean, sets the time. From a `latency` result (its one-way \
        histogram at the smallest size is each message's latency, jitter included; β is the \
        slope of p50 against size, or comes from a `bandwidth` result) and this host's \
        reduction speed (γ), three methods per algorithm, size and N: the α–β–γ mean (no \
        jitter), the synchronous bound (each step waits for the slowest of N draws, computed \
        exactly from the histogram), and a seeded simulation over the algorithm's real step \
        dependencies (the headline: mean, p50, p99). Lower: every message at the fastest \
        latency seen; upper: every step at the p99 of the slowest of N. A figure is marked \
        extrapolated where the ring was simulated at 4,096 ranks and scaled, or where N needs \
        more samples than the histogram has. Amplification is p99 ÷ the α–β–γ time.

        Examples:
          fabricbench latency --np 2 -b 8 -e 1M -f 4 -n 20000 --json lat.json
          fabricbench model lat.json --ranks 8,1024,1M --algo ring,tree,rd -b 8 -e 1G -f 8
          fabricbench model lat.json bw.json --ranks 4096 -b 1M --json prediction.json

        The best input is one `calibrate` profile: latency histograms and bandwidth with every \
        rank sending, per link class, and the reduction kernel per --dtype.
          fabricbench calibrate --np 2 --json profile.json
          fabricbench model profile.json --ranks 8,1K,1M -b 8 -e 1G -f 8

        An `allreduce` result after a profile's files sets γ from the cluster's own all-reduce \
        times (sizes of 64 KiB and up: the γ at which each size's α–β–γ mean over the profile's \
        inter-host link meets the measured one, the median over sizes) in place of the kernel \
        timed on the host running `model`. Run it with --barrier, so its calls start together \
        as the model's do, and without injected delays (refused).
          fabricbench allreduce --np 2 -b 64K -e 16M -f 4 --algo ring --barrier --json ar.json
          fabricbench model lat.json bw.json ar.json --ranks 8,1K,1M -b 8 -e 1G -f 8

        Two levels: --ranks-per-host R runs the all-reduce as a ring reduce-scatter inside each \
        host (the intra-host link), the algorithm across the N/R hosts on n/R bytes (the \
        inter-host link, its β times --oversubscription), then a ring all-gather inside the host.
          fabricbench model profile.json --ranks 64,1K,1M --ranks-per-host 8 --oversubscription 2

        Where the jitter comes from: a network delays a message while its sender goes on; \
        noise on the sending rank (the operating system's, or --inject-jitter's sleep before \
        each send) holds the sender as well, so its later steps wait behind each delay. \
        --delay-at sender models the second (the default is network).
          fabricbench model jittered-profile.json --ranks 4,8 --delay-at sender

        Two NICs side by side: two profiles, or two latency results (each optionally followed by its bandwidth \
        result) are profiles A and B; per algorithm, size and N the faster one (lower simulated \
        mean), by how much, and the rank counts where the faster one changes.
          fabricbench model nic-a.json nic-b.json --ranks 8,64,1K,16K,1M -b 8 -e 1M -f 64
        """)

    @Argument(help: ArgumentHelp("A calibrate profile, or a latency result (--json) optionally followed by a bandwidth result; either optionally followed by an allreduce result (fits γ); a second profile (the same way) compares two.", valueName: "profile.json"))
    var files: [String] = []

    @Option(help: ArgumentHelp("Rank counts, comma-separated; K = 1,000 and M = 1,000,000 (e.g. 8,1024,1M).", valueName: "list"))
    var ranks: String = "8,64,1024,1M"

    @Option(help: ArgumentHelp("Algorithms: ring, tree, rd, comma-separated.", valueName: "list"))
    var algo: String = "ring,tree,rd"

    @Option(name: .customShort("b"), help: ArgumentHelp("Smallest all-reduce size.", valueName: "size"))
    var minBytes = ByteSize(8)

    @Option(name: .customShort("e"), help: ArgumentHelp("Largest size (default: the -b size).", valueName: "size"))
    var maxBytes: ByteSize?

    @Option(name: .customShort("f"), help: "Multiply the size by this factor at each step.")
    var factor: Int = 8

    @Option(name: .customLong("ranks-per-host"), help: ArgumentHelp("Ranks on each host (R): above 1, the all-reduce is hierarchical; every --ranks count must be a multiple of R.", valueName: "R"))
    var ranksPerHost: Int = 1

    @Option(help: ArgumentHelp("Multiplies the inter-host β: each host gets 1/F of its link when all send.", valueName: "F"))
    var oversubscription: Double = 1

    @Option(help: ArgumentHelp("Element type whose reduction speed (γ) a calibrate profile gives: float, double, half, int32, int64.", valueName: "type"))
    var dtype: String = "float"

    @Option(name: .customLong("delay-at"), help: ArgumentHelp("Where each message's latency draw is spent: network (in flight; the sender goes on) or sender (the sending rank is held too, as by operating-system noise or --inject-jitter's sleep).", valueName: "site"))
    var delaySite: Topology.DelaySite = .network

    @Option(help: "Simulation runs per prediction (fewer where one run is large).")
    var runs: Int = 20

    @Option(help: "Seed of the simulation's draws.")
    var seed: UInt64 = 1

    @Option(help: "Write the predictions as JSON to this file.")
    var json: String?

    func validate() throws {
        guard (1...6).contains(files.count) else { throw ValidationError("model takes a calibrate profile or a latency result (optionally with its bandwidth result, then an allreduce result), and optionally a second profile the same way (got \(files.count) files)") }
        try FlagBounds.check(ranksPerHost, "--ranks-per-host", 1...1_000_000)
        try FlagBounds.check(oversubscription, "--oversubscription", 1...1000)
        guard DataType(name: dtype) != nil else { throw ValidationError("--dtype '\(dtype)' is not one of float, double, half, int32, int64") }
        for n in try rankCounts() where n % ranksPerHost != 0 {
            throw ValidationError("--ranks \(n) is not a multiple of --ranks-per-host \(ranksPerHost): give rank counts of whole hosts")
        }
        _ = try algorithms()
        do { _ = try SizeSweep(min: minBytes.bytes, max: maxBytes?.bytes ?? minBytes.bytes, factor: factor) } catch { throw ValidationError("\(error)") }
        try FlagBounds.check(runs, "--runs", 1...10_000)
    }

    func rankCounts() throws -> [Int] {
        let list = try ranks.split(separator: ",").map { word -> Int in
            let text = word.trimmingCharacters(in: .whitespaces).uppercased()
            let scale = text.hasSuffix("M") ? 1_000_000 : text.hasSuffix("K") ? 1000 : 1
            guard let v = Int(scale == 1 ? text : String(text.dropLast())), v >= 1, v <= 10_000_000 / scale, v * scale >= 2 else {
                throw ValidationError("--ranks '\(word)' is not a rank count from 2 to 10M (e.g. 8, 1024, 4K, 1M)")
            }
            return v * scale
        }
        guard !list.isEmpty else { throw ValidationError("--ranks is empty") }
        return list
    }

    func algorithms() throws -> [ModelAlgorithm] {
        try algo.split(separator: ",").map { word in
            guard let a = ModelAlgorithm(rawValue: word.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--algo '\(word)' is not one of ring, tree, rd")
            }
            return a
        }
    }

    func run() throws {
        let profiles: [(files: [String], profile: ModelProfile)]
        do {
            profiles = try load()
        } catch let error as ReportError {
            throw RankFailure(description: error.singleLine, code: 2)
        } catch let error as ModelInputError {
            throw RankFailure(description: error.description, code: 2)
        }
        let sizes = try SizeSweep(min: minBytes.bytes, max: maxBytes?.bytes ?? minBytes.bytes, factor: factor).sizes
        let rankCounts = try rankCounts()
        let f = { (v: Double) in v >= 1e5 ? String(format: "%.4g", v) : String(format: "%.2f", v) }
        var all: [[Prediction]] = []
        for (index, (files, profile)) in profiles.enumerated() {
            let predictions = profile.predict(algorithms: try algorithms(), sizes: sizes, ranks: rankCounts, elementBytes: DataType(name: dtype)!.size, runs: runs, seed: seed)
            all.append(predictions)
            let l = profile.link
            let name = profiles.count > 1 ? "profile \(index == 0 ? "A" : "B") (\(files.joined(separator: " + "))): " : ""
            print("# model: \(name)per message \(String(format: "%.2f", l.alpha)) us mean latency at \(profile.latencyBytes) B (\(Int(l.latency.sampleCount)) samples), "
                  + "β \(String(format: "%.3g", l.beta)) us/B (\(profile.betaSource)), γ \(String(format: "%.3g", l.gamma)) us/B (\(profile.gammaSource))")
            let t = profile.topology
            if t.ranksPerHost > 1 {
                print("# two levels: \(t.ranksPerHost) ranks a host; in the host \(String(format: "%.2f", t.intra.alpha)) us, β \(String(format: "%.3g", t.intra.beta)) us/B (\(profile.intraSource ?? profile.betaSource)); "
                      + "across hosts β × \(String(format: "%g", t.oversubscription)) oversubscription = \(String(format: "%.3g", t.acrossHosts.beta)) us/B")
            } else if t.oversubscription != 1 {
                print("# one rank a host: every link is inter-host, β × \(String(format: "%g", t.oversubscription)) oversubscription = \(String(format: "%.3g", t.acrossHosts.beta)) us/B")
            }
            if t.delaySite == .sender { print("# --delay-at sender: each message's latency draw holds its sender before the message leaves") }
            print("# times in us; sim = dependency simulation; ab = α-β-γ mean (no jitter); sync = synchronous bound; * = extrapolated")
            let header = ["algo", "bytes", "ranks", "sim mean", "sim p50", "sim p99", "lower", "upper", "ab", "sync", "p99/ab"]
            let widths = [6, 12, 9, 11, 11, 11, 11, 11, 11, 11, 8]
            print(Self.row(header, widths))
            for p in predictions {
                print(Self.row([p.algo, "\(p.bytes)", "\(p.ranks)", f(p.meanUs), f(p.p50Us), f(p.p99Us) + (p.extrapolated ? "*" : ""), f(p.lowerUs), f(p.upperUs),
                                f(p.alphaBetaUs), f(p.synchronousUs), String(format: "%.2f", p.amplification)], widths))
            }
            for bytes in sizes {
                for n in rankCounts {
                    let here = predictions.filter { $0.bytes == bytes && $0.ranks == n }
                    if let best = here.min(by: { $0.meanUs < $1.meanUs }), here.count > 1 {
                        print("# \(ByteCount.format(bytes)) at \(n) ranks: \(best.algo) is fastest (mean \(f(best.meanUs)) us, p99 \(f(best.p99Us)) us)")
                    }
                }
            }
        }
        var comparison: [ProfileComparison]?
        if all.count == 2 {
            let rows = ProfileComparison.compare(all[0], all[1])
            comparison = rows
            print("# A against B: the faster is the lower simulated mean; by = slower ÷ faster")
            let widths = [6, 12, 9, 11, 11, 11, 11, 7, 7]
            print(Self.row(["algo", "bytes", "ranks", "A mean", "B mean", "A p99", "B p99", "faster", "by"], widths))
            for r in rows {
                print(Self.row([r.algo, "\(r.bytes)", "\(r.ranks)", f(r.aMeanUs), f(r.bMeanUs), f(r.aP99Us), f(r.bP99Us),
                                r.faster == "tie" ? "tie" : r.faster.uppercased(), String(format: "%.2f×", r.by)], widths))
            }
            let changes = ProfileComparison.crossovers(rows)
            for c in changes {
                print("# \(c.algo) \(c.bytes) B: \(c.from.uppercased()) is faster below \(c.ranks) ranks, \(c.to.uppercased()) from \(c.ranks) on")
            }
            if changes.isEmpty { print("# the faster profile is the same at every rank count modelled") }
        }
        if let json {
            let inputs = profiles.map { files, profile in
                ModelDocument.Inputs(files: files, latencyBytes: profile.latencyBytes, latencySamples: profile.link.latency.sampleCount, alphaUs: profile.link.alpha,
                                betaUsPerByte: profile.link.beta, betaSource: profile.betaSource, gammaUsPerByte: profile.link.gamma,
                                gammaSource: profile.gammaSource, ranksPerHost: profile.topology.ranksPerHost, oversubscription: profile.topology.oversubscription,
                                delayAt: profile.topology.delaySite.rawValue,
                                intra: profile.topology.ranksPerHost > 1
                                    ? ModelDocument.Link(alphaUs: profile.topology.intra.alpha, betaUsPerByte: profile.topology.intra.beta, source: profile.intraSource ?? profile.betaSource) : nil)
            }
            let document = ModelDocument(
                inputs: inputs[0], profiles: inputs.count > 1 ? inputs : nil,
                method: "dependency simulation (seed \(seed), up to \(runs) runs), α–β–γ mean, synchronous bound; see fabricbench model --help",
                predictions: all[0], predictionsB: all.count > 1 ? all[1] : nil, comparison: comparison)
            try JSONReport.writeValue(document, to: json, flag: "--json")
        }
    }

    static func row(_ cells: [String], _ widths: [Int]) -> String {
        zip(cells, widths).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }.joined(separator: " ")
    }

    /// Each calibrate profile or latency result starts a profile; a bandwidth result right
    /// after a latency result belongs to it, and an all-reduce result after either sets its γ.
    private func load() throws -> [(files: [String], profile: ModelProfile)] {
        struct Group {
            var files: [String]
            var latency: [(bytes: Int, histogram: LatencyHistogram)] = []
            var bandwidth: Double?
            var calibrated: ModelProfile?
            var allreduce: AllReduceRun?
        }
        var groups: [Group] = []
        let type = DataType(name: dtype) ?? .float32
        for path in files {
            if let profile = try CalibrationProfile.read(path) {
                groups.append(Group(files: [path], calibrated: try Self.profile(profile.results[0], dtype: type, path: path)))
                continue
            }
            switch try AnyRunDocument.read(path, shapes: FabricBench.resultShapes) {
            case .pointToPoint(let d) where d.command == "bandwidth":
                guard let last = groups.last, last.bandwidth == nil, last.calibrated == nil, last.allreduce == nil else {
                    throw ModelInputError("\(path) is a bandwidth result with no latency result right before it: give each profile's latency result first, then its bandwidth result (a calibrate profile has its own)")
                }
                groups[groups.count - 1].bandwidth = d.results.compactMap { $0.bandwidth?.gbps }.max()
                groups[groups.count - 1].files.append(path)
            case .pointToPoint(let d):
                let latency = try d.results.compactMap { r in try r.histogram.map { (r.bytes, try HistogramEncoding.decode($0)) } }
                guard !latency.isEmpty else { throw ModelInputError("\(path) holds no latency histogram: give the JSON of a `fabricbench latency` run") }
                groups.append(Group(files: [path], latency: latency))
            case .collective(let d) where d.command == "allreduce":
                guard let last = groups.last else {
                    throw ModelInputError("\(path) is an all-reduce result with no profile before it: give a latency result (or a calibrate profile) first, then the all-reduce result whose times set its γ")
                }
                if let earlier = last.allreduce {
                    throw ModelInputError("\(path): profile \(groups.count == 1 ? "A" : "B") already has an all-reduce result (\(earlier.path)): give one after each profile's files")
                }
                groups[groups.count - 1].allreduce = try AllReduceRun(d, dtype: type, path: path)
                groups[groups.count - 1].files.append(path)
            default:
                throw ModelInputError("\(path) is not a calibrate profile, latency, bandwidth or allreduce result")
            }
        }
        guard !groups.isEmpty else { throw ModelInputError("no profile among \(files.joined(separator: ", ")): give a `fabricbench calibrate` or `latency` JSON") }
        guard groups.count <= 2 else { throw ModelInputError("\(groups.count) profiles: model compares at most two profiles (A and B)") }
        let needsProbe = groups.contains { $0.calibrated == nil && $0.allreduce == nil }
        let gamma = needsProbe ? ReductionProbe.measure(type, clock: Clock.make(.monotonicRaw)) : 0
        return try groups.map { group in
            var profile = try group.calibrated
                ?? ModelProfile.fit(latency: group.latency, bandwidthGbps: group.bandwidth, gamma: gamma,
                                    gammaSource: "\(dtype) sum kernel timed on this host")
            if let run = group.allreduce {
                // One level, the profile's inter-host link (its only link when one class was measured).
                let fit = try ReductionFit.fit(run.sizes, link: profile.link, chunkBytes: run.chunkBytes)
                let runs = Set(fit.sizes.map { "\($0.algorithm.rawValue) on \($0.ranks) ranks" }).sorted().joined(separator: ", ")
                profile.setGamma(fit.gamma, source: "fitted to \(run.path): \(runs), \(fit.sizes.count) sizes from \(ByteCount.format(fit.sizes.map(\.bytes).min()!)), "
                                 + "per size \(String(format: "%.3g", fit.spread.lowerBound)) to \(String(format: "%.3g", fit.spread.upperBound)) us/B"
                                 + (run.startedTogether ? "" : "; its calls ran back to back, so their skew is in γ (run it with --barrier)"))
            }
            profile.topology.ranksPerHost = ranksPerHost
            profile.topology.oversubscription = oversubscription
            profile.topology.delaySite = delaySite
            return (group.files, profile)
        }
    }

    /// What an all-reduce result gives the γ fit: per size, the mean time of a sum of --dtype's
    /// type by an algorithm the model has, on the run's rank count (out of place where the
    /// run measured both placements), and the pipeline chunk the tree ran with.
    struct AllReduceRun {
        let path: String
        let sizes: [MeasuredAllReduce]
        let chunkBytes: Int
        /// Run with --barrier: each call from a common start, as the model's calls.
        let startedTogether: Bool

        init(_ d: RunDocument<CollectiveResult>, dtype: DataType, path: String) throws {
            for key in ["inject_jitter", "inject_delay"] where !(d.arguments[key] ?? "").isEmpty {
                throw ModelInputError("\(path) was run with \(ArgumentSpelling.flag(key)) \(d.arguments[key]!): its delays would be fitted as reduction time; give a run without it")
            }
            // A run measures one placement or both, for every size alike.
            let outOfPlace = d.results.filter { !$0.inplace }
            sizes = (outOfPlace.isEmpty ? d.results : outOfPlace).compactMap { r in
                guard r.op == "sum", DataType(name: r.dtype) == dtype, let algorithm = ModelAlgorithm(rawValue: r.algo) else { return nil }
                return MeasuredAllReduce(algorithm: algorithm, ranks: r.ranks.count, bytes: r.bytes, meanUs: r.timeUs)
            }
            guard !sizes.isEmpty else {
                throw ModelInputError("\(path) has no all-reduce size to fit γ to: it needs a sum of \(dtype.rawValue) (--dtype) by ring, tree or rd")
            }
            self.path = path
            chunkBytes = d.arguments["chunk"].flatMap { Int($0) } ?? PipelineTuning().chunkBytes
            startedTogether = d.arguments["barrier"] == "true"
        }
    }

    /// A calibrate profile's links: each class its own; where only one was measured (one host,
    /// or one rank a host) it stands in for the other, and the source says so.
    static func profile(_ p: CalibrationProfile, dtype: DataType, path: String) throws -> ModelProfile {
        guard let gamma = p.reduction.first(where: { $0.dtype == dtype.rawValue })?.usPerByte else {
            throw ModelInputError("\(path): results[0].reduction has no \(dtype.rawValue) entry: pass a --dtype it has (\(p.reduction.map(\.dtype).joined(separator: ", ")))")
        }
        func fit(_ l: LinkCalibration) throws -> (link: LinkCosts, bytes: Int, source: String) {
            let latency = try l.latency.compactMap { r in try r.histogram.map { (r.bytes, try HistogramEncoding.decode($0)) } }
            let (link, bytes, _) = try ModelProfile.fitLink(latency: latency, bandwidthGbps: l.perRankGbps, gamma: gamma)
            return (link, bytes, "calibrate \(l.level): \(String(format: "%.3g", l.perRankGbps)) GB/s a rank, \(2 * l.pairs.count) ranks sending")
        }
        let inter = try (p.link("inter") ?? p.link("intra")).map(fit)!
        let intra = try p.link("intra").map(fit)
        let stand = p.link("inter") == nil ? " (no inter-host link measured: the intra-host link stands in)" : ""
        return ModelProfile(topology: Topology(intra: intra?.link ?? inter.link, inter: inter.link),
                            latencyBytes: inter.bytes, betaSource: inter.source + stand,
                            intraSource: intra?.source ?? (inter.source + " (no intra-host link measured: the inter-host link stands in)"),
                            gammaSource: "calibrate's \(dtype.rawValue) sum kernel")
    }
}
