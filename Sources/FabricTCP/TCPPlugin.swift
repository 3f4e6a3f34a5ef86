import FabricCore
import Foundation

extension TransportKind {
    public static let tcp = TransportKind("tcp")
}

extension TCPTransport {
    /// TCP runs wherever sockets do: `auto`'s fallback.
    public static let plugin = TransportPlugin(
        kind: .tcp, displayName: "TCP", needs: "sockets",
        summary: "TCP sockets (loopback or any NIC)", autoPreference: 0,
        probe: { _ in TransportAvailability(usable: true, reason: "requested with --transport tcp") },
        make: { store, context in
            var options = context[TCPOptions.self]
            options.timeout = context.timeout
            options.localRank = context.localRank ?? store.rank
            if context.ranksOutnumberCores { options.spinsBeforeSleep = 0 }
            return try TCPTransport(store: store, options: options, masterHost: context.masterHost)
        })
}
