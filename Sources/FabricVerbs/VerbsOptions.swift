import FabricCore

/// How data moves over a queue pair.
public enum VerbsDataPath: String, Sendable, CaseIterable {
    /// RDMA write with immediate, NCCL style: the receiver advertises where to write (a small
    /// "clear to send" message), the sender writes there, and the immediate raises the
    /// receiver's completion. No receive buffer is matched by the NIC, so any size lands in place.
    case write
    /// Two-sided send/receive: the NIC matches each message to the next posted receive.
    case send
}

public struct VerbsOptions: TransportOptions {
    public var dataPath = VerbsDataPath.write
    /// Sleep on a completion channel when nothing is ready, instead of polling the CQ.
    public var events = false
    /// Connect queue pairs through librdmacm (--cm) instead of the rendezvous exchange.
    public var connectionManager = false
    /// --cm: the address to listen and connect from (--bind), else this interface's (--iface),
    /// else the IP address inside the chosen RoCE GID.
    public var cmBindAddress: String?
    public var cmInterface: String?
    /// Queue pairs per peer (--qps); large messages are striped over all of them.
    public var queuePairs = 1
    /// `--device` as given: a name (mlx5_0), a list local ranks take entry i mod count from
    /// (mlx5_0,mlx5_1), or `auto` (by NUMA node); nil: the first device with an active port.
    public var device: String?
    /// This rank's index among its host's ranks, which picks its entry of a `--device` list.
    public var localRank = 0
    /// With --cpus: the NUMA node of each local rank's CPU (for `--device auto`).
    public var cpuNodes: [Int?] = []
    /// Why `device` (a striped part's NIC, chosen by its entry): replaces the list's reason.
    public var deviceReason: String?
    public var port: Int = 1
    /// GID table index; nil: the scored choice (see `GIDEntry.score`).
    public var gidIndex: Int?
    /// Path MTU in bytes (256...4096); nil: the smaller of both ports' active MTU.
    public var mtu: Int?
    public var trafficClass: Int = 0
    public var serviceLevel: Int = 0
    /// Sends up to this many bytes go inline (copied into the work request).
    public var inlineBytes: Int = 64
    /// NUMA node to run and allocate on; nil: the NIC's node when known. Ignored with `pinned`.
    public var numaNode: Int?
    /// The caller pinned this rank to CPUs itself (--cpus): leave placement alone.
    public var pinned = false
    public var timeout: Double = 30
    public init() {}

    /// The work request id has 8 bits for the queue pair, and StripePlan's 64-byte aligned
    /// stripes stay non-empty up to 64 queue pairs; 16 stays well under both.
    public static let queuePairLimit = 16
}
