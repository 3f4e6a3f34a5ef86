import FabricMeasure
import FabricResults

private let median = RobustStatistics.median
private let mad = RobustStatistics.mad

/// Finds the ranks that hold a collective up (see `StragglerReport` for the rule).
enum StragglerAnalysis {
    /// `hosts`, `nics`: each rank's host label and NIC (empty: unknown).
    static func analyze(_ timings: [CollectiveBenchmark.Timings], ranks n: Int, hosts: [String] = [], nics: [String] = [],
                        k: Double, spikeK: Double) -> StragglerReport {
        var lateness = [[Double]](repeating: [], count: n)
        var own = [[Double]](repeating: [], count: n)
        var iterationTimes: [Double] = []
        var spikes: [StragglerReport.Spike] = []
        for t in timings {
            let iterations = t.perRank.first?.count ?? 0
            let slowest = (0..<iterations).map { i in Double(t.perRank.map { $0[i] }.max() ?? 0) / 1000 }
            iterationTimes += slowest
            for r in 0..<n {
                for i in 0..<iterations {
                    let mine = Double(t.perRank[r][i]) / 1000
                    own[r].append(mine)
                    lateness[r].append(slowest[i] - mine)
                }
            }
            // Spikes: iterations far above this size's median.
            let m = median(slowest)
            let spread = max(mad(slowest), 0.02 * m, 1)
            for (i, v) in slowest.enumerated() where v > m + spikeK * spread {
                // The rank that waited least arrived last.
                let late = (0..<n).min { t.perRank[$0][i] < t.perRank[$1][i] } ?? 0
                spikes.append(.init(bytes: t.bytes, inplace: t.inplace, iteration: i, timeUs: v, medianUs: m, lateRank: late))
            }
        }
        let perRankLate = lateness.map(median)
        let perRankMedian = own.map(median)
        let typical = median(iterationTimes)
        let groupLate = median(perRankLate)
        let threshold = groupLate + k * max(mad(perRankLate), 0.02 * typical, 1)
        let flagged = (0..<n).filter { perRankLate[$0] > threshold }
        let slowest = perRankLate.indices.max { perRankLate[$0] < perRankLate[$1] }
        let slowestLate = slowest.map { perRankLate[$0] } ?? 0
        let fraction = typical > 0 ? slowestLate / typical : 0
        spikes.sort { $0.timeUs / max($0.medianUs, 1e-9) > $1.timeUs / max($1.medianUs, 1e-9) }
        let f1 = { (v: Double) in String(format: "%.1f", v) }
        let host = { (r: Int) in r < hosts.count ? " (host \(hosts[r])\(r < nics.count ? " \(nics[r])" : ""))" : "" }
        var summary: String
        if let s = slowest, !flagged.isEmpty {
            summary = "straggler: rank \(s)\(host(s)) arrives \(f1(slowestLate)) us after the first rank on median "
                + "(\(Int((100 * fraction).rounded()))% of a \(f1(typical)) us iteration); "
                + "flagged (lateness > median + \(Int(k)) MAD): " + Self.byHost(flagged, hosts: hosts, nics: nics)
        } else {
            summary = "no straggler: every rank's median lateness is within median + \(Int(k)) MAD "
                + "(largest: rank \(slowest ?? 0), \(f1(slowestLate)) us)"
        }
        summary += "; \(spikes.count) spike iteration\(spikes.count == 1 ? "" : "s") (time > median + \(Int(spikeK)) MAD)"
        var report = StragglerReport(k: k, slowestRank: slowest, slowestLateUs: slowestLate, slowestLateFraction: fraction,
                               flaggedRanks: flagged, perRankLateUs: perRankLate, perRankMedianUs: perRankMedian,
                               spikes: Array(spikes.prefix(20)), spikeK: spikeK, summary: summary)
        if hosts.count == n {
            var seen: [String] = []
            for r in flagged where !seen.contains(hosts[r]) { seen.append(hosts[r]) }
            report.flaggedHosts = seen
        }
        return report
    }

    /// "host a (ranks 1 mlx5_1, 2 mlx5_2), rank 5 (host b mlx5_5)": flagged ranks sharing a
    /// host are named together, each with its NIC when known (a late rank on a rail-optimized
    /// node points at its NIC or its GPU).
    static func byHost(_ ranks: [Int], hosts: [String], nics: [String] = []) -> String {
        guard hosts.count > (ranks.max() ?? -1) else { return ranks.map { "rank \($0)" }.joined(separator: ", ") }
        var order: [String] = []
        var members: [String: [Int]] = [:]
        for r in ranks {
            if members[hosts[r]] == nil { order.append(hosts[r]) }
            members[hosts[r], default: []].append(r)
        }
        return order.map { h in
            let rs = members[h]!
            let nic = { (r: Int) in r < nics.count ? " \(nics[r])" : "" }
            return rs.count == 1 ? "rank \(rs[0]) (host \(h)\(nic(rs[0])))" : "host \(h) (ranks \(rs.map { "\($0)\(nic($0))" }.joined(separator: ", ")))"
        }.joined(separator: ", ")
    }
}
