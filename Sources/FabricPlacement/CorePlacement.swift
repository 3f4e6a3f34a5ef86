import Foundation

/// Where a local rank runs when nobody said (no --cpus) and `--np` started it: on a core of
/// its own, as mpirun binds ranks to cores by default. Two ranks left to the scheduler share
/// and swap cores on a small host, and each swap shows up in the tail.
///
/// Local rank i takes entry i mod count of the CPUs this process may run on, narrowed to the
/// NIC's NUMA node when that is known and holds any of them (the rank's traffic crosses that
/// node's memory). More local ranks than those CPUs are left unpinned, as mpirun leaves an
/// oversubscribed job: two ranks pinned to one core could only take turns. Pure: the caller
/// reads the CPUs, nodes and NIC; the same inputs give every rank the same answer, so ranks
/// on one node get distinct cores.
public enum CorePlacement {
    public struct Choice: Sendable, Equatable {
        /// nil: left unpinned, for `reason`.
        public var cpu: Int?
        public var reason: String
    }

    /// - `allowed`: the CPUs this process may run on, ascending.
    /// - `nic`: the NIC's name and NUMA node (nil: unknown or none, as for loopback).
    /// - `nodeOfCPU`: a CPU's NUMA node (nil: unknown).
    /// - `localSize`: the local ranks on this host (nil: unknown, taken as fitting).
    public static func choose(localRank: Int, localSize: Int?, allowed: [Int], nic: (name: String, node: Int?)?,
                              nodeOfCPU: (Int) -> Int?) -> Choice? {
        guard !allowed.isEmpty else { return nil }
        var pool = allowed
        var near = ""
        if let nic, let node = nic.node {
            let onNode = allowed.filter { nodeOfCPU($0) == node }
            if onNode.isEmpty {
                near = ", none on NUMA node \(node) of \(nic.name)"
            } else {
                pool = onNode
                near = " on NUMA node \(node) of \(nic.name)"
            }
        }
        if let localSize, localSize > pool.count {
            return Choice(cpu: nil, reason: "--np default: not pinned: \(localSize) local ranks on \(pool.count) CPUs\(near) (oversubscribed)")
        }
        let i = localRank % pool.count
        return Choice(cpu: pool[i], reason: "--np default: local rank \(localRank) on CPU \(pool[i]) (entry \(i + 1) of \(pool.count) CPUs\(near); --cpus none: unpinned)")
    }

    /// The CPUs the calling thread may run on (its affinity mask, from procfs), ascending;
    /// empty when procfs does not say.
    public static func allowedCPUs() -> [Int] {
        guard let status = try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return [] }
        return parseList(String(line.dropFirst("Cpus_allowed_list:".count)))
    }

    /// "0-3,8,10-11" → [0, 1, 2, 3, 8, 10, 11]; empty when any part is not a number or range.
    static func parseList(_ text: String) -> [Int] {
        var cpus: [Int] = []
        for part in text.split(separator: ",") {
            let bounds = part.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            guard (1...2).contains(bounds.count), let low = bounds.first!, let high = bounds.last!, low <= high, high < 1 << 16 else { return [] }
            cpus += Array(low...high)
        }
        return cpus.sorted()
    }

    /// The NUMA node of a network interface or RDMA device from sysfs (nil: unknown, virtual,
    /// or -1: the platform does not say).
    public static func numaNode(ofNIC name: String) -> Int? {
        for path in ["/sys/class/net/\(name)/device/numa_node", "/sys/class/infiniband/\(name)/device/numa_node"] {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), let node = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                return node >= 0 ? node : nil
            }
        }
        return nil
    }
}
