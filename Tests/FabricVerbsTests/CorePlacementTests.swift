import XCTest
@testable import FabricPlacement

/// `--np`'s default placement: local rank i on its own core, next to the NIC when its NUMA
/// node is known.
final class CorePlacementTests: XCTestCase {
    func testLocalRanksTakeDistinctCoresInOrderAndWrap() {
        let cpus = (0..<4).map { CorePlacement.choose(localRank: $0, localSize: nil, allowed: [0, 1, 2, 3], nic: nil, nodeOfCPU: { _ in nil })?.cpu }
        XCTAssertEqual(cpus, [0, 1, 2, 3])
        XCTAssertEqual(CorePlacement.choose(localRank: 5, localSize: nil, allowed: [2, 3], nic: nil, nodeOfCPU: { _ in nil })?.cpu, 3, "5 mod 2 of the allowed CPUs")
        XCTAssertNil(CorePlacement.choose(localRank: 0, localSize: nil, allowed: [], nic: nil, nodeOfCPU: { _ in nil }))
    }

    func testTheNICsNodeNarrowsTheCores() {
        // CPUs 0-3 on node 0, 4-7 on node 1; the NIC on node 1.
        let node = { (cpu: Int) -> Int? in cpu / 4 }
        let near = (0..<5).map { CorePlacement.choose(localRank: $0, localSize: nil, allowed: Array(0..<8), nic: ("mlx5_1", 1), nodeOfCPU: node)!.cpu }
        XCTAssertEqual(near, [4, 5, 6, 7, 4])
        let choice = CorePlacement.choose(localRank: 1, localSize: 2, allowed: Array(0..<8), nic: ("mlx5_1", 1), nodeOfCPU: node)!
        XCTAssertTrue(choice.reason.contains("NUMA node 1 of mlx5_1"), choice.reason)
        // The NIC's node has none of the CPUs this process may use: all of them, and it says so.
        let far = CorePlacement.choose(localRank: 1, localSize: 2, allowed: [0, 1], nic: ("mlx5_1", 1), nodeOfCPU: node)!
        XCTAssertEqual(far.cpu, 1)
        XCTAssertTrue(far.reason.contains("none on NUMA node 1"), far.reason)
        // Unknown node (loopback, a VM): every allowed CPU.
        XCTAssertEqual(CorePlacement.choose(localRank: 1, localSize: 2, allowed: [0, 1], nic: ("lo", nil), nodeOfCPU: node)?.cpu, 1)
    }

    func testMoreLocalRanksThanCoresStayUnpinned() {
        let four = CorePlacement.choose(localRank: 3, localSize: 4, allowed: [0, 1], nic: nil, nodeOfCPU: { _ in nil })
        XCTAssertNil(four?.cpu)
        XCTAssertEqual(four?.reason, "--np default: not pinned: 4 local ranks on 2 CPUs (oversubscribed)")
        XCTAssertEqual(CorePlacement.choose(localRank: 1, localSize: 2, allowed: [0, 1], nic: nil, nodeOfCPU: { _ in nil })?.cpu, 1)
    }

    func testCPUListsParseAsProcfsWritesThem() {
        XCTAssertEqual(CorePlacement.parseList("0-3,8,10-11\n"), [0, 1, 2, 3, 8, 10, 11])
        XCTAssertEqual(CorePlacement.parseList(" 5"), [5])
        XCTAssertEqual(CorePlacement.parseList("3-1"), [])
        XCTAssertEqual(CorePlacement.parseList("x"), [])
        XCTAssertFalse(CorePlacement.allowedCPUs().isEmpty, "this process runs somewhere")
    }
}
