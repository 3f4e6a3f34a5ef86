import Foundation

/// What a transport says about itself, once, for the registry (FabricTransports): its name,
/// whether it can run here and why not, and how to build it. `--transport` values, `auto`'s
/// choice, the ranks' agreement and the JSON all derive from these descriptions.
public struct TransportPlugin: Sendable {
    public let kind: TransportKind
    /// How headers name it ("TCP", "verbs").
    public let displayName: String
    /// What it needs that a host may lack ("RDMA"), for "auto chose TCP: RDMA unavailable: ...".
    public let needs: String
    /// One line for --help.
    public let summary: String
    /// `auto` picks the usable transport with the highest preference; nil: never picked by
    /// `auto` (a transport that bypasses the NIC must be asked for by name).
    public let autoPreference: Int?
    /// This host's view: can the transport run here with these settings, and why (not)?
    public let probe: @Sendable (TransportContext) -> TransportAvailability
    /// Builds the transport for this rank; it finds its peers through `store`.
    public let make: @Sendable (_ store: any Store, _ context: TransportContext) throws -> any Transport
    /// Libraries it opened at run time, name to file or reason, for the JSON's environment.
    public let libraries: @Sendable () -> [String: String]

    public init(kind: TransportKind, displayName: String, needs: String, summary: String, autoPreference: Int?,
                probe: @escaping @Sendable (TransportContext) -> TransportAvailability,
                libraries: @escaping @Sendable () -> [String: String] = { [:] },
                make: @escaping @Sendable (_ store: any Store, _ context: TransportContext) throws -> any Transport) {
        self.kind = kind
        self.displayName = displayName
        self.needs = needs
        self.summary = summary
        self.autoPreference = autoPreference
        self.probe = probe
        self.make = make
        self.libraries = libraries
    }
}

/// A probe's answer. `reason` says why it is usable ("RDMA device(s) rxe0") or why not.
public struct TransportAvailability: Codable, Sendable, Equatable {
    public var usable: Bool
    public var reason: String
    public init(usable: Bool, reason: String) {
        self.usable = usable
        self.reason = reason
    }
}

/// What every transport is built from besides the store: settings shared by all transports
/// and each transport's own options, keyed by type (a transport reads only its own).
public struct TransportContext: Sendable {
    /// Seconds any blocking step may wait before failing with the peer's name.
    public var timeout: Double = 30
    /// The rendezvous host: a loopback master means every rank is on this host.
    public var masterHost = "127.0.0.1"
    /// This rank's index among the ranks of its host, and how many share the host, when known.
    public var localRank: Int?
    public var localSize: Int?
    /// The --cpus list ranks are pinned from (local rank i on entry i mod count); empty: not
    /// pinned. `--device auto` maps pinned ranks to the NICs of their CPUs' NUMA nodes.
    public var cpus: [Int] = []
    private var options: [ObjectIdentifier: any Sendable] = [:]

    public init() {}

    /// More ranks on this host than cores: a transport's waits should sleep at once, since
    /// spinning would only steal a peer's CPU.
    public var ranksOutnumberCores: Bool { (localSize ?? 0) > ProcessInfo.processInfo.activeProcessorCount }

    /// A transport's own options (its defaults when none were set).
    public subscript<Options: TransportOptions>(_ type: Options.Type) -> Options {
        get { options[ObjectIdentifier(type)] as? Options ?? Options() }
        set { options[ObjectIdentifier(type)] = newValue }
    }
}

/// A transport's own settings (device, busy polling, ...), set by the CLI, read by the transport.
public protocol TransportOptions: Sendable {
    init()
}
