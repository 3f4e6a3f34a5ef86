import XCTest
@testable import FabricVerbs
import FabricCore

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
}
