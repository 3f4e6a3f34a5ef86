import FabricMeasure
import Foundation

/// A result file is input, like a network message: after decoding, its shape is checked here,
/// once, so that everything computing from a document (compare's statistics, the tables, the
/// HTML charts) may rely on these rules instead of re-checking, and a damaged or crafted file
/// is refused naming the field instead of trapping in a conversion or an index.
///
/// The rules:
/// - every floating-point figure is finite; measured figures (times, bandwidths, rates,
///   ratios, statistics) are within 0...`maximumFigure`;
/// - sizes in bytes are in 0..<2^50, counts (iterations, messages, samples, wrong elements)
///   in 0...2^53, the world size in 1...2^20, the cores in 0...2^20;
/// - a rank index is inside the world (a collective's `root` may also be -1: none);
/// - per-rank arrays have the world's length (`rank_hosts`, a collective's `ranks`, the
///   straggler report's per-rank lists), a pair's `ranks` and `hosts` have 2 entries, a
///   matrix has `world_size` rows of `world_size` cells;
/// - every histogram decodes (HistogramEncoding.decode: shape, sample cap, length);
/// - `schema_version` is 1...`currentSchemaVersion`.
public struct InvalidDocument: Error, CustomStringConvertible {
    /// Where, as a JSON path: `results[3].ranks[1].p50_us`.
    public let field: String
    public let problem: String
    public var description: String { "\(field): \(problem)" }
}

extension AnyRunDocument {
    public static let maximumWorldSize = 1 << 20
    /// Exclusive: 1 PiB, far above any message (the flags stop at 1 TiB).
    public static let maximumBytes = 1 << 50
    /// Inclusive: integers up to here are exact as Doubles.
    public static let maximumCount = 1 << 53
    /// Times in µs, bandwidths in GB/s, rates, ratios: far above anything measured (10^15 µs is
    /// 30 years), low enough that sums and products over a document stay finite.
    public static let maximumFigure = 1e15

    /// Throws `InvalidDocument` naming the first field that breaks a rule (see InvalidDocument).
    public func validate() throws(InvalidDocument) {
        let root = FieldPath()
        switch self {
        case .pointToPoint(let d):
            try Self.header(d, root)
            for (i, r) in d.results.enumerated() { try Self.pointToPoint(r, root["results"][i], world: d.environment.worldSize) }
        case .collective(let d):
            try Self.header(d, root)
            let world = d.environment.worldSize
            for (i, r) in d.results.enumerated() { try Self.collective(r, root["results"][i], world: world) }
            if let s = d.stragglers { try Self.stragglers(s, root["stragglers"], world: world) }
        case .matrix(let d):
            try Self.header(d, root)
            let world = d.environment.worldSize
            for (i, r) in d.results.enumerated() { try Self.matrix(r, root["results"][i], world: world) }
            for (i, pair) in (d.outliers ?? []).enumerated() { try root["outliers"][i].pair(pair, world: world) }
            for (i, r) in (d.suspectRanks ?? []).enumerated() { try root["suspect_ranks"][i].rank(r, world: world) }
            for (i, v) in (d.verdicts ?? []).enumerated() { try Self.verdict(v, root["verdicts"][i], world: world) }
        }
    }

    private static func header<R>(_ d: RunDocument<R>, _ p: FieldPath) throws(InvalidDocument) {
        guard (1...currentSchemaVersion).contains(d.schemaVersion) else {
            throw p["schema_version"].invalid("\(d.schemaVersion) is not a schema version this build reads (1...\(currentSchemaVersion))")
        }
        let e = d.environment, env = p["environment"]
        try env["world_size"].within(e.worldSize, 1...maximumWorldSize)
        try env["cores"].within(e.cores, 0...maximumWorldSize)
        guard e.rankHosts.count == e.worldSize else {
            throw env["rank_hosts"].invalid("\(e.rankHosts.count) hosts for a world of \(e.worldSize) ranks")
        }
    }

    private static func pointToPoint(_ r: PointToPointResult, _ p: FieldPath, world: Int) throws(InvalidDocument) {
        try p["bytes"].size(r.bytes)
        try p["iterations"].count(r.iterations)
        try p["warmup_iterations"].count(r.warmupIterations)
        if let w = r.wrongBytes { try p["wrong_bytes"].count(w) }
        try measurements(oneWay: r.oneWayUs, histogram: r.histogram, bandwidth: r.bandwidth, p)
        for (i, pair) in r.pairs.enumerated() { try self.pair(pair, p["pairs"][i], world: world) }
    }

    private static func pair(_ r: PairResult, _ p: FieldPath, world: Int) throws(InvalidDocument) {
        try p["ranks"].pair(r.ranks, world: world)
        guard r.hosts.count == 2 else { throw p["hosts"].invalid("\(r.hosts.count) hosts for a pair of ranks") }
        try measurements(oneWay: r.oneWayUs, histogram: r.histogram, bandwidth: r.bandwidth, p)
        try measurements(oneWay: nil, histogram: nil, bandwidth: r.reverseBandwidth, p, bandwidthKey: "reverse_bandwidth")
    }

    private static func measurements(oneWay: LatencySummary?, histogram: String?, bandwidth: BandwidthFigures?, _ p: FieldPath,
                                     bandwidthKey: String = "bandwidth") throws(InvalidDocument) {
        if let s = oneWay {
            let q = p["one_way_us"]
            guard s.count <= UInt64(maximumCount) else { throw q["count"].invalid("\(s.count) is above \(maximumCount)") }
            for (key, v) in [("min", s.min), ("p50", s.p50), ("p90", s.p90), ("p99", s.p99), ("p999", s.p999), ("p9999", s.p9999),
                             ("max", s.max), ("mean", s.mean), ("stdev", s.stdev), ("mad", s.mad), ("cv", s.cv)] {
                try q[key].figure(v)
            }
        }
        if let h = histogram { try p["histogram"].histogram(h) }
        if let b = bandwidth {
            let q = p[bandwidthKey]
            try q["gbps"].figure(b.gbps)
            try q["message_rate_mpps"].figure(b.messageRateMpps)
            try q["window"].count(b.window)
            try q["seconds"].figure(b.seconds)
            if let w = b.windowGbps {
                try q["window_gbps"]["min"].figure(w.min)
                try q["window_gbps"]["p50"].figure(w.p50)
                try q["window_gbps"]["max"].figure(w.max)
            }
            if let h = b.windowHistogram { try q["window_histogram"].histogram(h) }
        }
    }

    private static func collective(_ r: CollectiveResult, _ p: FieldPath, world: Int) throws(InvalidDocument) {
        try p["bytes"].size(r.bytes)
        try p["count"].size(r.count)
        guard r.root == -1 || (0..<world).contains(r.root) else {
            throw p["root"].invalid("rank \(r.root) is outside the world of \(world) ranks (-1: no root)")
        }
        try p["iterations"].count(r.iterations)
        try p["warmup_iterations"].count(r.warmupIterations)
        for (key, v) in [("time_us", r.timeUs), ("time_p50_us", r.timeP50Us), ("time_p99_us", r.timeP99Us),
                         ("algbw_gbps", r.algbwGbps), ("busbw_gbps", r.busbwGbps)] {
            try p[key].figure(v)
        }
        if let w = r.wrong { try p["wrong"].count(w) }
        for (i, m) in (r.mismatches ?? []).enumerated() {
            let q = p["mismatches"][i]
            try q["rank"].rank(m.rank, world: world)
            try q["index"].count(m.index)
            try q["expected"].finite(m.expected)
            try q["got"].finite(m.got)
        }
        try p["histogram"].histogram(r.histogram)
        guard r.ranks.count == world else { throw p["ranks"].invalid("\(r.ranks.count) ranks' timings for a world of \(world) ranks") }
        for (i, t) in r.ranks.enumerated() {
            let q = p["ranks"][i]
            try q["rank"].rank(t.rank, world: world)
            for (key, v) in [("mean_us", t.meanUs), ("p50_us", t.p50Us), ("p99_us", t.p99Us), ("max_us", t.maxUs), ("late_us", t.lateUs)] {
                try q[key].figure(v)
            }
        }
    }

    private static func stragglers(_ s: StragglerReport, _ p: FieldPath, world: Int) throws(InvalidDocument) {
        try p["k"].figure(s.k)
        try p["spike_k"].figure(s.spikeK)
        if let r = s.slowestRank { try p["slowest_rank"].rank(r, world: world) }
        try p["slowest_late_us"].figure(s.slowestLateUs)
        try p["slowest_late_fraction"].figure(s.slowestLateFraction)
        for (i, r) in s.flaggedRanks.enumerated() { try p["flagged_ranks"][i].rank(r, world: world) }
        for (key, list) in [("per_rank_late_us", s.perRankLateUs), ("per_rank_median_us", s.perRankMedianUs)] {
            guard list.count == world else { throw p[key].invalid("\(list.count) entries for a world of \(world) ranks") }
            for (i, v) in list.enumerated() { try p[key][i].figure(v) }
        }
        for (i, spike) in s.spikes.enumerated() {
            let q = p["spikes"][i]
            try q["bytes"].size(spike.bytes)
            try q["iteration"].count(spike.iteration)
            try q["time_us"].figure(spike.timeUs)
            try q["median_us"].figure(spike.medianUs)
            try q["late_rank"].rank(spike.lateRank, world: world)
        }
    }

    private static func matrix(_ m: LinkMatrixResult, _ p: FieldPath, world: Int) throws(InvalidDocument) {
        try p["latency_bytes"].size(m.latencyBytes)
        try p["latency_iterations"].count(m.latencyIterations)
        try p["bandwidth_bytes"].size(m.bandwidthBytes)
        try p["bandwidth_messages"].count(m.bandwidthMessages)
        for (i, round) in m.rounds.enumerated() {
            for (j, pair) in round.enumerated() { try p["rounds"][i][j].pair(pair, world: world) }
        }
        for (i, link) in m.links.enumerated() { try pair(link, p["links"][i], world: world) }
        for (key, grid) in [("latency_p50_us", m.latencyP50Us), ("latency_p999_us", m.latencyP999Us), ("bandwidth_gbps", m.bandwidthGbps)] {
            guard grid.count == world else { throw p[key].invalid("\(grid.count) rows for a world of \(world) ranks") }
            for (i, row) in grid.enumerated() {
                guard row.count == world else { throw p[key][i].invalid("\(row.count) cells in a row of a \(world)×\(world) matrix") }
                for (j, cell) in row.enumerated() { if let v = cell { try p[key][i][j].figure(v) } }
            }
        }
        for (key, list) in [("verdicts", m.verdicts), ("transient", m.transient ?? [])] {
            for (i, v) in list.enumerated() {
                let q = p[key][i]
                try q["ranks"].pair(v.ranks, world: world)
                try q["value"].figure(v.value)
                try q["median"].figure(v.median)
                try q["ratio"].figure(v.ratio)
            }
        }
        for (i, link) in (m.retests ?? []).enumerated() { try pair(link, p["retests"][i], world: world) }
        if let hosts = m.hosts, hosts.count != world { throw p["hosts"].invalid("\(hosts.count) hosts for a world of \(world) ranks") }
        for (key, list) in [("diagnosis", m.diagnosis ?? []), ("transient_suspects", m.transientSuspects ?? [])] {
            for (i, v) in list.enumerated() { try verdict(v, p[key][i], world: world) }
        }
    }

    private static func verdict(_ v: Verdict, _ p: FieldPath, world: Int) throws(InvalidDocument) {
        guard !v.ranks.isEmpty, v.ranks.count <= world else { throw p["ranks"].invalid("\(v.ranks.count) ranks in a verdict on a world of \(world)") }
        for (i, r) in v.ranks.enumerated() { try p["ranks"][i].rank(r, world: world) }
        guard v.hosts.count <= world else { throw p["hosts"].invalid("\(v.hosts.count) hosts in a verdict on a world of \(world)") }
        try p["value"].figure(v.value)
        try p["reference"].figure(v.reference)
        try p["ratio"].figure(v.ratio)
    }
}

/// A JSON path being checked, and the rules for one value at it.
struct FieldPath {
    var text = ""

    subscript(key: String) -> FieldPath { FieldPath(text: text.isEmpty ? key : "\(text).\(key)") }
    subscript(index: Int) -> FieldPath { FieldPath(text: "\(text)[\(index)]") }

    func invalid(_ problem: String) -> InvalidDocument { InvalidDocument(field: text, problem: problem) }

    func within(_ v: Int, _ range: ClosedRange<Int>) throws(InvalidDocument) {
        guard range.contains(v) else { throw invalid("\(v) is outside \(range.lowerBound)...\(range.upperBound)") }
    }
    func size(_ v: Int) throws(InvalidDocument) {
        guard v >= 0 && v < AnyRunDocument.maximumBytes else { throw invalid("\(v) bytes is outside 0..<2^50") }
    }
    func count(_ v: Int) throws(InvalidDocument) {
        guard v >= 0 && v <= AnyRunDocument.maximumCount else { throw invalid("\(v) is outside 0...2^53") }
    }
    func rank(_ v: Int, world: Int) throws(InvalidDocument) {
        guard v >= 0 && v < world else { throw invalid("rank \(v) is outside the world of \(world) ranks") }
    }
    /// Two distinct ranks of the world.
    func pair(_ ranks: [Int], world: Int) throws(InvalidDocument) {
        guard ranks.count == 2 else { throw invalid("\(ranks.count) ranks where a pair has 2") }
        try self[0].rank(ranks[0], world: world)
        try self[1].rank(ranks[1], world: world)
        guard ranks[0] != ranks[1] else { throw invalid("rank \(ranks[0]) paired with itself") }
    }
    func finite(_ v: Double) throws(InvalidDocument) {
        guard v.isFinite else { throw invalid("\(v) is not a finite number") }
    }
    /// A measured figure: finite, 0...maximumFigure.
    func figure(_ v: Double) throws(InvalidDocument) {
        try finite(v)
        guard v >= 0 && v <= AnyRunDocument.maximumFigure else { throw invalid("\(v) is outside 0...1e15") }
    }
    func histogram(_ text: String) throws(InvalidDocument) {
        do {
            _ = try HistogramEncoding.decode(text)
        } catch {
            throw invalid("\(error)")
        }
    }
}
