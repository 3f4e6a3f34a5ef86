import Foundation

/// From the links of an all-pairs measurement, the smallest set of hosts, or of ranks within
/// a host, that explains the bad links, with the direction that is bad.
///
/// Judging each link against the median link fails exactly where it matters: one bad host
/// among four spoils half the links, so the median link sits between good and bad and
/// nothing is flagged. The question is the other way round: is a host's own traffic worse
/// than the traffic among the others? So hosts are judged one at a time against the links
/// that do not touch them, greedily: the worst host that the rule flags becomes a suspect,
/// its links leave the reference, and the search goes on until no host is flagged. A group
/// of hosts slow to everyone outside it (one bad switch) falls out the same way, one host a
/// step. Then each rank is judged against the links among the hosts that are not suspects,
/// which tells a whole bad host (all its ranks flagged) from one bad NIC or GPU in it.
///
/// Links within a host take another path (shared memory, the PCIe switch, a loopback) than
/// links between hosts, so they are judged apart: the ranks of a host with at least three of
/// them against each other, by the same search.
///
/// The rule is `OutlierRule`'s, on log values: a unit is flagged when the median of its
/// links is at least `minimumRatio` times worse than the median of the reference links and
/// more than `k` robust standard errors (1.4826·MAD of the reference's logs over √links)
/// away from it. A unit needs at least two other units to be judged against.
public struct FaultAttribution: Sendable {
    public enum Direction: String, Codable, Sendable {
        /// What the unit sends is slow (a bad transmit lane, a shaped egress).
        case sends
        /// What the unit receives is slow.
        case receives
        /// Both, or a figure of a round trip that has no direction.
        case both
    }

    /// One suspect: hosts (every rank of them), or some ranks of one host.
    public struct Finding: Sendable, Equatable {
        /// Host indices; several for a group (hosts slow to every host outside the group and
        /// fine among themselves).
        public var hosts: [Int]
        /// The ranks implicated: all ranks of `hosts` when `wholeHosts`.
        public var ranks: [Int]
        public var wholeHosts: Bool
        public var direction: Direction
        /// Median of the suspect's links in `direction`.
        public var value: Double
        /// Median of the links it was judged against.
        public var reference: Double
        public var ratio: Double { reference > 0 ? value / reference : 0 }
        /// Whether the links were between hosts (false: within one host).
        public var betweenHosts: Bool
    }

    public var rule: OutlierRule
    /// Reference sets larger than this are sampled evenly: robust statistics of 4,096 links
    /// are as good as of all, and a matrix of 1,024 ranks stays fast to judge.
    public var referenceSample = 4096

    public init(rule: OutlierRule = OutlierRule()) { self.rule = rule }

    /// `values[i][j]`: the figure of the link from rank i to rank j (nil or not positive: not
    /// measured). `symmetric`: the figure has no direction (a round-trip latency), so only
    /// `.both` is reported. `hostOfRank[i]`: rank i's host, 0..<hosts.
    public func attribute(values: [[Double?]], hostOfRank: [Int], higherIsWorse: Bool, symmetric: Bool) -> [Finding] {
        let n = values.count
        guard n == hostOfRank.count, n >= 3, values.allSatisfy({ $0.count == n }) else { return [] }
        // One flat table (0 = not measured): the nested optionals cost a lot to walk.
        var table = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { table[i * n + j] = Self.usable(values[i][j]) ?? 0 } }
        let link = { (i: Int, j: Int) -> Double? in let v = table[i * n + j]; return v > 0 ? v : nil }
        let hostCount = (hostOfRank.max() ?? -1) + 1
        let ranksOf = (0..<hostCount).map { h in (0..<n).filter { hostOfRank[$0] == h } }
        let judge = Judge(rule: rule, higherIsWorse: higherIsWorse, symmetric: symmetric, sample: referenceSample)
        var findings: [Finding] = []

        if hostCount >= 3 {
            // Host level: a host pair's figure is the median of its rank pairs' figures.
            var hostTable = [Double](repeating: 0, count: hostCount * hostCount)
            var scratch: [Double] = []
            for g in 0..<hostCount {
                for h in 0..<hostCount where g != h {
                    scratch.removeAll(keepingCapacity: true)
                    for i in ranksOf[g] { for j in ranksOf[h] where table[i * n + j] > 0 { scratch.append(table[i * n + j]) } }
                    if !scratch.isEmpty { hostTable[g * hostCount + h] = RobustStatistics.median(scratch) }
                }
            }
            let hostLink = { (g: Int, h: Int) -> Double? in let v = hostTable[g * hostCount + h]; return v > 0 ? v : nil }
            let suspects = judge.search(units: Array(0..<hostCount), value: hostLink)
            let suspectHosts = Set(suspects.keys)
            // Rank level, between hosts: the ranks of hosts that are not suspects by the same
            // greedy search, so a rank is judged against links that are not its own (one bad
            // NIC's links are a quarter of a small rail's and would widen the spread it is
            // judged by); then the ranks of suspect hosts against the links among the rest.
            let betweenHosts = { (i: Int, j: Int) in hostOfRank[i] == hostOfRank[j] ? nil : link(i, j) }
            let clean = (0..<n).filter { !suspectHosts.contains(hostOfRank[$0]) }
            var flaggedRanks = judge.search(units: clean, value: betweenHosts)
            let cleanRanks = clean.filter { flaggedRanks[$0] == nil }
            if !suspectHosts.isEmpty, let reference = judge.reference(cleanRanks, value: betweenHosts) {
                for i in 0..<n where suspectHosts.contains(hostOfRank[i]) {
                    let peers = cleanRanks.filter { hostOfRank[$0] != hostOfRank[i] }
                    if let flag = judge.flag(i, peers: peers, value: link, against: reference) { flaggedRanks[i] = flag }
                }
            }
            // A host whose ranks are all flagged, or a suspect host with none flagged singly (a
            // diffuse fault), is named as a host; one with only some flagged by those ranks.
            var named: [Int: Judge.Flag] = [:]
            for host in 0..<hostCount {
                let ranks = ranksOf[host].filter { flaggedRanks[$0] != nil }
                if ranks.count == ranksOf[host].count, let first = ranks.first {
                    named[host] = suspects[host] ?? flaggedRanks[first]
                } else if ranks.isEmpty, let flag = suspects[host] {
                    named[host] = flag
                } else if !ranks.isEmpty {
                    findings += Self.rankFindings(ranks, host: host, flags: flaggedRanks, betweenHosts: true)
                }
            }
            findings += Self.groups(named, ranksOf: ranksOf, hostLink: hostLink, judge: judge)
        }
        // Within each host, rank against rank, with the spread of all links within hosts (each
        // host's around its own median) as the floor: a host has few such links.
        var withinHost = judge
        withinHost.spreadFloor = 1.4826 * RobustStatistics.mad(ranksOf.flatMap { ranks -> [Double] in
            let logs = ranks.flatMap { i in ranks.compactMap { j in link(i, j).map(log) } }
            let center = RobustStatistics.median(logs)
            return logs.map { $0 - center }
        })
        for (host, ranks) in ranksOf.enumerated() where ranks.count >= 3 {
            let suspects = withinHost.search(units: ranks, value: link)
            findings += Self.rankFindings(suspects.keys.sorted(), host: host, flags: suspects, betweenHosts: false)
        }
        return findings
    }

    static func usable(_ v: Double?) -> Double? {
        guard let v, v > 0, v.isFinite else { return nil }
        return v
    }

    /// Ranks of one host, one finding per direction.
    private static func rankFindings(_ ranks: [Int], host: Int, flags: [Int: Judge.Flag], betweenHosts: Bool) -> [Finding] {
        var byDirection: [Direction: [Int]] = [:]
        for r in ranks { byDirection[flags[r]!.direction, default: []].append(r) }
        return [Direction.sends, .receives, .both].compactMap { d in
            guard let rs = byDirection[d] else { return nil }
            let values = rs.map { flags[$0]!.value }
            return Finding(hosts: [host], ranks: rs.sorted(), wholeHosts: false, direction: d,
                           value: RobustStatistics.median(values), reference: flags[rs[0]]!.reference, betweenHosts: betweenHosts)
        }
    }

    /// Suspect hosts in the same direction whose links among themselves are fine form one
    /// group finding (a shared switch or uplink); the others are named one by one.
    private static func groups(_ named: [Int: Judge.Flag], ranksOf: [[Int]], hostLink: (Int, Int) -> Double?, judge: Judge) -> [Finding] {
        var findings: [Finding] = []
        for d in [Direction.sends, .receives, .both] {
            let hosts = named.filter { $0.value.direction == d }.keys.sorted()
            guard !hosts.isEmpty else { continue }
            let reference = named[hosts[0]]!.reference
            let inside = hosts.flatMap { g in hosts.compactMap { h in g == h ? nil : hostLink(g, h) } }
            let insideFine = hosts.count >= 2 && !inside.isEmpty && !judge.isWorse(RobustStatistics.median(inside), than: reference)
            let sets = insideFine ? [hosts] : hosts.map { [$0] }
            for set in sets {
                let values = set.map { named[$0]!.value }
                findings.append(Finding(hosts: set, ranks: set.flatMap { ranksOf[$0] }.sorted(), wholeHosts: true, direction: d,
                                        value: RobustStatistics.median(values), reference: reference, betweenHosts: true))
            }
        }
        return findings
    }
}

/// The rule applied to units (hosts or ranks) of one link class.
struct Judge {
    let rule: OutlierRule
    let higherIsWorse: Bool
    let symmetric: Bool
    let sample: Int
    /// A few reference links cannot tell their own spread (two values may agree by chance):
    /// the spread of the whole link class, when known, is the least assumed.
    var spreadFloor = 0.0
    /// Below this many reference links, their own spread is not trusted alone.
    let minimumReferenceLinks = 6

    struct Flag {
        var direction: FaultAttribution.Direction
        var value: Double
        var reference: Double
    }

    /// The reference links: center and spread of their logs, and their plain median.
    struct Reference {
        var center: Double
        var spread: Double
        var median: Double
        var count: Int
    }

    /// Greedy search: the unit whose links are worst is judged against the links among the
    /// others; if flagged, it becomes a suspect and leaves the reference, and the search goes
    /// on until the worst unit is not flagged or too few remain to judge against. (Only the
    /// worst is judged each step: a reference per unit would cost a sort per unit.)
    func search(units: [Int], value: (Int, Int) -> Double?) -> [Int: Flag] {
        var suspects: [Int: Flag] = [:]
        while true {
            let others = units.filter { suspects[$0] == nil }
            guard others.count >= 3 else { break }
            var worst: (unit: Int, badness: Double)?
            for u in others {
                let sends = others.compactMap { $0 == u ? nil : value(u, $0) }
                let receives = symmetric ? [] : others.compactMap { $0 == u ? nil : value($0, u) }
                for values in [sends, receives] where !values.isEmpty {
                    let l = log(RobustStatistics.median(values))
                    let badness = higherIsWorse ? l : -l
                    if worst == nil || badness > worst!.badness { worst = (u, badness) }
                }
            }
            guard let worst else { break }
            let rest = others.filter { $0 != worst.unit }
            guard var reference = reference(rest, value: value) else { break }
            // Two or three hosts left to compare with say little about the noise: then the
            // spread of all links still in play (the candidate's too) is the least assumed.
            if reference.count < minimumReferenceLinks, let all = self.reference(others, value: value) {
                reference.spread = max(reference.spread, all.spread)
            }
            guard let flag = flag(worst.unit, peers: rest, value: value, against: reference) else { break }
            suspects[worst.unit] = flag
        }
        return suspects
    }

    /// The links among `units`, sampled evenly (every `stride`-th ordered pair) when there
    /// are more than `sample`, so a reference costs the same at any size.
    func reference(_ units: [Int], value: (Int, Int) -> Double?) -> Reference? {
        let m = units.count
        guard m >= 2 else { return nil }
        let pairs = m * (m - 1)
        var logs: [Double] = [], plain: [Double] = []
        for p in Swift.stride(from: 0, to: pairs, by: max(1, pairs / sample)) {
            let ai = p / (m - 1)
            var bi = p % (m - 1)
            if bi >= ai { bi += 1 }
            let (a, b) = (units[ai], units[bi])
            guard !(symmetric && b < a), let v = value(a, b) else { continue }
            logs.append(log(v))
            plain.append(v)
        }
        guard !logs.isEmpty else { return nil }
        return Reference(center: RobustStatistics.median(logs), spread: max(spreadFloor, 1.4826 * RobustStatistics.mad(logs)),
                         median: RobustStatistics.median(plain), count: logs.count)
    }

    /// Whether `unit`'s links to `peers` are flagged, and in which direction.
    func flag(_ unit: Int, peers: [Int], value: (Int, Int) -> Double?, against reference: Reference) -> Flag? {
        func judged(_ values: [Double]) -> Double? {
            guard !values.isEmpty else { return nil }
            let m = RobustStatistics.median(values)
            let worse = higherIsWorse ? log(m) - reference.center : reference.center - log(m)
            // The standard error of a difference of two medians (1.25 σ/√n each).
            let noise = rule.k * 1.25 * reference.spread * (1 / Double(values.count) + 1 / Double(reference.count)).squareRoot()
            return worse >= log(rule.minimumRatio) && worse > noise ? m : nil
        }
        let sends = peers.compactMap { value(unit, $0) }
        if symmetric {
            return judged(sends).map { Flag(direction: .both, value: $0, reference: reference.median) }
        }
        let receives = peers.compactMap { value($0, unit) }
        switch (judged(sends), judged(receives)) {
        case (_?, _?): return Flag(direction: .both, value: RobustStatistics.median(sends + receives), reference: reference.median)
        case let (s?, nil): return Flag(direction: .sends, value: s, reference: reference.median)
        case let (nil, r?): return Flag(direction: .receives, value: r, reference: reference.median)
        case (nil, nil): return nil
        }
    }

    func isWorse(_ value: Double, than reference: Double) -> Bool {
        guard value > 0, reference > 0 else { return false }
        let ratio = higherIsWorse ? value / reference : reference / value
        return ratio >= rule.minimumRatio
    }
}
