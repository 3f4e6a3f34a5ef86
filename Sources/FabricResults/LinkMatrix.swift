import FabricMeasure

/// `fabricbench matrix`: every pair of ranks measured on its own, as N×N matrices (row i,
/// column j = the link from rank i to rank j; latency is a round trip and so symmetric,
/// bandwidth is measured each way and is not; null on the diagonal), the links the outlier
/// rule flagged, and what they come down to: suspect hosts and ranks (see `Verdict`).
public struct LinkMatrixResult: Codable, Sendable {
    public var latencyBytes: Int
    public var latencyIterations: Int
    public var bandwidthBytes: Int
    public var bandwidthMessages: Int
    /// The pairs measured at the same time, round by round.
    public var rounds: [[[Int]]]
    /// Each link as a pair result: the latency summary (its histogram only with
    /// --histograms), `bandwidth` from ranks[0] to ranks[1], `reverse_bandwidth` back.
    public var links: [PairResult]
    /// Each rank's host, by rank, as the ranks reported it (--host-label).
    public var hosts: [String]?
    /// Each rank's NIC (device or interface), by rank (schema 4 on).
    public var nics: [String]?
    /// With --rails: each rank's rail (its local rank); only links within a rail were measured.
    public var rails: [Int]?
    public var latencyP50Us: [[Double?]]
    public var latencyP999Us: [[Double?]]
    /// Row = sender, column = receiver.
    public var bandwidthGbps: [[Double?]]
    /// The outlier rule, in words.
    public var rule: String
    /// One entry per flagged (link, metric) that was flagged again when measured alone.
    /// Bandwidth verdicts name the ranks as [sender, receiver].
    public var verdicts: [LinkVerdict]
    /// Flagged in the sweep, but not when measured again alone: a passing disturbance.
    public var transient: [LinkVerdict]?
    /// The flagged links, and samples of each suspect's links, measured again, alone (nil
    /// when re-testing was turned off).
    public var retests: [PairResult]?
    /// What the confirmed flags come down to: suspect hosts and ranks, then the links that
    /// no suspect explains. Empty: nothing is wrong.
    public var diagnosis: [Verdict]?
    /// Suspects whose links were fine when measured again alone.
    public var transientSuspects: [Verdict]?

    public init(latencyBytes: Int, latencyIterations: Int, bandwidthBytes: Int, bandwidthMessages: Int, rounds: [[[Int]]],
                links: [PairResult], hosts: [String], rule: String, verdicts: [LinkVerdict],
                transient: [LinkVerdict]? = nil, retests: [PairResult]? = nil,
                diagnosis: [Verdict] = [], transientSuspects: [Verdict]? = nil) {
        self.latencyBytes = latencyBytes
        self.latencyIterations = latencyIterations
        self.bandwidthBytes = bandwidthBytes
        self.bandwidthMessages = bandwidthMessages
        self.rounds = rounds
        self.links = links
        self.hosts = hosts
        let n = hosts.count
        latencyP50Us = LinkMetric.latencyP50.matrix(links, worldSize: n)
        latencyP999Us = LinkMetric.latencyP999.matrix(links, worldSize: n)
        bandwidthGbps = LinkMetric.bandwidth.matrix(links, worldSize: n)
        self.rule = rule
        self.verdicts = verdicts
        self.transient = transient
        self.retests = retests
        self.diagnosis = diagnosis
        self.transientSuspects = transientSuspects
    }

    /// The hosts that confirmed verdicts name (a group names several), each once.
    public var suspectHosts: [String] {
        var seen: [String] = []
        for v in diagnosis ?? [] where v.subject != .link { for h in v.hosts where !seen.contains(h) { seen.append(h) } }
        return seen
    }

    /// The (host, NIC) pairs that confirmed verdicts on some ranks of a host name ("node2
    /// mlx5_1"), each once: on a multi-NIC node, the part to pull.
    public var suspectNICs: [String] {
        var seen: [String] = []
        // Read from files too: a verdict without hosts names no pair rather than trapping.
        for v in diagnosis ?? [] where v.subject == .ranks {
            guard let host = v.hosts.first else { continue }
            for nic in v.nics ?? [] where !seen.contains("\(host) \(nic)") { seen.append("\(host) \(nic)") }
        }
        return seen
    }

    /// The ranks that confirmed verdicts implicate: every rank of a suspect host, and
    /// suspect ranks; not the ends of single links.
    public var suspectRanks: [Int] {
        Array(Set((diagnosis ?? []).filter { $0.subject != .link }.flatMap(\.ranks))).sorted()
    }

    /// The flagged links, each once, lowest rank first: the document's `outliers`.
    public var outliers: [[Int]] {
        var seen: [[Int]] = []
        for v in verdicts where !seen.contains(v.ranks.sorted()) { seen.append(v.ranks.sorted()) }
        return seen.sorted { ($0[0], $0[1]) < ($1[0], $1[1]) }
    }
}

/// The figures the outlier rule judges a link by; `rawValue` is the verdict's `metric`.
public enum LinkMetric: String, CaseIterable, Sendable {
    case latencyP50 = "latency_p50_us", latencyP999 = "latency_p999_us", bandwidth = "bandwidth_gbps"

    public var label: String {
        switch self {
        case .latencyP50: return "latency p50"
        case .latencyP999: return "latency p99.9"
        case .bandwidth: return "bandwidth"
        }
    }
    public var unit: String { self == .bandwidth ? "GB/s" : "us" }
    public var higherIsWorse: Bool { self != .bandwidth }
    /// A round trip has no direction; a stream does.
    public var directed: Bool { self == .bandwidth }
    /// The figure in `link` from ranks[0] to ranks[1] (`reverse`: back), nil when it has none.
    public func value(of link: PairResult, reverse: Bool = false) -> Double? {
        switch self {
        case .latencyP50: return link.oneWayUs?.p50
        case .latencyP999: return link.oneWayUs?.p999
        case .bandwidth: return (reverse ? link.reverseBandwidth : link.bandwidth)?.gbps
        }
    }

    /// Row = from, column = to; a link measured one way only (files before both directions
    /// were measured) fills both cells.
    public func matrix(_ links: [PairResult], worldSize n: Int) -> [[Double?]] {
        var m = [[Double?]](repeating: [Double?](repeating: nil, count: n), count: n)
        for link in links {
            let (a, b) = (link.ranks[0], link.ranks[1])
            guard a >= 0, b >= 0, a < n, b < n else { continue }
            m[a][b] = value(of: link)
            m[b][a] = directed ? value(of: link, reverse: true) ?? m[a][b] : m[a][b]
        }
        return m
    }
}

/// One confirmed finding of `matrix`, in words and figures.
public struct Verdict: Codable, Sendable, Equatable {
    public enum Subject: String, Codable, Sendable {
        /// Every rank of one host.
        case host
        /// Hosts slow to every host outside their group and fine among themselves (a shared
        /// switch or uplink).
        case hosts
        /// Some ranks of one host (a NIC, a GPU, a PCIe switch), the others fine.
        case ranks
        /// One link that no suspect explains.
        case link
    }
    public var subject: Subject
    public var hosts: [String]
    /// The ranks implicated; for a link, its two ends ([sender, receiver] for bandwidth).
    public var ranks: [Int]
    /// "sends", "receives" or "both" (a round trip has no direction).
    public var direction: FaultAttribution.Direction
    /// A `LinkMetric` raw value.
    public var metric: String
    /// Between hosts, or within one.
    public var betweenHosts: Bool
    /// The median of the suspect's links (a link's own figure).
    public var value: Double
    /// What it is judged against: the median of the links among the others.
    public var reference: Double
    public var ratio: Double
    public var text: String
    /// The NICs of `ranks`, in order, when the ranks reported them: a broken part on a
    /// multi-NIC node is a (host, NIC) pair.
    public var nics: [String]?
    /// With --rails: the rail of `ranks` when they share one.
    public var rail: Int?

    public init(subject: Subject, hosts: [String], ranks: [Int], direction: FaultAttribution.Direction, metric: String,
                betweenHosts: Bool, value: Double, reference: Double, text: String, nics: [String]? = nil, rail: Int? = nil) {
        self.subject = subject
        self.hosts = hosts
        self.ranks = ranks
        self.direction = direction
        self.metric = metric
        self.betweenHosts = betweenHosts
        self.value = value
        self.reference = reference
        ratio = reference > 0 ? value / reference : 0
        self.text = text
        self.nics = nics
        self.rail = rail
    }
}

public struct LinkVerdict: Codable, Sendable, Equatable {
    public var ranks: [Int]
    /// A `LinkMetric` raw value: "latency_p50_us", "latency_p999_us" or "bandwidth_gbps".
    public var metric: String
    public var value: Double
    public var median: Double
    public var ratio: Double
    public var text: String

    public init(ranks: [Int], metric: String, value: Double, median: Double, ratio: Double, text: String) {
        self.ranks = ranks
        self.metric = metric
        self.value = value
        self.median = median
        self.ratio = ratio
        self.text = text
    }
}
