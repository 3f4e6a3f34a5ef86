import FabricMeasure
import FabricResults
import FabricCore
import Foundation

public struct MatrixOptions: Sendable {
    public var latencyBytes = 8
    public var latencyIterations = 1000
    public var bandwidthBytes = 1 << 20
    public var bandwidthMessages = 64
    public var window = 16
    public var warmup = 50
    /// One pair at a time instead of rounds of disjoint pairs.
    public var serial = false
    /// Measure each flagged link again, alone, and keep only the verdicts that hold.
    public var retest = true
    /// Keep each link's histograms (latency, and bandwidth per window each way) in the result:
    /// N²/2 of each.
    public var histograms = false
    /// Measure only these pairs ([a, b], a < b); nil: every pair.
    public var only: [[Int]]?
    /// The pairs were chosen rail by rail (`railLinks`): record each rank's rail and name it
    /// in the verdicts.
    public var rails = false
    public var rule = OutlierRule()
    public init() {}
}

/// The all-pairs link check: every pair of ranks measures latency (ping-pong) and then
/// bandwidth (a stream each way) between the two of them, in rounds of disjoint pairs; rank 0
/// builds the N×N matrices, and `MatrixDiagnosis` names the suspect hosts, ranks and links.
public final class MatrixBenchmark {
    let job: Job
    let options: MatrixOptions
    let latency: LatencyBenchmark
    let bandwidth: BandwidthBenchmark

    public init(job: Job, options: MatrixOptions, clock: Clock) {
        self.job = job
        self.options = options
        var l = LatencyOptions()
        l.sizes = [options.latencyBytes]
        l.iterations = options.latencyIterations
        l.warmup = options.warmup
        latency = LatencyBenchmark(job: job, options: l, clock: clock)
        var b = BandwidthOptions()
        b.sizes = [options.bandwidthBytes]
        b.iterations = options.bandwidthMessages
        b.warmup = min(options.window, options.bandwidthMessages)
        b.window = options.window
        bandwidth = BandwidthBenchmark(job: job, options: b, clock: clock)
    }

    /// What one end of a pair reports: the lower rank the ping-pong, each end the stream
    /// it sent (both directions are measured, one after the other).
    struct LinkReport: Codable {
        var latency: LatencyBenchmark.PairReport?
        var sent: BandwidthBenchmark.PairReport?
    }

    /// Every pair once, in rounds of disjoint pairs (or one a round with --serial); with
    /// `only`, just those pairs.
    public var rounds: [[(Int, Int)]] {
        if let only = options.only { return PairSchedule.rounds(of: only.map { ($0[0], $0[1]) }, serial: options.serial) }
        return options.serial ? PairSchedule.serial(worldSize: job.worldSize) : PairSchedule.rounds(worldSize: job.worldSize)
    }

    /// Runs every round; rank 0 gets the matrix, the others nil. `onRound` (rank 0) hears
    /// each round's number as it completes, for progress.
    public func run(onRound: (_ done: Int, _ of: Int) -> Void = { _, _ in }) throws -> LinkMatrixResult? {
        let n = job.worldSize
        guard n >= 2 else { throw FabricError.configuration("matrix needs at least 2 ranks (got \(n))") }
        let schedule = rounds
        // Every pair may be measured again (a suspect's sample), so every rank connects to all.
        try job.transport.connect(to: (0..<n).filter { $0 != job.rank })
        let placements = job.rank == 0 ? try job.placements() : []
        let hosts = placements.map(\.host)
        let nics = placements.map(\.nic)
        let rails = options.rails ? Rails.of(placements) : nil
        var links: [PairResult] = []
        for (index, round) in schedule.enumerated() {
            links += try measure(round, key: "matrix/\(index)", hosts: hosts)
            onRound(index + 1, schedule.count)
        }
        links.sort { ($0.ranks[0], $0.ranks[1]) < ($1.ranks[0], $1.ranks[1]) }
        let diagnosis = job.rank == 0 ? MatrixDiagnosis(rule: options.rule, hosts: hosts, nics: nics, rails: rails) : nil
        let outcome = diagnosis?.diagnose(links)

        // A passing hiccup on a host (another tenant, a stalled scheduler) can make a healthy
        // link or host look bad once; a bad one stays bad. So flagged links, and samples of
        // each suspect's links, are measured again, alone, and a verdict stands only if the
        // new figures say the same.
        let plan = try job.control.decide("matrix/retest", what: "list of links to measure again") {
            options.retest ? diagnosis!.retestPlan(outcome!) : []
        }
        var retests: [PairResult] = []
        for (index, pair) in plan.enumerated() {
            retests += try measure([(pair[0], pair[1])], key: "matrix/retest/\(index)", hosts: hosts)
        }
        guard let diagnosis, let outcome else { return nil }
        // Without re-tests the sweep's figures stand, and so every verdict holds.
        let settled = options.retest ? diagnosis.settle(outcome, links: links, retests: retests)
            : (holds: outcome.verdicts, transient: [], links: outcome.linkVerdicts, transientLinks: [])
        if !options.histograms {
            func strip(_ link: inout PairResult) {
                link.histogram = nil
                link.bandwidth?.windowHistogram = nil
                link.reverseBandwidth?.windowHistogram = nil
            }
            for i in links.indices { strip(&links[i]) }
            for i in retests.indices { strip(&retests[i]) }
        }
        var result = LinkMatrixResult(latencyBytes: options.latencyBytes, latencyIterations: options.latencyIterations,
                                bandwidthBytes: options.bandwidthBytes, bandwidthMessages: options.bandwidthMessages,
                                rounds: schedule.map { $0.map { [$0.0, $0.1] } }, links: links, hosts: hosts,
                                rule: options.rule.description, verdicts: settled.links,
                                transient: options.retest ? settled.transientLinks : nil, retests: options.retest ? retests : nil,
                                diagnosis: settled.holds, transientSuspects: options.retest ? settled.transient : nil)
        result.nics = nics
        result.rails = rails
        return result
    }

    /// `--rails`: the links between ranks of the same rail on different hosts, chosen by rank 0
    /// from every rank's placement and handed to all. Collective. On a rail-optimized fabric
    /// NIC i of every node hangs off the leaf of rail i: these links are what a rail carries.
    public static func railLinks(job: Job) throws -> [[Int]] {
        let pairs: [[Int]]? = try job.control.decide("matrix/rails", what: "links of each rail") {
            let placements = try job.placements()
            let links = Rails.links(placements)
            return links.isEmpty ? nil : links
        }
        guard let pairs else {
            throw FabricError.configuration("matrix --rails: no two ranks on different hosts share a rail (a rail joins local rank i of every host; all \(job.worldSize) ranks report one host, or each host runs other local ranks): run on at least two hosts, or drop --rails")
        }
        return pairs
    }

    /// One round: each pair measures latency, then a stream each way; rank 0 gets the
    /// pairs' results, the others an empty list.
    private func measure(_ round: [(Int, Int)], key: String, hosts: [String]) throws -> [PairResult] {
        try job.barrier(key)
        var payload: LinkReport?
        if let role = PairSchedule.role(of: job.rank, in: round) {
            let l = try latency.measure(size: options.latencyBytes, role: role)
            let forward = try bandwidth.measure(size: options.bandwidthBytes, role: role)
            let back = try bandwidth.measure(size: options.bandwidthBytes, role: RankPairs.Role(peer: role.peer, initiator: !role.initiator))
            payload = LinkReport(latency: l, sent: forward ?? back)
        }
        let ends = round.flatMap { [$0.0, $0.1] }
        guard let reports = try job.control.gather(key, payload, from: ends, what: "link report") else { return [] }
        return try round.enumerated().map { index, pair in
            let (a, b) = pair
            let (first, second) = (reports[2 * index], reports[2 * index + 1])
            guard let l = first.latency, let forward = first.sent, let back = second.sent else {
                throw FabricError.protocolViolation(peer: "rank \(a) or rank \(b)", detail: "a link report lacks its latency or stream")
            }
            var link = PairResult(ranks: [a, b], hosts: [hosts[a], hosts[b]])
            link.histogram = l.histogram
            link.oneWayUs = LatencySummary(try HistogramEncoding.decode(l.histogram))
            link.bandwidth = try figures(forward)
            link.reverseBandwidth = try figures(back)
            return link
        }
    }

    private func figures(_ r: BandwidthBenchmark.PairReport) throws -> BandwidthFigures {
        bandwidth.figures(size: options.bandwidthBytes, iterations: r.iterations, nanoseconds: r.nanoseconds,
                          windows: try HistogramEncoding.decode(r.windowHistogram))
    }
}
