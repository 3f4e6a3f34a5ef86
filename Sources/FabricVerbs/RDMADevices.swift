import FabricCore
import CFabricRDMA
import CFabricSystem
import Foundation

/// The RDMA libraries' entry points, opened once with dlopen.
enum RDMALibrary {
    static let loaded: (api: fab_rdma_api, mask: Int32, why: String) = {
        var api = fab_rdma_api()
        var why = [CChar](repeating: 0, count: 1024)
        let mask = fab_rdma_load(&api, &why, why.count)
        return (api, mask, why.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
    }()

    static var verbsLoaded: Bool { loaded.mask & Int32(FAB_RDMA_HAVE_VERBS) != 0 }

    static func verbs() throws -> fab_rdma_api {
        guard loaded.mask & Int32(FAB_RDMA_HAVE_VERBS) != 0 else {
            throw FabricError.configuration("RDMA unavailable: libibverbs could not be loaded: \(loaded.why)")
        }
        return loaded.api
    }

    /// For --cm: librdmacm as well as libibverbs.
    static func connectionManager() throws -> fab_rdma_api {
        let api = try verbs()
        guard loaded.mask & Int32(FAB_RDMA_HAVE_RDMACM) != 0 else {
            throw FabricError.configuration("--cm needs librdmacm, which could not be loaded: \(loaded.why); or drop --cm to connect through the rendezvous")
        }
        return api
    }
}

/// One GID table entry.
public struct GIDEntry: Codable, Sendable, Equatable {
    public var index: Int
    public var gid: String
    /// "IB", "RoCE v1" or "RoCE v2".
    public var type: String
    public var raw: [UInt8]
}

/// One port of one RDMA device, as `fabricbench devices` shows it.
public struct RDMAPort: Codable, Sendable {
    public var device: String
    public var port: Int
    public var state: String
    public var linkLayer: String
    public var activeMTU: Int
    public var lid: Int
    public var speed: String
    public var numaNode: Int?
    public var gids: [GIDEntry]
    /// The GID auto-selection would use, and why.
    public var chosenGID: Int?
    public var choice: String
}

public enum RDMADevices {
    /// Every port of every device. Throws with the reason when RDMA is unavailable.
    public static func list() throws -> [RDMAPort] {
        let api = try RDMALibrary.verbs()
        var count: Int32 = 0
        guard let devices = api.get_device_list(&count) else {
            throw FabricError.configuration("ibv_get_device_list failed (\(String(cString: strerror(errno)))): this kernel has no RDMA support; load ib_uverbs and the NIC driver (rdma_rxe for Soft-RoCE)")
        }
        defer { api.free_device_list(devices) }
        var ports: [RDMAPort] = []
        for i in 0..<Int(count) {
            guard let device = devices[i], let context = api.open_device(device) else { continue }
            defer { _ = api.close_device(context) }
            let name = api.get_device_name(device).map { String(cString: $0) } ?? "device \(i)"
            var attr = ibv_device_attr()
            guard api.query_device(context, &attr) == 0 else { continue }
            for p in 1...max(1, Int(attr.phys_port_cnt)) {
                if let port = try? describe(api: api, context: context, device: name, port: p) { ports.append(port) }
            }
        }
        return ports
    }

    static func describe(api: fab_rdma_api, context: UnsafeMutablePointer<ibv_context>, device: String, port p: Int) throws -> RDMAPort {
        var pa = ibv_port_attr()
        guard api.query_port(context, UInt8(p), &pa) == 0 else {
            throw FabricError.configuration("\(device) port \(p): ibv_query_port failed: \(String(cString: strerror(errno)))")
        }
        var gids: [GIDEntry] = []
        for index in 0..<Int(pa.gid_tbl_len) {
            var entry = ibv_gid_entry()
            guard api.query_gid_ex(context, UInt32(p), UInt32(index), &entry, 0, MemoryLayout<ibv_gid_entry>.size) == 0 else { continue }
            let raw = withUnsafeBytes(of: entry.gid.raw) { Array($0) }
            if raw.allSatisfy({ $0 == 0 }) { continue }
            let type = entry.gid_type == IBV_GID_TYPE_ROCE_V2.rawValue ? "RoCE v2"
                : entry.gid_type == IBV_GID_TYPE_ROCE_V1.rawValue ? "RoCE v1" : "IB"
            gids.append(GIDEntry(index: index, gid: formatGID(raw), type: type, raw: raw))
        }
        let (best, choice) = DeviceSelection.automaticGID(among: gids)
        let numa = (try? String(contentsOfFile: "/sys/class/infiniband/\(device)/device/numa_node", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return RDMAPort(device: device, port: p, state: portState(pa.state), linkLayer: pa.link_layer == UInt8(IBV_LINK_LAYER_ETHERNET) ? "Ethernet" : "InfiniBand",
                        activeMTU: mtuBytes(pa.active_mtu), lid: Int(pa.lid), speed: speed(pa), numaNode: numa.flatMap { $0 >= 0 ? $0 : nil },
                        gids: gids, chosenGID: best, choice: choice)
    }

    static func formatGID(_ raw: [UInt8]) -> String {
        var text = [CChar](repeating: 0, count: 64)
        raw.withUnsafeBytes { _ = inet_ntop(AF_INET6, $0.baseAddress, &text, socklen_t(text.count)) }
        return text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    static func portState(_ s: ibv_port_state) -> String {
        switch s {
        case IBV_PORT_ACTIVE: return "ACTIVE"
        case IBV_PORT_DOWN: return "DOWN"
        case IBV_PORT_INIT: return "INIT"
        case IBV_PORT_ARMED: return "ARMED"
        default: return "state \(s.rawValue)"
        }
    }

    static func mtuBytes(_ m: ibv_mtu) -> Int { m.rawValue >= 1 && m.rawValue <= 5 ? 128 << Int(m.rawValue) : 0 }

    static func mtuEnum(_ bytes: Int) -> ibv_mtu? {
        switch bytes {
        case 256: return IBV_MTU_256
        case 512: return IBV_MTU_512
        case 1024: return IBV_MTU_1024
        case 2048: return IBV_MTU_2048
        case 4096: return IBV_MTU_4096
        default: return nil
        }
    }

    static func speed(_ pa: ibv_port_attr) -> String {
        let width = [1: "1x", 2: "4x", 4: "8x", 8: "12x", 16: "2x"][Int(pa.active_width)] ?? "width \(pa.active_width)"
        let rate = [1: "2.5 Gb/s", 2: "5 Gb/s", 4: "10 Gb/s", 8: "10 Gb/s", 16: "14 Gb/s", 32: "25 Gb/s", 64: "50 Gb/s", 128: "100 Gb/s",
                    256: "200 Gb/s"][Int(pa.active_speed)] ?? "speed \(pa.active_speed)"
        return "\(width) \(rate) per lane"
    }
}
