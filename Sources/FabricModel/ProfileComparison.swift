import FabricResults

/// The procurement question: a NIC with the lower mean latency but the heavier tail can be
/// the faster one on two nodes and the slower one on a thousand.
extension ProfileComparison {
    /// Pairs predictions of the same algorithm, size and rank count.
    public static func compare(_ a: [Prediction], _ b: [Prediction]) -> [ProfileComparison] {
        a.compactMap { p in
            guard let q = b.first(where: { $0.algo == p.algo && $0.bytes == p.bytes && $0.ranks == p.ranks }) else { return nil }
            let ratio = max(p.meanUs, q.meanUs) / max(min(p.meanUs, q.meanUs), .leastNonzeroMagnitude)
            return ProfileComparison(algo: p.algo, bytes: p.bytes, ranks: p.ranks, aMeanUs: p.meanUs, bMeanUs: q.meanUs,
                                     aP99Us: p.p99Us, bP99Us: q.p99Us,
                                     faster: ratio < 1.01 ? "tie" : (p.meanUs < q.meanUs ? "a" : "b"), by: ratio)
        }
    }

    /// Per algorithm and size, the rank counts at which the faster profile changes (ties
    /// skipped): [(algo, bytes, ranks where it changed, from, to)].
    public static func crossovers(_ rows: [ProfileComparison]) -> [(algo: String, bytes: Int, ranks: Int, from: String, to: String)] {
        var out: [(String, Int, Int, String, String)] = []
        var seen: [String: String] = [:]
        for r in rows.sorted(by: { ($0.algo, $0.bytes, $0.ranks) < ($1.algo, $1.bytes, $1.ranks) }) where r.faster != "tie" {
            let key = "\(r.algo)/\(r.bytes)"
            if let before = seen[key], before != r.faster { out.append((r.algo, r.bytes, r.ranks, before, r.faster)) }
            seen[key] = r.faster
        }
        return out
    }
}
