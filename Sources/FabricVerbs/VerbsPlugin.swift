import CFabricRDMA
import FabricCore
import FabricPlacement

extension TransportKind {
    public static let verbs = TransportKind("verbs")
}

extension VerbsTransport {
    /// Verbs wins `auto` wherever every rank has an active RDMA port.
    public static let plugin = TransportPlugin(
        kind: .verbs, displayName: "verbs", needs: "RDMA",
        summary: "RDMA verbs (InfiniBand, RoCE)", autoPreference: 10,
        probe: { _ in
            let rdma = RDMAAvailability.probe()
            return TransportAvailability(usable: rdma.usable,
                                         reason: rdma.usable ? "RDMA device(s) \(rdma.deviceNames.joined(separator: ", "))" : rdma.reason)
        },
        libraries: {
            var out: [String: String] = [:]
            for (name, which) in [("libibverbs", FAB_RDMA_HAVE_VERBS), ("librdmacm", FAB_RDMA_HAVE_RDMACM), ("libnuma", FAB_RDMA_HAVE_NUMA)] {
                out[name] = fab_rdma_library_path(Int32(which)).map { String(cString: $0) } ?? "not loaded"
            }
            let rdma = RDMAAvailability.probe()
            if !rdma.librariesLoaded { out["rdma"] = rdma.reason }
            return out
        },
        make: { store, context in
            var options = context[VerbsOptions.self]
            options.timeout = context.timeout
            options.localRank = context.localRank ?? store.rank
            options.cpuNodes = context.cpus.map(NICAssignment.numaNode(ofCPU:))
            // --cm's address: this rank's entry of an --iface list.
            options.cmInterface = try NICAssignment(parsing: options.cmInterface, flag: "--iface", allowsAuto: false)
                .choose(localRank: options.localRank, candidates: [], cpuNodes: []).name
            return try VerbsTransport(store: store, options: options)
        })
}
