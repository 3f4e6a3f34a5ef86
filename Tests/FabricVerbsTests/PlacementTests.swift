import XCTest
import FabricPlacement

/// Verbs places a rank next to its NIC: --cpus wins, then --numa, then the NIC's own node.
/// The report's `placement` says which (the Soft-RoCE check greps the --numa wording).
final class PlacementTests: XCTestCase {
    func testTheNICsNodeUnlessPinnedOrGivenOne() {
        let nic = NUMAPlacement(device: "mlx5_0", deviceNode: 1, requestedNode: nil, cpusPinned: false)
        XCTAssertEqual(nic.choice, .bind(node: 1, requested: false))
        XCTAssertEqual(nic.description, "bound to NUMA node 1 (the NIC's)")

        let given = NUMAPlacement(device: "mlx5_0", deviceNode: 1, requestedNode: 0, cpusPinned: false)
        XCTAssertEqual(given.choice, .bind(node: 0, requested: true))
        XCTAssertEqual(given.description, "bound to NUMA node 0 (--numa)")

        let pinned = NUMAPlacement(device: "mlx5_0", deviceNode: 1, requestedNode: 0, cpusPinned: true)
        XCTAssertEqual(pinned.choice, .pinnedCPUs)
        XCTAssertEqual(pinned.description, "CPUs pinned with --cpus (NIC on NUMA node 1)")
        XCTAssertEqual(NUMAPlacement(device: "rxe0", deviceNode: nil, requestedNode: nil, cpusPinned: true).description,
                       "CPUs pinned with --cpus (NIC on NUMA node unknown)")

        let unknown = NUMAPlacement(device: "rxe0", deviceNode: nil, requestedNode: nil, cpusPinned: false)
        XCTAssertEqual(unknown.choice, .unknownNode)
        XCTAssertEqual(unknown.description, "not bound: rxe0's NUMA node is unknown (pass --numa N)")
    }

    func testOnlyABindingChoiceTouchesTheThread() throws {
        // Neither needs libnuma: apply() does nothing for them.
        try NUMAPlacement(device: "rxe0", deviceNode: nil, requestedNode: nil, cpusPinned: false).apply()
        try NUMAPlacement(device: "rxe0", deviceNode: 3, requestedNode: 2, cpusPinned: true).apply()
    }
}
