import FabricMeasure

/// `fabricbench matrix`: every pair of ranks measured on its own, as N×N matrices (row i,
/// column j = the link between ranks i and j; symmetric, null on the diagonal), plus the
/// links the outlier rule flagged.
public struct LinkMatrixResult: Codable, Sendable {
    public var latencyBytes: Int
    public var latencyIterations: Int
    public var bandwidthBytes: Int
    public var bandwidthMessages: Int
    /// The pairs measured at the same time, round by round.
    public var rounds: [[[Int]]]
    /// Each link as a pair result (the latency summary and histogram, the bandwidth).
    public var links: [PairResult]
    public var latencyP50Us: [[Double?]]
    public var latencyP999Us: [[Double?]]
    public var bandwidthGbps: [[Double?]]
    /// The outlier rule, in words.
    public var rule: String
    /// One entry per flagged (link, metric) that was flagged again when measured alone.
    public var verdicts: [LinkVerdict]
    /// Flagged in the sweep, but not when measured again alone: a passing disturbance.
    public var transient: [LinkVerdict]?
    /// The flagged links measured again, alone (nil when re-testing was turned off).
    public var retests: [PairResult]?

    public init(latencyBytes: Int, latencyIterations: Int, bandwidthBytes: Int, bandwidthMessages: Int, rounds: [[[Int]]],
                links: [PairResult], worldSize n: Int, rule: String, verdicts: [LinkVerdict],
                transient: [LinkVerdict]? = nil, retests: [PairResult]? = nil) {
        self.latencyBytes = latencyBytes
        self.latencyIterations = latencyIterations
        self.bandwidthBytes = bandwidthBytes
        self.bandwidthMessages = bandwidthMessages
        self.rounds = rounds
        self.links = links
        func matrix(_ value: (PairResult) -> Double?) -> [[Double?]] {
            var m = [[Double?]](repeating: [Double?](repeating: nil, count: n), count: n)
            for link in links {
                let (a, b) = (link.ranks[0], link.ranks[1])
                m[a][b] = value(link)
                m[b][a] = m[a][b]
            }
            return m
        }
        latencyP50Us = matrix(LinkMetric.latencyP50.value)
        latencyP999Us = matrix(LinkMetric.latencyP999.value)
        bandwidthGbps = matrix(LinkMetric.bandwidth.value)
        self.rule = rule
        self.verdicts = verdicts
        self.transient = transient
        self.retests = retests
    }

    /// The flagged links, each once, lowest rank first: the document's `outliers`.
    public var outliers: [[Int]] {
        var seen: [[Int]] = []
        for v in verdicts where !seen.contains(v.ranks) { seen.append(v.ranks) }
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
    /// The figure in `link`, nil when the link has none.
    public func value(of link: PairResult) -> Double? {
        switch self {
        case .latencyP50: return link.oneWayUs?.p50
        case .latencyP999: return link.oneWayUs?.p999
        case .bandwidth: return link.bandwidth?.gbps
        }
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
