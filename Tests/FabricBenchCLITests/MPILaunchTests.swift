import Foundation
import XCTest

/// fabricbench started by a real launcher: Open MPI's mpirun (installed by scripts/install-deps.sh).
/// The ranks read their rank and size from Open MPI's environment and bootstrap themselves.
final class MPILaunchTests: XCTestCase {
    func mpirun(_ arguments: [String], ranks: Int) throws -> CLIRun {
        let launcher = try Requirement.path(["/usr/bin/mpirun", "/usr/local/bin/mpirun"], "mpirun (Debian's openmpi-bin)")
        return try CLI.run(["--allow-run-as-root", "--oversubscribe", "-np", "\(ranks)", "--mca", "btl", "self,tcp", CLI.binary] + arguments,
                           limit: 180, executable: launcher)
    }

    func testMpirunFourRanksAllReduce() throws {
        let json = CLI.temporaryDirectory().appendingPathComponent("mpi.json")
        let r = try mpirun(["allreduce", "-b", "8", "-e", "64K", "-f", "8", "-n", "3", "-c", "1", "--json", json.path], ranks: 4)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("# Out of bounds values : 0 OK"), r.stdout + r.stderr)
        XCTAssertEqual(r.stdout.components(separatedBy: "#  Rank ").count - 1, 4, "four ranks listed")
        let env = try XCTUnwrap(try CLI.json(json)["environment"] as? [String: Any])
        XCTAssertEqual(env["launcher"] as? String, "openmpi")
        XCTAssertEqual(env["world_size"] as? Int, 4)
    }

    func testMpirunLatency() throws {
        let r = try mpirun(["latency", "-b", "8", "-e", "1K", "-f", "8", "-n", "200"], ranks: 2)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("t_typical[usec]"), r.stdout + r.stderr)
    }
}
