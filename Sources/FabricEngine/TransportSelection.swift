import FabricCore
import FabricTransports

/// What `--transport` asked for: `auto`, or a transport of the registry by name.
public enum TransportChoice: Hashable, Sendable, CustomStringConvertible {
    case auto
    case named(TransportKind)

    /// "auto" or a registered name; nil for anything else.
    public init?(rawValue: String) {
        if rawValue == "auto" { self = .auto; return }
        guard let plugin = TransportRegistry.plugin(named: rawValue) else { return nil }
        self = .named(plugin.kind)
    }

    public var rawValue: String {
        switch self {
        case .auto: return "auto"
        case let .named(kind): return kind.rawValue
        }
    }

    public var description: String { rawValue }
    public static var allValueStrings: [String] { ["auto"] + TransportRegistry.names }
}

public struct TransportSelection: Codable, Sendable {
    public let kind: TransportKind
    /// False when the requested transport cannot run here (`reason` says why).
    public var available = true
    /// Said in the header and the JSON, e.g. "auto chose TCP: RDMA unavailable: ...".
    public let reason: String

    public init(kind: TransportKind, available: Bool = true, reason: String) {
        self.kind = kind
        self.available = available
        self.reason = reason
    }

    /// One rank's view of every transport `auto` may pick, best first.
    struct Candidates: Codable {
        var kinds: [TransportKind]
        var availability: [TransportAvailability]
    }

    /// This rank's own view. A named transport is taken as asked (unavailable if its probe
    /// says so); `auto` takes the usable transport with the highest preference.
    public static func select(_ choice: TransportChoice, context: TransportContext = TransportContext(),
                              registry: [TransportPlugin] = TransportRegistry.all) -> TransportSelection {
        switch choice {
        case let .named(kind):
            guard let plugin = registry.first(where: { $0.kind == kind }) else {
                return TransportSelection(kind: kind, available: false, reason: "no transport named \(kind)")
            }
            let a = plugin.probe(context)
            return TransportSelection(kind: kind, available: a.usable, reason: a.usable ? "requested with --transport \(kind)" : a.reason)
        case .auto:
            return decide(among: [candidates(context: context, registry: registry)], registry: registry)
        }
    }

    static func candidates(context: TransportContext, registry: [TransportPlugin]) -> Candidates {
        let ranked = autoCandidates(registry)
        return Candidates(kinds: ranked.map(\.kind), availability: ranked.map { $0.probe(context) })
    }

    /// Transports `auto` may pick, most preferred first.
    static func autoCandidates(_ registry: [TransportPlugin]) -> [TransportPlugin] {
        registry.filter { $0.autoPreference != nil }.sorted { $0.autoPreference! > $1.autoPreference! }
    }

    /// `auto` over the views of every rank (rank order): the most preferred transport that
    /// every rank can use. The reason names the better transport skipped and the rank that
    /// could not use it.
    static func decide(among views: [Candidates], registry: [TransportPlugin]) -> TransportSelection {
        let ranked = autoCandidates(registry)
        var skipped: (plugin: TransportPlugin, rank: Int, reason: String)?
        for plugin in ranked {
            let refusal = views.enumerated().lazy.compactMap { rank, view -> (Int, String)? in
                guard let i = view.kinds.firstIndex(of: plugin.kind) else { return (rank, "it does not know \(plugin.kind)") }
                return view.availability[i].usable ? nil : (rank, view.availability[i].reason)
            }.first
            if let (rank, reason) = refusal {
                if skipped == nil { skipped = (plugin, rank, reason) }
                continue
            }
            let mine = views.first.flatMap { view in view.kinds.firstIndex(of: plugin.kind).map { view.availability[$0].reason } } ?? ""
            guard let skipped else {
                return TransportSelection(kind: plugin.kind, reason: "auto chose \(plugin.displayName): \(mine)")
            }
            let why = views.count == 1 || skipped.rank == 0
                ? "\(skipped.plugin.needs) unavailable: \(skipped.reason)"
                : "rank \(skipped.rank) cannot use \(skipped.plugin.needs) (\(skipped.reason))"
            return TransportSelection(kind: plugin.kind, reason: "auto chose \(plugin.displayName): \(why)")
        }
        let last = ranked.last?.kind ?? TransportKind("tcp")
        return TransportSelection(kind: last, available: false, reason: "no transport is usable on every rank\(skipped.map { ": \($0.plugin.displayName) on rank \($0.rank): \($0.reason)" } ?? "")")
    }

    /// The job's choice: every rank must use the same transport, so for `auto` rank 0 takes
    /// the best transport every rank can use and tells the others.
    static func agree(choice: TransportChoice, context: TransportContext, control: ControlPlane,
                      registry: [TransportPlugin] = TransportRegistry.all) throws -> TransportSelection {
        guard choice == .auto else {
            let mine = select(choice, context: context, registry: registry)
            if !mine.available {
                throw FabricError.configuration("rank \(control.rank): --transport \(choice): \(mine.reason)")
            }
            return mine
        }
        let views = try control.gather("transport/candidates", candidates(context: context, registry: registry), what: "usable transports")
        let decision = try control.decide("transport/decision", what: "transport decision") {
            decide(among: views ?? [], registry: registry)
        }
        guard decision.available else { throw FabricError.configuration("rank \(control.rank): --transport auto: \(decision.reason)") }
        return decision
    }
}
