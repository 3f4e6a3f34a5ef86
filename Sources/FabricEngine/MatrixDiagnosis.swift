import FabricMeasure
import FabricResults
import Foundation

/// From a matrix's links to verdicts an operator acts on: which host, which ranks of a host,
/// or which single link, and in which direction. Pure: the engine measures, this judges.
///
/// Per metric (latency p50, p99.9, bandwidth each way): `FaultAttribution` names suspect
/// hosts and ranks; the outlier rule names single links, within hosts and between hosts
/// apart (another path); a link a suspect explains (one of its ends is the suspect, in the
/// suspect's direction) is not named again, so a bad node with eight ranks is one verdict,
/// not dozens of links.
public struct MatrixDiagnosis: Sendable {
    public struct Outcome: Sendable {
        /// Suspects, then the links no suspect explains.
        public var verdicts: [Verdict]
        /// Every flagged (link, metric), explained or not.
        public var linkVerdicts: [LinkVerdict]
        /// Parallel to `linkVerdicts`: the index in `verdicts` of the suspect that explains the
        /// link, nil for a link that is a verdict of its own.
        public var explainedBy: [Int?]
        /// Parallel to `linkVerdicts`: each as a verdict of its own, for when its suspect falls.
        var linkAsVerdicts: [Verdict]
    }

    public let rule: OutlierRule
    /// Each rank's host label.
    public let hosts: [String]
    /// Host index of each rank, in order of first appearance.
    let hostOfRank: [Int]
    let hostNames: [String]
    /// Each rank's NIC and rail (--rails), when known: verdicts on some ranks of a host then
    /// name the (host, NIC) pair and the rail.
    public let nics: [String]?
    public let rails: [Int]?

    public init(rule: OutlierRule, hosts: [String], nics: [String]? = nil, rails: [Int]? = nil) {
        self.rule = rule
        self.hosts = hosts
        self.nics = nics?.count == hosts.count ? nics : nil
        self.rails = rails?.count == hosts.count ? rails : nil
        var index: [String: Int] = [:]
        var names: [String] = []
        hostOfRank = hosts.map { h in
            if let i = index[h] { return i }
            index[h] = names.count
            names.append(h)
            return names.count - 1
        }
        hostNames = names
    }

    public func diagnose(_ links: [PairResult]) -> Outcome {
        var suspects: [Verdict] = []
        var linkVerdicts: [LinkVerdict] = []
        var explainedBy: [Int?] = []
        var linkAsVerdicts: [Verdict] = []
        var unexplained: [Verdict] = []
        let attribution = FaultAttribution(rule: rule)
        for metric in LinkMetric.allCases {
            let values = metric.matrix(links, worldSize: hosts.count)
            let findings = attribution.attribute(values: values, hostOfRank: hostOfRank, higherIsWorse: metric.higherIsWorse,
                                                 symmetric: !metric.directed)
            let first = suspects.count
            suspects += findings.map { verdict($0, metric) }
            for flagged in flaggedLinks(links, metric) {
                linkVerdicts.append(flagged.verdict)
                linkAsVerdicts.append(flagged.asVerdict)
                let (from, to) = (flagged.verdict.ranks[0], flagged.verdict.ranks[1])
                let explainer = findings.firstIndex { f in
                    (f.ranks.contains(from) && (f.direction != .receives || !metric.directed))
                        || (f.ranks.contains(to) && (f.direction != .sends || !metric.directed))
                }
                explainedBy.append(explainer.map { first + $0 })
                if explainer == nil { unexplained.append(flagged.asVerdict) }
            }
        }
        return Outcome(verdicts: suspects + unexplained, linkVerdicts: linkVerdicts, explainedBy: explainedBy, linkAsVerdicts: linkAsVerdicts)
    }

    /// Links to measure again, alone: each link that is a verdict of its own, and for each
    /// suspect up to three of its links to ranks of hosts that are not suspects (on its rail,
    /// with --rails), on distinct hosts where possible (a bad node with eight ranks spoils thousands of links; three
    /// tell whether it is still bad).
    public func retestPlan(_ outcome: Outcome) -> [[Int]] {
        var pairs: [[Int]] = []
        func add(_ a: Int, _ b: Int) { let p = [min(a, b), max(a, b)]; if !pairs.contains(p) { pairs.append(p) } }
        for v in outcome.verdicts where v.subject == .link { add(v.ranks[0], v.ranks[1]) }
        let suspectRanks = Set(outcome.verdicts.filter { $0.subject != .link }.flatMap(\.ranks))
        for v in outcome.verdicts where v.subject != .link {
            let own = Set(v.ranks.map { hostOfRank[$0] })
            let peers = (0..<hosts.count).filter { p in
                !suspectRanks.contains(p) && (v.betweenHosts ? !own.contains(hostOfRank[p]) : hostOfRank[p] == hostOfRank[v.ranks[0]])
            }
            var usedHosts: Set<Int> = []
            var chosen = 0
            for p in peers where chosen < 3 && (!v.betweenHosts || !usedHosts.contains(hostOfRank[p])) {
                // With --rails a link leaves the rail only through a spine: each sample pairs a
                // suspect rank with a peer on its own rail.
                let onRail = v.ranks.filter { rails == nil || rails![$0] == rails![p] }
                guard !onRail.isEmpty else { continue }
                add(onRail[chosen % onRail.count], p)
                usedHosts.insert(hostOfRank[p])
                chosen += 1
            }
        }
        return pairs
    }

    /// The sweep's verdicts split by the re-test. A link verdict holds when the rule, with the
    /// re-measured links in place of their sweep figures, flags the same link and metric. A
    /// suspect holds when the median of its re-measured links, in its direction, is still at
    /// least the rule's ratio worse than the reference it was judged against. A flagged link a
    /// suspect explains holds with its suspect; when the suspect falls, the link stands only if
    /// it was measured again (as one of the suspect's samples) and flagged again, and then is a
    /// verdict of its own. Without any re-test the sweep's verdicts stand.
    public func settle(_ outcome: Outcome, links: [PairResult], retests: [PairResult]) -> (holds: [Verdict], transient: [Verdict], links: [LinkVerdict], transientLinks: [LinkVerdict]) {
        let substituted = links.map { link in retests.first { $0.ranks == link.ranks } ?? link }
        let second = diagnose(substituted).linkVerdicts
        let linkHolds = { (v: LinkVerdict) in second.contains { $0.ranks == v.ranks && $0.metric == v.metric } }
        var holds: [Verdict] = [], transient: [Verdict] = []
        for v in outcome.verdicts {
            let stands: Bool
            if v.subject == .link {
                stands = second.contains { $0.ranks == v.ranks && $0.metric == v.metric }
            } else {
                stands = suspectHolds(v, retests)
            }
            if stands { holds.append(v) } else { transient.append(v) }
        }
        var links: [LinkVerdict] = [], transientLinks: [LinkVerdict] = []
        for (i, v) in outcome.linkVerdicts.enumerated() {
            let explainer = outcome.explainedBy[i]
            let suspectStands = explainer.map { holds.contains(outcome.verdicts[$0]) } ?? false
            let measuredAgain = retests.isEmpty || retests.contains { $0.ranks == v.ranks.sorted() }
            let stands = suspectStands || ((explainer == nil || measuredAgain) && linkHolds(v))
            if stands { links.append(v) } else { transientLinks.append(v) }
            if explainer != nil && !suspectStands && stands { holds.append(outcome.linkAsVerdicts[i]) }
        }
        return (holds, transient, links, transientLinks)
    }

    func suspectHolds(_ v: Verdict, _ retests: [PairResult]) -> Bool {
        guard let metric = LinkMetric(rawValue: v.metric) else { return false }
        var values: [Double] = []
        for link in retests {
            let (a, b) = (link.ranks[0], link.ranks[1])
            let aIn = v.ranks.contains(a), bIn = v.ranks.contains(b)
            guard aIn != bIn else { continue }
            // The suspect's end sends when it is ranks[0] of a forward stream.
            let suspectSends: Double? = aIn ? metric.value(of: link) : metric.value(of: link, reverse: true)
            let suspectReceives: Double? = aIn ? metric.value(of: link, reverse: true) : metric.value(of: link)
            switch (metric.directed, v.direction) {
            case (false, _): values += [metric.value(of: link)].compactMap { $0 }
            case (true, .sends): values += [suspectSends].compactMap { $0 }
            case (true, .receives): values += [suspectReceives].compactMap { $0 }
            case (true, .both): values += [suspectSends, suspectReceives].compactMap { $0 }
            }
        }
        guard !values.isEmpty else { return true }
        guard v.reference > 0 else { return false }
        let m = RobustStatistics.median(values)
        let ratio = metric.higherIsWorse ? m / v.reference : v.reference / max(m, .leastNonzeroMagnitude)
        return ratio >= rule.minimumRatio
    }

    private struct FlaggedLink {
        var verdict: LinkVerdict
        var asVerdict: Verdict
    }

    /// The outlier rule per metric, over links within hosts and between hosts apart; a
    /// bandwidth link counts once each way.
    private func flaggedLinks(_ links: [PairResult], _ metric: LinkMetric) -> [FlaggedLink] {
        var out: [FlaggedLink] = []
        for between in [true, false] {
            var entries: [(from: Int, to: Int, value: Double)] = []
            for link in links {
                let (a, b) = (link.ranks[0], link.ranks[1])
                guard a < hosts.count, b < hosts.count, (hostOfRank[a] != hostOfRank[b]) == between else { continue }
                if let v = metric.value(of: link) { entries.append((a, b, v)) }
                if metric.directed, let v = metric.value(of: link, reverse: true) { entries.append((b, a, v)) }
            }
            for flag in rule.flag(entries.map(\.value), higherIsWorse: metric.higherIsWorse) {
                let e = entries[flag.index]
                let arrow = metric.directed ? "→" : "↔"
                let times = flag.ratio >= 1 ? String(format: "%.1f×", flag.ratio) : String(format: "%.2g×", flag.ratio)
                let text = "rank \(e.from) \(arrow) rank \(e.to) (\(place(e.from)) \(arrow) \(place(e.to))): \(metric.label) "
                    + Self.figure(flag.value) + " \(metric.unit), \(times) the median link "
                    + "\(between ? "between hosts" : "within a host") (" + Self.figure(flag.median) + " \(metric.unit))"
                let ranks = [e.from, e.to]
                out.append(FlaggedLink(
                    verdict: LinkVerdict(ranks: ranks, metric: metric.rawValue, value: flag.value, median: flag.median, ratio: flag.ratio, text: text),
                    asVerdict: Verdict(subject: .link, hosts: [hosts[e.from], hosts[e.to]], ranks: ranks, direction: metric.directed ? .sends : .both,
                                       metric: metric.rawValue, betweenHosts: between, value: flag.value, reference: flag.median, text: text,
                                       nics: nics.map { n in ranks.map { n[$0] } }, rail: rail(of: ranks))))
            }
        }
        return out
    }

    private func verdict(_ f: FaultAttribution.Finding, _ metric: LinkMetric) -> Verdict {
        let names = f.hosts.map { hostNames[$0] }
        let subject: Verdict.Subject = !f.wholeHosts ? .ranks : (f.hosts.count > 1 ? .hosts : .host)
        let who: String
        switch subject {
        case .host: who = "host \(names[0])"
        case .hosts: who = "hosts \(names.joined(separator: ", ")) (slow to every host outside this group, fine among themselves: a shared switch or uplink?)"
        case .ranks, .link:
            if let nics {
                // The broken part is a (host, NIC) pair: name it first.
                who = "\(names[0]) \(f.ranks.map { nics[$0] }.joined(separator: ", ")) (\(f.ranks.count == 1 ? "rank" : "ranks") \(f.ranks.map(String.init).joined(separator: ", ")))"
            } else {
                who = (f.ranks.count == 1 ? "rank \(f.ranks[0])" : "ranks \(f.ranks.map(String.init).joined(separator: ", "))") + " on host \(names[0])"
            }
        }
        let onRail = rail(of: f.ranks).map { " on rail \($0)" } ?? ""
        let plural = subject != .host && !(subject == .ranks && f.ranks.count == 1)
        let what: String
        if metric.directed {
            switch f.direction {
            case .sends: what = "\(plural ? "their" : "its") sends are slow"
            case .receives: what = "\(plural ? "their" : "its") receives are slow"
            case .both: what = "slow both ways"
            }
        } else {
            what = "\(metric.label) is high"
        }
        let others = f.betweenHosts ? "between the other hosts" : "among the other ranks of the host"
        let times = metric.higherIsWorse ? String(format: "%.1f× higher", f.ratio) : String(format: "%.2g× of it", f.ratio)
        let text = "\(who): \(what)\(onRail): median \(Self.figure(f.value)) \(metric.unit) against \(Self.figure(f.reference)) \(metric.unit) \(others) (\(times))"
        return Verdict(subject: subject, hosts: names, ranks: f.ranks, direction: f.direction, metric: metric.rawValue,
                       betweenHosts: f.betweenHosts, value: f.value, reference: f.reference, text: text,
                       nics: nics.map { n in f.ranks.map { n[$0] } }, rail: rail(of: f.ranks))
    }

    /// "host eth1" when NICs are known, else the host.
    func place(_ rank: Int) -> String { hosts[rank] + (nics.map { " \($0[rank])" } ?? "") }

    /// With --rails: the rail the ranks share, if they share one.
    func rail(of ranks: [Int]) -> Int? {
        guard let rails, let first = ranks.first, ranks.allSatisfy({ rails[$0] == rails[first] }) else { return nil }
        return rails[first]
    }

    static func figure(_ v: Double) -> String { String(format: "%.3g", v) }
}
