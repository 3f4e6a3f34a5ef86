import FabricTransport

/// What `--transport` asked for.
public enum TransportChoice: String, CaseIterable, Sendable {
    case auto
    case tcp
}

public struct TransportSelection: Sendable {
    public let kind: TransportKind
    /// Said in the header and the JSON, e.g. "auto: RDMA unavailable (...); using TCP".
    public let reason: String

    /// `auto` prefers verbs when a usable RDMA device exists, and says why it did not.
    public static func select(_ choice: TransportChoice, rdma: RDMAAvailability = .probe()) -> TransportSelection {
        switch choice {
        case .tcp:
            return TransportSelection(kind: .tcp, reason: "requested with --transport tcp")
        case .auto:
            if rdma.usable {
                return TransportSelection(kind: .tcp, reason: "auto chose TCP: RDMA device(s) \(rdma.deviceNames.joined(separator: ", ")) found, but this build has no verbs transport yet")
            }
            return TransportSelection(kind: .tcp, reason: "auto chose TCP: RDMA unavailable: \(rdma.reason)")
        }
    }
}
