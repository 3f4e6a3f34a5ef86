import CFabricRDMA
import FabricCore

/// Where a rank's thread runs and allocates relative to its NIC: on the NIC's NUMA node
/// unless the rank was pinned to CPUs (--cpus) or given a node (--numa). Binding goes through
/// libnuma, opened at run time like the RDMA libraries.
public struct NUMAPlacement: Sendable, Equatable, CustomStringConvertible {
    public enum Choice: Sendable, Equatable {
        /// --cpus pinned the rank already: placement is left alone.
        case pinnedCPUs
        /// Bind to this node; `requested` when --numa gave it, else it is the device's.
        case bind(node: Int, requested: Bool)
        /// The device's node is unknown and none was given: not bound.
        case unknownNode
    }

    public let choice: Choice
    /// The device placement is relative to (e.g. mlx5_0), and its node when known.
    public let device: String
    public let deviceNode: Int?

    /// The decision: --cpus wins, then --numa (`requestedNode`), then the device's own node.
    public init(device: String, deviceNode: Int?, requestedNode: Int?, cpusPinned: Bool) {
        self.device = device
        self.deviceNode = deviceNode
        if cpusPinned {
            choice = .pinnedCPUs
        } else if let node = requestedNode ?? deviceNode {
            choice = .bind(node: node, requested: requestedNode != nil)
        } else {
            choice = .unknownNode
        }
    }

    /// What the report's `placement` says.
    public var description: String {
        switch choice {
        case .pinnedCPUs:
            return "CPUs pinned with --cpus (NIC on NUMA node \(deviceNode.map(String.init) ?? "unknown"))"
        case let .bind(node, requested):
            return "bound to NUMA node \(node)" + (requested ? " (--numa)" : " (the NIC's)")
        case .unknownNode:
            return "not bound: \(device)'s NUMA node is unknown (pass --numa N)"
        }
    }

    /// Binds the calling thread when the choice says so. Call it before allocating what
    /// should sit next to the device (its queues, the buffers registered later).
    public func apply() throws {
        if case let .bind(node, _) = choice { try Self.bind(toNode: node) }
    }

    /// Runs the calling thread on `node`'s CPUs and prefers `node` for its new memory.
    public static func bind(toNode node: Int) throws {
        var api = fab_rdma_api()
        let mask = fab_rdma_load(&api, nil, 0)
        guard mask & Int32(FAB_RDMA_HAVE_NUMA) != 0, api.numa_available() >= 0 else {
            throw FabricError.configuration("cannot bind to NUMA node \(node): libnuma is unavailable or the kernel has no NUMA support (install libnuma1)")
        }
        guard node >= 0, node <= Int(api.numa_max_node()) else {
            throw FabricError.configuration("NUMA node \(node) does not exist (nodes 0...\(api.numa_max_node()))")
        }
        guard api.numa_run_on_node(Int32(node)) == 0 else {
            throw SystemCallError("numa_run_on_node", "binding to NUMA node \(node)")
        }
        api.numa_set_preferred(Int32(node))
    }
}
