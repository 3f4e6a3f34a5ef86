import FabricMeasure

/// Two levels of links: within a host and between hosts, each with its own costs. At R ranks
/// a host, an all-reduce over N ranks runs hierarchically: a ring reduce-scatter inside each
/// host (n bytes over R ranks), the chosen algorithm across the N/R hosts on each rank's n/R
/// bytes (R such groups at once, one a local rank), then a ring all-gather inside the host.
/// One rank a host (R = 1) is the flat all-reduce over the inter-host link.
public struct Topology: Sendable {
    public var intra: LinkCosts
    public var inter: LinkCosts
    public var ranksPerHost: Int
    /// Multiplies the inter-host β: a fabric with F times more host bandwidth at its edge than
    /// in its core gives each host 1/F of its link when every host sends at once.
    public var oversubscription: Double
    /// Where each message's latency draw is spent: in flight only, or holding its sender too.
    public var delaySite: DelaySite

    public init(intra: LinkCosts, inter: LinkCosts, ranksPerHost: Int = 1, oversubscription: Double = 1, delaySite: DelaySite = .network) {
        self.intra = intra
        self.inter = inter
        self.ranksPerHost = max(1, ranksPerHost)
        self.oversubscription = oversubscription
        self.delaySite = delaySite
    }

    /// One link class for everything, one rank a host.
    public static func flat(_ link: LinkCosts) -> Topology { Topology(intra: link, inter: link) }

    /// The inter-host link as the ranks see it when every host sends: β × oversubscription.
    public var acrossHosts: LinkCosts {
        var link = inter
        link.beta *= oversubscription
        return link
    }

    public func hosts(_ ranks: Int) -> Int { max(1, ranks / ranksPerHost) }

    public enum Level: Sendable { case intra, inter }

    /// On a network a message's delay holds only its arrival: the sender goes on. Noise on the
    /// sending rank (the operating system's, or `--inject-jitter`'s sleep before each send)
    /// holds the sender as well, so its own later steps, and its other messages, wait behind it.
    public enum DelaySite: String, Sendable, CaseIterable { case network, sender }

    /// One phase of the hierarchical all-reduce: `algorithm` over groups of `group` ranks, each
    /// group on `bytes`; `steps` is what each rank does in it, one after another.
    public struct Phase: Sendable {
        public var level: Level
        public var algorithm: ModelAlgorithm
        public var group: Int
        public var bytes: Double
        public var steps: [ModelAlgorithm.Step]
        /// Only a part of the ring's steps: the reduce-scatter or the all-gather half.
        public var ringHalf: RingHalf?
    }

    public enum RingHalf: Sendable { case reduceScatter, allGather }

    public func link(_ level: Level) -> LinkCosts { level == .intra ? intra : acrossHosts }

    /// The phases at N ranks: the in-host halves only when R > 1, the across-hosts phase only
    /// when there is more than one host. `ranks` must be a multiple of R (the CLI checks).
    public func phases(_ algorithm: ModelAlgorithm, bytes n: Double, ranks: Int, chunkBytes: Int) -> [Phase] {
        let r = min(ranksPerHost, ranks), h = hosts(ranks)
        var phases: [Phase] = []
        let inHost = r > 1 ? ModelAlgorithm.ring.steps(bytes: n, ranks: r) : []
        if r > 1 {
            phases.append(Phase(level: .intra, algorithm: .ring, group: r, bytes: n, steps: Array(inHost.prefix(r - 1)), ringHalf: .reduceScatter))
        }
        if h > 1 {
            let share = n / Double(r)
            phases.append(Phase(level: .inter, algorithm: algorithm, group: h, bytes: share,
                                steps: algorithm.steps(bytes: share, ranks: h, chunkBytes: chunkBytes), ringHalf: nil))
        }
        if r > 1 {
            phases.append(Phase(level: .intra, algorithm: .ring, group: r, bytes: n, steps: Array(inHost.suffix(r - 1)), ringHalf: .allGather))
        }
        return phases
    }
}
