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
            // With more local ranks than cores, spinning only steals a peer's CPU.
            if let local = context.localSize, local > ProcessInfo.processInfo.activeProcessorCount { options.spinsBeforeSleep = 0 }
            return try TCPTransport(store: store, options: options, masterHost: context.masterHost)
        })
}
