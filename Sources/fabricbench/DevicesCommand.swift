import ArgumentParser
import FabricReport
import FabricResults
import FabricCore
import FabricVerbs
import Foundation

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List RDMA devices and ports, their GID tables, NUMA nodes, and the GID fabricbench would choose.",
        discussion: "Examples:\n  fabricbench devices\n  fabricbench devices --json devices.json")

    @Option(help: "Also write the list as JSON to this file.")
    var json: String?

    func run() throws {
        let ports: [RDMAPort]
        do {
            ports = try RDMADevices.list()
        } catch {
            throw RankFailure(description: "\(error)", code: 1)
        }
        if ports.isEmpty { throw RankFailure(description: "no RDMA devices found (ibv_devices lists none)", code: 1) }
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

/// `devices --json`: versioned like the result documents.
struct DevicesDocument: Encodable {
    var schemaVersion = currentSchemaVersion
    var ports: [RDMAPort]
}
