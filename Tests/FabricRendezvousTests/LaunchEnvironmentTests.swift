import XCTest
@testable import FabricRendezvous
import FabricCore

final class LaunchEnvironmentTests: XCTestCase {
    func detect(_ env: [String: String], _ manual: ManualLaunch = ManualLaunch()) throws -> LaunchSpec? {
        try LaunchEnvironment.detect(manual, environment: env)
    }

    func testNothingMeansNoLauncher() throws {
        XCTAssertNil(try detect(["PATH": "/bin"]))
    }

    func testFlags() throws {
        let s = try XCTUnwrap(detect([:], ManualLaunch(rank: 1, worldSize: 4, master: "10.1.1.1:29500", jobToken: "t")))
        XCTAssertEqual(s.launcher, .flags)
        XCTAssertEqual([s.rank, s.worldSize, s.masterPort], [1, 4, 29500])
        XCTAssertEqual(s.masterHost, "10.1.1.1")
        XCTAssertEqual(s.jobToken, "t")
    }

    func testOpenMPIOnOneHostUsesLoopbackAndAJobDerivedPort() throws {
        let env = ["OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_SIZE": "4",
                   "OMPI_COMM_WORLD_LOCAL_RANK": "3", "PMIX_NAMESPACE": "prterun-vm-1234@1"]
        let s = try XCTUnwrap(detect(env))
        XCTAssertEqual(s.launcher, .openmpi)
        XCTAssertEqual([s.rank, s.worldSize, s.localRank], [3, 4, 3])
        XCTAssertEqual(s.masterHost, "127.0.0.1")
        XCTAssertEqual(s.masterPort, LaunchEnvironment.derivedPort("prterun-vm-1234@1"))
        XCTAssertEqual(s.derivedPortSource, "PMIX_NAMESPACE")
        // Every rank of the job derives the same rendezvous and token.
        var other = env
        other["OMPI_COMM_WORLD_RANK"] = "0"
        XCTAssertEqual(try detect(other)?.masterPort, s.masterPort)
        XCTAssertEqual(try detect(other)?.jobToken, s.jobToken)
    }

    func testDerivedPortsStayBelowTheEphemeralRange() {
        // Linux hands out 32768-60999 to outgoing connections: a derived port there can be taken.
        let ports = (0..<5000).map { LaunchEnvironment.derivedPort("job-\($0)") }
        XCTAssertTrue(ports.allSatisfy { (12000..<32000).contains($0) }, "\(ports.filter { !(12000..<32000).contains($0) }.prefix(5))")
        XCTAssertGreaterThan(Set(ports).count, 4000, "job ids spread over the range")
    }

    func testOpenMPIAcrossHostsNeedsAMaster() throws {
        let env = ["OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "8", "OMPI_COMM_WORLD_LOCAL_SIZE": "4", "PMIX_NAMESPACE": "j"]
        XCTAssertThrowsError(try detect(env)) { XCTAssertTrue("\($0)".contains("--master"), "\($0)") }
        XCTAssertEqual(try detect(env, ManualLaunch(master: "node1:29500"))?.masterHost, "node1")
        var withVar = env
        withVar["FABRICBENCH_MASTER"] = "node2:3000"
        XCTAssertEqual(try detect(withVar)?.masterPort, 3000)
    }

    func testPMISlurmAndTorchrun() throws {
        let pmi = try XCTUnwrap(detect(["PMI_RANK": "1", "PMI_SIZE": "2", "MPI_LOCALNRANKS": "2", "PMI_KVSNAME": "kvs_1"]))
        XCTAssertEqual(pmi.launcher, .pmi)
        XCTAssertEqual(pmi.masterHost, "127.0.0.1")

        let slurm = try XCTUnwrap(detect(["SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_NNODES": "2", "SLURM_LOCALID": "1",
                                          "SLURM_JOB_ID": "77", "SLURM_STEP_ID": "0", "SLURM_STEP_NODELIST": "gpu[07-08]"]))
        XCTAssertEqual(slurm.launcher, .slurm)
        XCTAssertEqual([slurm.rank, slurm.worldSize, slurm.localRank], [5, 8, 1])
        XCTAssertEqual(slurm.masterHost, "gpu07")
        XCTAssertEqual(slurm.masterPort, LaunchEnvironment.derivedPort("77.0"))
        XCTAssertEqual(slurm.derivedPortSource, "SLURM_JOB_ID")

        let torch = try XCTUnwrap(detect(["RANK": "2", "WORLD_SIZE": "4", "MASTER_ADDR": "10.0.0.9", "MASTER_PORT": "29400"]))
        XCTAssertEqual(torch.launcher, .torchrun)
        XCTAssertEqual(torch.masterAddress, "10.0.0.9:29400")
        XCTAssertNil(torch.derivedPortSource)
        XCTAssertThrowsError(try detect(["RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "x"])) {
            XCTAssertTrue("\($0)".contains("MASTER_PORT"))
        }
    }

    func testMPIWinsOverAnEnclosingSlurmAllocation() throws {
        let s = try detect(["OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
                            "PMIX_NAMESPACE": "n", "SLURM_PROCID": "0", "SLURM_NTASKS": "1"])
        XCTAssertEqual(s?.launcher, .openmpi)
        XCTAssertEqual(s?.rank, 1)
    }

    func testBadValuesAreNamed() {
        XCTAssertThrowsError(try detect(["OMPI_COMM_WORLD_RANK": "x", "OMPI_COMM_WORLD_SIZE": "2"])) {
            XCTAssertTrue("\($0)".contains("OMPI_COMM_WORLD_RANK"))
        }
        XCTAssertThrowsError(try detect(["RANK": "4", "WORLD_SIZE": "4", "MASTER_ADDR": "a", "MASTER_PORT": "1"])) {
            XCTAssertTrue("\($0)".contains("out of range"))
        }
        XCTAssertThrowsError(try LaunchEnvironment.parseHostPort("node1", what: "--master"))
        XCTAssertThrowsError(try LaunchEnvironment.parseHostPort("node1:99999", what: "--master"))
        XCTAssertEqual(try LaunchEnvironment.parseHostPort("[fe80::1]:5", what: "--master").0, "fe80::1")
    }

    func testSlurmHostLists() {
        XCTAssertEqual(LaunchEnvironment.firstHost(ofSlurmList: "node[01-04,07],gpu5"), "node01")
        XCTAssertEqual(LaunchEnvironment.firstHost(ofSlurmList: "login1,node2"), "login1")
        XCTAssertEqual(LaunchEnvironment.firstHost(ofSlurmList: "c[3,5]"), "c3")
    }
}
