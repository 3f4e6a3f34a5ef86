import FabricCore
import FabricPlacement
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
            if context.ranksOutnumberCores { options.spinBeforeSleep = .sleepAtOnce }
            // An entry joining interfaces with '+': one connection per interface, messages striped.
            guard let striped = try NICAssignment(parsing: options.interface, flag: "--iface", allowsAuto: false).striped(localRank: options.localRank) else {
                return try TCPTransport(store: store, options: options, masterHost: context.masterHost)
            }
            if let bind = options.bindAddress {
                throw FabricError.configuration("--bind \(bind) puts every NIC of --iface \(striped.nics.joined(separator: "+")) on one address: drop --bind to stripe over the interfaces' own addresses")
            }
            return try StripedTransport(parts: striped.nics.count, store: store) { i, partStore in
                var part = options
                part.interface = striped.nics[i]
                part.interfaceReason = "\(striped.reason), striped over \(striped.nics.count) NICs"
                return try TCPTransport(store: partStore, options: part, masterHost: context.masterHost)
            }
        })
}
