import XCTest
@testable import FabricEngine
import FabricResults

final class CalibrationPlanTests: XCTestCase {
    func testIntraAndInterHostPairsAreKeptApartAndDisjoint() {
        // Ranks placed round-robin over three hosts, as some launchers do.
        let plan = CalibrationPlan(hosts: ["a", "b", "c", "a", "b", "c", "a"])
        XCTAssertEqual(plan.hosts, [HostRanks(host: "a", ranks: [0, 3, 6]), HostRanks(host: "b", ranks: [1, 4]), HostRanks(host: "c", ranks: [2, 5])])
        XCTAssertEqual(plan.ranksPerHost, 3)
        XCTAssertEqual(plan.intra, [[0, 3], [1, 4], [2, 5]], "rank 6 has no partner left on its host")
        XCTAssertEqual(plan.inter, [[0, 1], [3, 4]], "host a with host b; host c has no partner host")
        let hosts = ["a", "b", "c", "a", "b", "c", "a"]
        for pair in plan.intra { XCTAssertEqual(hosts[pair[0]], hosts[pair[1]]) }
        for pair in plan.inter { XCTAssertNotEqual(hosts[pair[0]], hosts[pair[1]]) }
        for pairs in [plan.intra, plan.inter] { XCTAssertEqual(Set(pairs.flatMap { $0 }).count, 2 * pairs.count, "a rank in one pair at most") }
    }

    func testOneHostHasNoInterHostLinkAndOneRankAHostNoIntra() {
        XCTAssertEqual(CalibrationPlan(hosts: ["a", "a"]).inter, [])
        XCTAssertEqual(CalibrationPlan(hosts: ["a", "a"]).intra, [[0, 1]])
        XCTAssertEqual(CalibrationPlan(hosts: ["a", "b"]).intra, [])
        XCTAssertEqual(CalibrationPlan(hosts: ["a", "b"]).inter, [[0, 1]])
        XCTAssertEqual(CalibrationPlan(hosts: ["a", "b"]).ranksPerHost, 1)
    }
}
