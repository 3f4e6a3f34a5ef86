import ArgumentParser
import FabricReport
import FabricResults
import FabricCore
import FabricPlacement
import FabricVerbs
import Foundation

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List RDMA devices and ports, their GID tables, NUMA nodes, and the GID fabricbench would choose.",
        discussion: "Examples:\n  fabricbench devices\n  fabricbench devices --json devices.json\n  fabricbench devices --ranks 8 --device auto\n  fabricbench devices --ranks 8 --device auto --cpus 0,12,24,36,48,60,72,84")

    @Option(help: "Also write the list as JSON to this file.")
    var json: String?

    @Option(help: ArgumentHelp("Print the device each of N local ranks would get from --device (and --cpus), and why.", valueName: "N"))
    var ranks: Int?

    @Option(help: ArgumentHelp("With --ranks: as the measuring commands take it (a name, a list local rank i takes entry i mod count from, or auto).", valueName: "nic"))
    var device: String?

    @Option(help: "With --ranks: the RDMA port number.")
    var port: Int = 1

    @Option(help: "With --ranks: the CPUs ranks would be pinned to (local rank i on entry i mod count).")
    var cpus: String?

    func validate() throws {
        try FlagBounds.check(ranks, "--ranks", 1...1024)
        try FlagBounds.check(port, "--port", 1...255)
        if ranks == nil && (device != nil || cpus != nil) { throw ValidationError("--device and --cpus go with --ranks N here (the mapping N local ranks would get)") }
        do { _ = try NICAssignment(parsing: device, flag: "--device", allowsAuto: true) } catch { throw ValidationError("\(error)") }
        _ = try cpuList()
    }

    func cpuList() throws -> [Int] { try FlagBounds.cpuList(cpus) }

    func run() throws {
        let ports: [RDMAPort]
        do {
            ports = try RDMADevices.list()
        } catch {
            throw RankFailure(description: "\(error)", code: 1)
        }
        if ports.isEmpty { throw RankFailure(description: "no RDMA devices found (ibv_devices lists none)", code: 1) }
        if let ranks {
            try printMapping(ranks: ranks, ports: ports)
            return
        }
        for p in ports {
            print("\(p.device) port \(p.port): \(p.state), link layer \(p.linkLayer), active MTU \(p.activeMTU), LID \(p.lid), \(p.speed), NUMA node \(p.numaNode.map(String.init) ?? "unknown")")
            for g in p.gids { print("  GID \(g.index)  \(g.type.padding(toLength: 8, withPad: " ", startingAt: 0))  \(g.gid)") }
            print("  chosen: \(p.choice)")
        }
        if let json {
            let data = try JSONReport.encoder().encode(DevicesDocument(ports: ports))
            guard FileManager.default.createFile(atPath: json, contents: data) else {
                throw RankFailure(description: "cannot write --json \(json)", code: 1)
            }
        }
    }
}

extension DevicesCommand {
    /// What `--device` gives each local rank, by the same rule a run uses.
    func printMapping(ranks: Int, ports: [RDMAPort]) throws {
        let assignment = try NICAssignment(parsing: device, flag: "--device", allowsAuto: true)
        let candidates = DeviceSelection.activeDevices(ports, port: port)
        let cpuNodes = try cpuList().map(NICAssignment.numaNode(ofCPU:))
        let pinned = try cpuList()
        print("# \(ranks) local ranks, --device \(device ?? "(none)"), port \(port)\(pinned.isEmpty ? "" : ", --cpus \(cpus!)"); active: \(candidates.map { "\($0.name) (node \($0.numaNode.map(String.init) ?? "?"))" }.joined(separator: ", "))")
        var used: [String: Int] = [:]
        for local in 0..<ranks {
            let choice: NICAssignment.Choice
            do {
                choice = try assignment.choose(localRank: local, candidates: candidates, cpuNodes: cpuNodes)
            } catch {
                throw RankFailure(description: "\(error)", code: 1)
            }
            let name = choice.name ?? candidates.first?.name ?? "none"
            let known = ports.first { $0.device == name && $0.port == port }
            let state = known.map { "\($0.state), NUMA node \($0.numaNode.map(String.init) ?? "unknown")" } ?? "not on this host"
            used[name, default: 0] += 1
            print("local rank \(local)\(pinned.isEmpty ? "" : " (CPU \(pinned[local % pinned.count]))"): \(name) port \(port) [\(state)]: \(choice.reason)")
        }
        let shared = used.filter { $0.value > 1 }.keys.sorted()
        if !shared.isEmpty { print("# shared by several ranks: \(shared.joined(separator: ", ")) (more ranks than NICs, or a list shorter than the ranks)") }
    }
}

/// `devices --json`: versioned like the result documents.
struct DevicesDocument: Encodable {
    var schemaVersion = currentSchemaVersion
    var ports: [RDMAPort]
}
