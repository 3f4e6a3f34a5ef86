import FabricCore
import FabricPlacement

/// The port and GID a rank uses: `--device`, `--port` and `--gid-index` where given, else the
/// first device with an active port and the best-scored GID (as perftest scores them). Also
/// the NIC's NUMA node, for placement. Fails with what the host has and the flag to pass.
public struct DeviceSelection {
    let port: RDMAPort
    let gid: GIDEntry
    /// Why this GID, for the report's `gid_choice`.
    let gidChoice: String
    /// Why this device (`--device` list entry, `auto`'s NUMA rule), for `device_choice`.
    let deviceChoice: String
    var numaNode: Int? { port.numaNode }

    /// Chooses among the ports this host has.
    init(options: VerbsOptions, rank: Int) throws {
        try self.init(options: options, rank: rank, among: RDMADevices.list())
    }

    init(options: VerbsOptions, rank: Int, among ports: [RDMAPort]) throws {
        let assignment = try NICAssignment(parsing: options.device, flag: "--device", allowsAuto: true)
        let nic = try assignment.choose(localRank: options.localRank, candidates: Self.activeDevices(ports, port: options.port),
                                        cpuNodes: options.cpuNodes)
        let candidates = ports.filter { ($0.device == nic.name || nic.name == nil) && $0.port == options.port }
        guard let chosen = candidates.first(where: { $0.state == "ACTIVE" }) ?? candidates.first else {
            let have = ports.map { "\($0.device) port \($0.port) (\($0.state))" }.joined(separator: ", ")
            let why = nic.name == nil || nic.name == options.device ? "" : " (\(nic.reason))"
            throw FabricError.configuration("rank \(rank): no RDMA device \(nic.name ?? "with an active port") port \(options.port)\(why) (devices: \(have.isEmpty ? "none" : have)); see 'fabricbench devices'")
        }
        deviceChoice = options.deviceReason ?? (nic.name == nil ? "the first device with an active port \(options.port)" : nic.reason)
        guard chosen.state == "ACTIVE" else {
            throw FabricError.configuration("rank \(rank): \(chosen.device) port \(chosen.port) is \(chosen.state), not ACTIVE: check the cable/link (ibv_devinfo)")
        }
        let wanted = options.gidIndex ?? chosen.chosenGID
        guard let gid = chosen.gids.first(where: { $0.index == wanted }) else {
            throw FabricError.configuration("rank \(rank): \(chosen.device) port \(chosen.port) has no GID \(wanted.map(String.init) ?? "") (table: \(chosen.gids.map { "\($0.index) \($0.type) \($0.gid)" }.joined(separator: "; "))); pass --gid-index")
        }
        port = chosen
        self.gid = gid
        gidChoice = options.gidIndex == nil ? chosen.choice : "--gid-index"
    }

    /// Each device with `port` active, once, with its NUMA node: what `--device auto` spreads
    /// ranks over.
    public static func activeDevices(_ ports: [RDMAPort], port: Int) -> [NICAssignment.Candidate] {
        ports.filter { $0.port == port && $0.state == "ACTIVE" }.map { NICAssignment.Candidate(name: $0.device, numaNode: $0.numaNode) }
    }

    /// The GID a port's automatic choice takes (`RDMAPort.chosenGID`), and why (`choice`):
    /// the highest score, the lowest index among equals.
    static func automaticGID(among gids: [GIDEntry]) -> (index: Int?, reason: String) {
        guard let best = gids.max(by: { ($0.score, -$0.index) < ($1.score, -$1.index) }) else { return (nil, "no usable GID") }
        let traits = (best.isIPv4Mapped ? ", IPv4-mapped" : "") + (best.isLinkLocal ? ", link-local" : "")
        return (best.index, "GID \(best.index) (\(best.type)\(traits)): highest score; preferred are RoCE v2, then IB, then RoCE v1; IPv4-mapped; not link-local")
    }
}

extension GIDEntry {
    var isIPv4Mapped: Bool { raw.count == 16 && raw[0..<10].allSatisfy { $0 == 0 } && raw[10] == 0xff && raw[11] == 0xff }
    var isLinkLocal: Bool { raw.count == 16 && raw[0] == 0xfe && raw[1] & 0xc0 == 0x80 }

    /// Higher is better: RoCE v2 (routable) over IB over RoCE v1; IPv4-mapped over other
    /// addresses; link-local last (its address may still be tentative, and it does not route).
    var score: Int {
        (type == "RoCE v2" ? 100 : type == "IB" ? 60 : 20) + (isIPv4Mapped ? 20 : 0) - (isLinkLocal ? 30 : 0)
    }
}
