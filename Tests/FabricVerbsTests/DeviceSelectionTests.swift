import XCTest
@testable import FabricVerbs
import FabricCore
import FabricPlacement

/// Device, port and GID selection from a port list, without a device: what `--device`,
/// `--port` and `--gid-index` pick, what the automatic choice takes, and the refusals.
final class DeviceSelectionTests: XCTestCase {
    private func gid(_ index: Int, _ type: String, _ raw: [UInt8]) -> GIDEntry {
        GIDEntry(index: index, gid: RDMADevices.formatGID(raw), type: type, raw: raw)
    }

    private var linkLocal: [UInt8] { [0xfe, 0x80] + Array(repeating: 0, count: 13) + [1] }
    private var ipv4Mapped: [UInt8] { Array(repeating: 0, count: 10) + [0xff, 0xff, 10, 0, 2, 15] }

    private func port(_ device: String, _ number: Int = 1, state: String = "ACTIVE", numa: Int? = nil, gids: [GIDEntry]? = nil) -> RDMAPort {
        let table = gids ?? [gid(0, "RoCE v1", linkLocal), gid(1, "RoCE v2", linkLocal), gid(2, "RoCE v1", ipv4Mapped), gid(3, "RoCE v2", ipv4Mapped)]
        let (chosen, why) = DeviceSelection.automaticGID(among: table)
        return RDMAPort(device: device, port: number, state: state, linkLayer: "Ethernet", activeMTU: 1024, lid: 0, speed: "",
                        numaNode: numa, gids: table, chosenGID: chosen, choice: why)
    }

    private func options(device: String? = nil, port: Int = 1, gidIndex: Int? = nil) -> VerbsOptions {
        var o = VerbsOptions()
        o.device = device
        o.port = port
        o.gidIndex = gidIndex
        return o
    }

    private func refusal(_ options: VerbsOptions, _ ports: [RDMAPort], file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            let s = try DeviceSelection(options: options, rank: 1, among: ports)
            XCTFail("chose \(s.port.device) port \(s.port.port)", file: file, line: line)
            return ""
        } catch FabricError.configuration(let text) {
            return text
        } catch {
            XCTFail("\(error)", file: file, line: line)
            return ""
        }
    }

    func testRoCEv2IPv4MappedWinsAndLinkLocalLoses() {
        let (index, why) = DeviceSelection.automaticGID(among: port("rxe0").gids)
        XCTAssertEqual(index, 3)
        XCTAssertEqual(why, "GID 3 (RoCE v2, IPv4-mapped): highest score; preferred are RoCE v2, then IB, then RoCE v1; IPv4-mapped; not link-local")
        // Equal scores: the lower index.
        XCTAssertEqual(DeviceSelection.automaticGID(among: [gid(4, "IB", linkLocal), gid(2, "IB", linkLocal)]).index, 2)
        XCTAssertEqual(DeviceSelection.automaticGID(among: [gid(0, "IB", linkLocal)]).reason,
                       "GID 0 (IB, link-local): highest score; preferred are RoCE v2, then IB, then RoCE v1; IPv4-mapped; not link-local")
        XCTAssertNil(DeviceSelection.automaticGID(among: []).index)
        XCTAssertEqual(DeviceSelection.automaticGID(among: []).reason, "no usable GID")
    }

    func testTheFirstActivePortAndItsScoredGIDUnlessFlagsSayOtherwise() throws {
        let ports = [port("mlx5_0", state: "DOWN"), port("mlx5_1", numa: 1), port("mlx5_1", 2, numa: 1)]
        let auto = try DeviceSelection(options: options(), rank: 0, among: ports)
        XCTAssertEqual([auto.port.device, "\(auto.port.port)", "\(auto.gid.index)"], ["mlx5_1", "1", "3"])
        XCTAssertEqual(auto.numaNode, 1)
        XCTAssertEqual(auto.gidChoice, auto.port.choice)

        let second = try DeviceSelection(options: options(device: "mlx5_1", port: 2, gidIndex: 1), rank: 0, among: ports)
        XCTAssertEqual([second.port.device, "\(second.port.port)", "\(second.gid.index)"], ["mlx5_1", "2", "1"])
        XCTAssertEqual(second.gidChoice, "--gid-index")
    }

    func testRefusalsNameWhatTheHostHasAndTheFlagToPass() {
        let ports = [port("mlx5_0", state: "DOWN"), port("rxe0")]
        XCTAssertEqual(refusal(options(device: "mlx5_9"), ports),
                       "rank 1: no RDMA device mlx5_9 port 1 (devices: mlx5_0 port 1 (DOWN), rxe0 port 1 (ACTIVE)); see 'fabricbench devices'")
        XCTAssertEqual(refusal(options(port: 2), []), "rank 1: no RDMA device with an active port port 2 (devices: none); see 'fabricbench devices'")
        XCTAssertEqual(refusal(options(device: "mlx5_0"), ports),
                       "rank 1: mlx5_0 port 1 is DOWN, not ACTIVE: check the cable/link (ibv_devinfo)")
        XCTAssertEqual(refusal(options(device: "rxe0", gidIndex: 7), ports),
                       "rank 1: rxe0 port 1 has no GID 7 (table: 0 RoCE v1 fe80::1; 1 RoCE v2 fe80::1; 2 RoCE v1 ::ffff:10.0.2.15; 3 RoCE v2 ::ffff:10.0.2.15); pass --gid-index")
        XCTAssertEqual(refusal(options(), [port("rxe0", gids: [])]), "rank 1: rxe0 port 1 has no GID  (table: ); pass --gid-index")
    }

    // MARK: one NIC per local rank (rails)

    private func mapped(_ device: String, local: Int, _ ports: [RDMAPort], cpuNodes: [Int?] = []) throws -> DeviceSelection {
        var o = options(device: device)
        o.localRank = local
        o.cpuNodes = cpuNodes
        return try DeviceSelection(options: o, rank: local, among: ports)
    }

    func testAListGivesLocalRankIEntryIModItsLength() throws {
        let ports = (0..<4).map { port("mlx5_\($0)", numa: $0 / 2) }
        let picked = try (0..<6).map { try mapped("mlx5_3,mlx5_1", local: $0, ports).port.device }
        XCTAssertEqual(picked, ["mlx5_3", "mlx5_1", "mlx5_3", "mlx5_1", "mlx5_3", "mlx5_1"])
        XCTAssertEqual(try mapped("mlx5_3,mlx5_1", local: 3, ports).deviceChoice, "--device entry 2 of 2 (local rank 3 mod 2)")
        // A listed device this host lacks is named with the entry that chose it.
        XCTAssertEqual(refusal({ var o = options(device: "mlx5_0,mlx5_9"); o.localRank = 1; return o }(), ports),
                       "rank 1: no RDMA device mlx5_9 port 1 (--device entry 2 of 2 (local rank 1 mod 2)) (devices: mlx5_0 port 1 (ACTIVE), mlx5_1 port 1 (ACTIVE), mlx5_2 port 1 (ACTIVE), mlx5_3 port 1 (ACTIVE)); see 'fabricbench devices'")
    }

    func testAutoGivesEightRanksEightDistinctNICsOrderedByNUMANodeSkippingDownPorts() throws {
        // An 8-GPU server: NICs 0-3 on node 0, 4-7 on node 1, listed out of order; a ninth is down.
        var ports = [4, 0, 6, 2, 7, 1, 5, 3].map { port("mlx5_\($0)", numa: $0 / 4) }
        ports.append(port("mlx5_8", state: "DOWN", numa: 0))
        let picked = try (0..<8).map { try mapped("auto", local: $0, ports) }
        XCTAssertEqual(picked.map(\.port.device), (0..<8).map { "mlx5_\($0)" })
        XCTAssertEqual(picked.map(\.numaNode), [0, 0, 0, 0, 1, 1, 1, 1])
        XCTAssertEqual(picked[5].deviceChoice, "auto: NIC 6 of 8 by (NUMA node, name) for local rank 5, on node 1")
        // More ranks than NICs wrap around.
        XCTAssertEqual(try mapped("auto", local: 9, ports).port.device, "mlx5_1")
    }

    func testAutoKeepsPinnedRanksOnTheirCPUsNode() throws {
        let ports = (0..<4).map { port("mlx5_\($0)", numa: $0 / 2) }
        // --cpus puts local ranks 0 and 2 on node 1, ranks 1 and 3 on node 0.
        let nodes: [Int?] = [1, 0, 1, 0]
        let picked = try (0..<4).map { try mapped("auto", local: $0, ports, cpuNodes: nodes).port.device }
        XCTAssertEqual(picked, ["mlx5_2", "mlx5_0", "mlx5_3", "mlx5_1"])
        XCTAssertEqual(try mapped("auto", local: 2, ports, cpuNodes: nodes).deviceChoice,
                       "auto: NUMA node 1 of the rank's CPU; NIC 2 of its 2, local rank 2 pinned there")
        // A node without NICs falls back to every NIC, and says so.
        let far = try mapped("auto", local: 1, ports, cpuNodes: [0, 3])
        XCTAssertEqual(far.port.device, "mlx5_1")
        XCTAssertTrue(far.deviceChoice.hasPrefix("auto: no NIC on NUMA node 3"), far.deviceChoice)
        XCTAssertEqual(refusal({ var o = options(device: "auto"); o.localRank = 0; return o }(), [port("mlx5_0", state: "DOWN")]),
                       "--device auto: this host has no NIC that is up; see 'fabricbench devices'")
    }

    func testNICListsAreCheckedBeforeAnythingRuns() {
        func refused(_ text: String, _ flag: String = "--device", auto: Bool = true) -> String {
            do {
                _ = try NICAssignment(parsing: text, flag: flag, allowsAuto: auto)
                return "accepted"
            } catch { return "\(error)" }
        }
        XCTAssertTrue(refused("mlx5_0,,mlx5_1").contains("entry 2 is empty"))
        XCTAssertTrue(refused("mlx5_0, ").contains("entry 2 is empty"))
        XCTAssertEqual(refused("mlx5_0+mlx5_1,mlx5_2+mlx5_3"), "accepted")
        XCTAssertTrue(refused("mlx5_0+").contains("a NIC name is missing around '+'"))
        XCTAssertTrue(refused((0...16).map { "mlx5_\($0)" }.joined(separator: "+")).contains("at most 16 NICs"))
        let striping = try? NICAssignment(parsing: "mlx5_0+mlx5_1,mlx5_2", flag: "--device", allowsAuto: true)
        XCTAssertEqual(striping?.striped(localRank: 2)?.nics, ["mlx5_0", "mlx5_1"])
        XCTAssertEqual(striping?.striped(localRank: 2)?.reason, "--device entry 1 of 2 (local rank 2 mod 2)")
        XCTAssertNil(striping?.striped(localRank: 1), "a single NIC is not striped")
        XCTAssertTrue(refused("auto,mlx5_0").contains("'auto' stands alone"))
        XCTAssertTrue(refused("auto", "--iface", auto: false).contains("--iface auto: automatic mapping needs"))
        XCTAssertEqual(refused("eth0,eth1", "--iface", auto: false), "accepted")
        XCTAssertEqual(try NICAssignment(parsing: nil, flag: "--device", allowsAuto: true).rule, .any)
    }
}
