import FabricCore
/// Whether RDMA verbs can be used on this host, and if not, why: the libraries are opened
/// at run time, so the same binary runs on hosts without rdma-core.
public struct RDMAAvailability: Sendable {
    public let librariesLoaded: Bool
    public let deviceNames: [String]
    /// Empty when usable.
    public let reason: String

    public var usable: Bool { reason.isEmpty }

    /// Usable means: the libraries load and some port is ACTIVE.
    public static func probe() -> RDMAAvailability {
        do {
            let ports = try RDMADevices.list()
            let active = ports.filter { $0.state == "ACTIVE" }
            if active.isEmpty {
                let seen = ports.map { "\($0.device) port \($0.port) \($0.state)" }.joined(separator: ", ")
                return RDMAAvailability(librariesLoaded: true, deviceNames: [],
                                        reason: ports.isEmpty ? "no RDMA devices found (check the NIC driver, or add a Soft-RoCE device with 'rdma link add')"
                                                              : "no active RDMA port (\(seen))")
            }
            return RDMAAvailability(librariesLoaded: true, deviceNames: Array(Set(active.map(\.device))).sorted(), reason: "")
        } catch {
            return RDMAAvailability(librariesLoaded: RDMALibrary.verbsLoaded, deviceNames: [], reason: "\(error)")
        }
    }
}
