import FabricTransport

/// What `--transport` asked for.
public enum TransportChoice: String, CaseIterable, Sendable {
    case auto
    case tcp
    case verbs
}

public struct TransportSelection: Sendable {
    public let kind: TransportKind
    /// False when the requested transport cannot run here (`reason` says why).
    public var available = true
    /// Said in the header and the JSON, e.g. "auto chose TCP: RDMA unavailable: ...".
    public let reason: String

    /// This rank's own view: `auto` prefers verbs when a usable RDMA device exists.
    public static func select(_ choice: TransportChoice, rdma: RDMAAvailability = .probe()) -> TransportSelection {
        switch choice {
        case .tcp:
            return TransportSelection(kind: .tcp, reason: "requested with --transport tcp")
        case .verbs:
            return TransportSelection(kind: .verbs, available: rdma.usable, reason: rdma.usable ? "requested with --transport verbs" : rdma.reason)
        case .auto:
            if rdma.usable {
                return TransportSelection(kind: .verbs, reason: "auto chose verbs: RDMA device(s) \(rdma.deviceNames.joined(separator: ", "))")
            }
            return TransportSelection(kind: .tcp, reason: "auto chose TCP: RDMA unavailable: \(rdma.reason)")
        }
    }

    /// The job's choice: every rank must use the same transport, so rank 0 takes verbs only
    /// when every rank can, and tells the others through the store.
    static func agree(_ mine: TransportSelection, choice: TransportChoice, rendezvous: RendezvousClient) throws -> TransportSelection {
        if !mine.available {
            throw FabricError.configuration("rank \(rendezvous.rank): --transport verbs: \(mine.reason)")
        }
        guard choice == .auto else { return mine }
        try rendezvous.set("transport/\(rendezvous.rank)", Array("\(mine.kind.rawValue)|\(mine.reason)".utf8))
        if rendezvous.rank == 0 {
            var decision = mine
            for r in 1..<max(rendezvous.worldSize, 1) {
                let text = String(decoding: try rendezvous.get("transport/\(r)", description: "rank \(r)'s transport"), as: UTF8.self)
                if !text.hasPrefix("verbs|") && decision.kind == .verbs {
                    decision = TransportSelection(kind: .tcp, reason: "auto chose TCP: rank \(r) cannot use RDMA (\(text.split(separator: "|", maxSplits: 1).last ?? ""))")
                }
            }
            try rendezvous.set("transport/decision", Array("\(decision.kind.rawValue)|\(decision.reason)".utf8))
            return decision
        }
        let text = String(decoding: try rendezvous.get("transport/decision", description: "rank 0's transport decision"), as: UTF8.self)
        let parts = text.split(separator: "|", maxSplits: 1).map(String.init)
        return TransportSelection(kind: TransportKind(rawValue: parts.first ?? "") ?? .tcp, reason: parts.count > 1 ? parts[1] : "")
    }
}
