import CFabric

/// Whether RDMA verbs can be used on this host, and if not, why: the libraries are opened
/// at run time, so the same binary runs on hosts without rdma-core.
public struct RDMAAvailability: Sendable {
    public let librariesLoaded: Bool
    public let deviceNames: [String]
    /// Empty when usable.
    public let reason: String

    public var usable: Bool { reason.isEmpty }

    public static func probe() -> RDMAAvailability {
        var api = fab_rdma_api()
        var why = [CChar](repeating: 0, count: 1024)
        let mask = fab_rdma_load(&api, &why, why.count)
        guard mask & Int32(FAB_RDMA_HAVE_VERBS) != 0, let list = api.get_device_list else {
            return RDMAAvailability(librariesLoaded: false, deviceNames: [],
                                    reason: "libibverbs could not be loaded: \(String(cString: why))")
        }
        var count: Int32 = 0
        guard let devices = list(&count) else {
            return RDMAAvailability(librariesLoaded: true, deviceNames: [],
                                    reason: "ibv_get_device_list failed, this kernel has no RDMA support; load ib_uverbs and the NIC driver (rdma_rxe for Soft-RoCE)")
        }
        defer { api.free_device_list(devices) }
        let names = (0..<Int(count)).compactMap { i in devices[i].flatMap { api.get_device_name($0) }.map { String(cString: $0) } }
        if names.isEmpty {
            return RDMAAvailability(librariesLoaded: true, deviceNames: [],
                                    reason: "no RDMA devices found (ibv_devices lists none: check the NIC driver, or add a Soft-RoCE device with 'rdma link add')")
        }
        return RDMAAvailability(librariesLoaded: true, deviceNames: names, reason: "")
    }
}
