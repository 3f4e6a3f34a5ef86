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
            let cmInterfaces = try NICAssignment(parsing: options.cmInterface, flag: "--iface", allowsAuto: false)
            options.cmInterface = try cmInterfaces.choose(localRank: options.localRank, candidates: [], cpuNodes: []).name
            // An entry joining devices with '+': one part per device, messages striped over them.
            guard let striped = try NICAssignment(parsing: options.device, flag: "--device", allowsAuto: true).striped(localRank: options.localRank) else {
                return try VerbsTransport(store: store, options: options)
            }
            let addresses = cmInterfaces.striped(localRank: options.localRank)?.nics
            if options.connectionManager, addresses == nil, let one = options.cmBindAddress ?? options.cmInterface {
                throw FabricError.configuration("--cm over \(striped.nics.joined(separator: "+")) with one address (\(one)) for every device: give one interface per device (--iface eth0+eth1), or neither --bind nor --iface to use each device's own GID address")
            }
            if let addresses, addresses.count != striped.nics.count {
                throw FabricError.configuration("--device stripes over \(striped.nics.count) devices but --iface over \(addresses.count) interfaces: give one interface per device (--iface eth0+eth1 with --device mlx5_0+mlx5_1)")
            }
            return try StripedTransport(parts: striped.nics.count, store: store) { i, partStore in
                var part = options
                part.device = striped.nics[i]
                part.deviceReason = "\(striped.reason), striped over \(striped.nics.count) NICs"
                if let addresses { part.cmInterface = addresses[i] }
                return try VerbsTransport(store: partStore, options: part)
            }
        })
}
