import FabricCore
import Foundation

/// Which NIC a rank uses on a node with several (`--device`, `--iface`): on a rail-optimized
/// GPU server NIC i of every node hangs off the leaf switch of rail i, and local rank i must
/// use it. A list gives local rank i entry i mod the list's length; `auto` (devices only)
/// spreads the ranks over the NICs that are up, by NUMA proximity. An entry may join NICs with
/// '+' (mlx5_0+mlx5_1): that rank stripes its messages over all of them (`StripedTransport`).
/// Pure: the caller lists the NICs and says where the rank runs; the same inputs give every
/// rank the same answer.
public struct NICAssignment: Sendable, Equatable {
    public enum Rule: Sendable, Equatable {
        /// No flag: the transport's own default (the first active device, the routed address).
        case any
        /// Local rank i takes entry i mod count.
        case list([String])
        /// By NUMA node: see `choose`.
        case auto
    }

    /// A NIC the host has, and the NUMA node its PCI device sits on (nil: unknown).
    public struct Candidate: Sendable, Equatable {
        public var name: String
        public var numaNode: Int?
        public init(name: String, numaNode: Int?) {
            self.name = name
            self.numaNode = numaNode
        }
    }

    /// The NIC chosen, nil with `.any`, and why, for the report and `devices --ranks`.
    public struct Choice: Sendable, Equatable {
        public var name: String?
        public var reason: String
    }

    public let rule: Rule
    /// The flag it came from ("--device"), for errors.
    public let flag: String

    /// Parses "mlx5_0", "mlx5_0,mlx5_1", "mlx5_0+mlx5_1,mlx5_2+mlx5_3" or "auto"; nil or
    /// empty is `.any`.
    public init(parsing text: String?, flag: String, allowsAuto: Bool) throws {
        self.flag = flag
        guard let text, !text.isEmpty else { rule = .any; return }
        if text == "auto" {
            guard allowsAuto else {
                throw FabricError.configuration("\(flag) auto: automatic mapping needs the NICs' NUMA nodes, which only RDMA devices report; list the interfaces instead (\(flag) eth0,eth1)")
            }
            rule = .auto
            return
        }
        let entries = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        if let bad = entries.firstIndex(where: { $0.isEmpty || $0.contains(where: { $0.isWhitespace }) }) {
            throw FabricError.configuration("\(flag) '\(text)': entry \(bad + 1) is empty or has spaces; give NIC names separated by commas (\(flag) \(Self.example(flag)))")
        }
        if let joined = entries.first(where: { $0.split(separator: "+", omittingEmptySubsequences: false).contains { $0.isEmpty } }) {
            throw FabricError.configuration("\(flag) '\(joined)': a NIC name is missing around '+'; join NICs a rank stripes over as \(flag) \(Self.example(flag).replacingOccurrences(of: ",", with: "+"))")
        }
        if let joined = entries.first(where: { $0.split(separator: "+").count > StripedTransport.maximumParts }) {
            throw FabricError.configuration("\(flag) '\(joined)': a rank stripes over at most \(StripedTransport.maximumParts) NICs")
        }
        if entries.contains("auto") {
            throw FabricError.configuration("\(flag) '\(text)': 'auto' stands alone, not in a list")
        }
        rule = .list(entries)
    }

    /// This rank's entry when it joins several NICs with '+': the NICs, and why this entry.
    public func striped(localRank: Int) -> (nics: [String], reason: String)? {
        guard case let .list(entries) = rule else { return nil }
        let i = localRank % entries.count
        let nics = entries[i].split(separator: "+").map(String.init)
        guard nics.count > 1 else { return nil }
        return (nics, "\(flag) entry \(i + 1) of \(entries.count) (local rank \(localRank) mod \(entries.count))")
    }

    static func example(_ flag: String) -> String { flag == "--iface" ? "eth0,eth1" : "mlx5_0,mlx5_1" }

    /// The NIC for one rank.
    /// - `localRank`: the rank's index among the job's ranks on this host (0 when unknown).
    /// - `candidates`: the NICs that are up (for `auto`; a list is taken as given and each
    ///   transport checks its entry exists).
    /// - `cpuNodes`: with `--cpus`, the NUMA node of every local rank's CPU, by local rank
    ///   (the list wraps as `--cpus` does); empty when ranks are not pinned.
    ///
    /// `auto`: a pinned rank takes the NICs on its CPU's node (all NICs when that node has
    /// none), round-robin among the local ranks pinned to the same node; an unpinned rank
    /// takes NIC (local rank mod count) in the order (NUMA node, name), and its transport then
    /// runs it on that NIC's node. Either way 8 ranks over 8 NICs get 8 distinct NICs.
    public func choose(localRank: Int, candidates: [Candidate], cpuNodes: [Int?]) throws -> Choice {
        switch rule {
        case .any:
            return Choice(name: nil, reason: "no \(flag): the transport's default")
        case let .list(entries):
            let i = localRank % entries.count
            return Choice(name: entries[i], reason: "\(flag) entry \(i + 1) of \(entries.count) (local rank \(localRank) mod \(entries.count))")
        case .auto:
            guard !candidates.isEmpty else {
                throw FabricError.configuration("\(flag) auto: this host has no NIC that is up; see 'fabricbench devices'")
            }
            // By node, then by name in numeric order (mlx5_2 before mlx5_10).
            let ordered = candidates.sorted {
                ($0.numaNode ?? Int.max) != ($1.numaNode ?? Int.max) ? ($0.numaNode ?? Int.max) < ($1.numaNode ?? Int.max)
                    : $0.name.compare($1.name, options: .numeric) == .orderedAscending
            }
            if !cpuNodes.isEmpty, let node = cpuNodes[localRank % cpuNodes.count] {
                let near = ordered.filter { $0.numaNode == node }
                let sharing = (0..<localRank).filter { cpuNodes[$0 % cpuNodes.count] == node }.count
                if near.isEmpty {
                    let nic = ordered[localRank % ordered.count]
                    return Choice(name: nic.name, reason: "auto: no NIC on NUMA node \(node) of the rank's CPU; NIC \(localRank % ordered.count + 1) of \(ordered.count) by (node, name)")
                }
                let nic = near[sharing % near.count]
                return Choice(name: nic.name, reason: "auto: NUMA node \(node) of the rank's CPU; NIC \(sharing % near.count + 1) of its \(near.count), local rank \(sharing + 1) pinned there")
            }
            let index = localRank % ordered.count
            let nic = ordered[index]
            return Choice(name: nic.name, reason: "auto: NIC \(index + 1) of \(ordered.count) by (NUMA node, name) for local rank \(localRank)" + (nic.numaNode.map { ", on node \($0)" } ?? ", node unknown"))
        }
    }

    /// The NUMA node of a CPU, from sysfs (nil: unknown, e.g. no NUMA in this kernel).
    public static func numaNode(ofCPU cpu: Int) -> Int? {
        let directory = "/sys/devices/system/cpu/cpu\(cpu)"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return nil }
        return names.lazy.compactMap { $0.hasPrefix("node") ? Int($0.dropFirst(4)) : nil }.first
    }
}
