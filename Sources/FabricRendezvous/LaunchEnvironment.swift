import FabricCore
import Foundation
/// Where a rank's identity and the rendezvous address come from.
public enum Launcher: String, Codable, Sendable {
    case flags          // --rank/--world-size/--master
    case fabricbench    // spawned by `fabricbench --np N`
    case openmpi        // mpirun (Open MPI)
    case pmi            // PMI_RANK/PMI_SIZE (MPICH Hydra, Intel MPI)
    case slurm          // srun
    case torchrun       // RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT
}

/// This process's place in the job.
public struct LaunchSpec: Equatable, Sendable {
    public var launcher: Launcher
    public var rank: Int
    public var worldSize: Int
    /// Rank among the processes on this host (for CPU placement), when the launcher says.
    public var localRank: Int?
    /// Processes of this job on this host, when the launcher says.
    public var localSize: Int?
    public var masterHost: String
    public var masterPort: Int
    /// Distinguishes concurrent jobs on one host: their messages never cross.
    public var jobToken: String
    /// True when some process other than rank 0 already runs the rendezvous (the `--np` launcher).
    public var storeIsExternal: Bool
    /// Set when the port was derived from the launcher's job id (not given): names that id.
    public var derivedPortSource: String? = nil

    public var masterAddress: String { masterHost.contains(":") ? "[\(masterHost)]:\(masterPort)" : "\(masterHost):\(masterPort)" }
}

/// The identity flags a user may give by hand; nil when not given.
public struct ManualLaunch: Sendable {
    public var rank: Int?
    public var worldSize: Int?
    public var master: String?
    public var jobToken: String?
    public init(rank: Int? = nil, worldSize: Int? = nil, master: String? = nil, jobToken: String? = nil) {
        self.rank = rank
        self.worldSize = worldSize
        self.master = master
        self.jobToken = jobToken
    }
}

public enum LaunchEnvironment {
    /// Environment variables the `--np` launcher sets for its children.
    public enum Variable {
        public static let rank = "FABRICBENCH_RANK"
        public static let worldSize = "FABRICBENCH_WORLD_SIZE"
        public static let master = "FABRICBENCH_MASTER"
        public static let jobToken = "FABRICBENCH_JOB_TOKEN"
        public static let jobTokenFile = "FABRICBENCH_JOB_TOKEN_FILE"
        public static let externalStore = "FABRICBENCH_EXTERNAL_STORE"
        /// The host name this rank reports (see `--host-label`).
        public static let hostLabel = "FABRICBENCH_HOST"
        /// This rank's index among its host's ranks, and their count, over what the launcher
        /// says (scripts/netns-hosts.sh sets them: its "hosts" share one kernel).
        public static let localRank = "FABRICBENCH_LOCAL_RANK"
        public static let localSize = "FABRICBENCH_LOCAL_SIZE"
    }

    /// The most ranks one job may have: far beyond any cluster, low enough that every
    /// count and size derived from it stays in range.
    public static let maximumWorldSize = 1 << 20

    /// Port used when only a launcher's job id is known: derived from it, so ranks of one
    /// job agree and two jobs rarely collide. 12000-31999 stays below Linux's ephemeral range
    /// (32768-60999 by default), where any outgoing connection on the host may hold the port.
    public static func derivedPort(_ job: String) -> Int { 12000 + Int(WireFormat.token(for: job) % 20000) }

    /// Works out rank, world size and rendezvous from flags, then from the launchers'
    /// environment variables. Returns nil when nothing says this is a multi-rank job.
    public static func detect(_ manual: ManualLaunch, environment env: [String: String]) throws -> LaunchSpec? {
        func int(_ name: String) throws -> Int? {
            guard let text = env[name] else { return nil }
            guard let v = Int(text), v >= 0, v <= maximumWorldSize else {
                throw FabricError.configuration("environment variable \(name)='\(text)' is not an integer from 0 to \(maximumWorldSize)")
            }
            return v
        }

        var launcher: Launcher
        var rank: Int
        var world: Int
        var localSize: Int?
        var localRank: Int?
        var jobIdVariable: String?  // the launcher's job id, which names the job's rendezvous

        if manual.rank != nil || manual.worldSize != nil {
            guard let r = manual.rank, let w = manual.worldSize else {
                throw FabricError.configuration("--rank and --world-size go together (with --master HOST:PORT)")
            }
            (launcher, rank, world) = (.flags, r, w)
        } else if let r = try int(Variable.rank), let w = try int(Variable.worldSize) {
            (launcher, rank, world) = (.fabricbench, r, w)
            localRank = r
            localSize = w
        } else if let r = try int("OMPI_COMM_WORLD_RANK"), let w = try int("OMPI_COMM_WORLD_SIZE") {
            (launcher, rank, world) = (.openmpi, r, w)
            localSize = try int("OMPI_COMM_WORLD_LOCAL_SIZE")
            localRank = try int("OMPI_COMM_WORLD_LOCAL_RANK")
            jobIdVariable = ["PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid", "OMPI_MCA_orte_ess_jobid"].first { env[$0] != nil }
        } else if let r = try int("PMI_RANK"), let w = try int("PMI_SIZE") {
            (launcher, rank, world) = (.pmi, r, w)
            localSize = try int("MPI_LOCALNRANKS")
            localRank = try int("MPI_LOCALRANKID")
            jobIdVariable = ["PMI_KVSNAME", "PMIX_NAMESPACE"].first { env[$0] != nil }
        } else if let r = try int("SLURM_PROCID"), let w = try int("SLURM_NTASKS") {
            (launcher, rank, world) = (.slurm, r, w)
            localRank = try int("SLURM_LOCALID")
            if try int("SLURM_NNODES") == 1 || int("SLURM_JOB_NUM_NODES") == 1 { localSize = w }
            jobIdVariable = "SLURM_JOB_ID"
        } else if let r = try int("RANK"), let w = try int("WORLD_SIZE") {
            (launcher, rank, world) = (.torchrun, r, w)
            localSize = try int("LOCAL_WORLD_SIZE")
            localRank = try int("LOCAL_RANK")
            jobIdVariable = "TORCHELASTIC_RUN_ID"
        } else {
            return nil
        }
        if let r = try int(Variable.localRank) { localRank = r }
        if let s = try int(Variable.localSize) { localSize = s }
        if let r = localRank, r < 0 || r >= (localSize ?? world) {
            throw FabricError.configuration("local rank \(r) is out of range for \(localSize.map { "\($0) ranks on this host" } ?? "world size \(world)") (from \(env[Variable.localRank] != nil ? Variable.localRank : launcher.rawValue))")
        }
        var jobId = jobIdVariable.flatMap { env[$0] }
        if launcher == .slurm { jobId = jobId.map { "\($0).\(env["SLURM_STEP_ID"] ?? "0")" } }  // one rendezvous per step
        guard world >= 1, world <= maximumWorldSize else {
            throw FabricError.configuration("world size \(world) is outside 1...\(maximumWorldSize) (from \(launcher.rawValue))")
        }
        guard rank < world else { throw FabricError.configuration("rank \(rank) is out of range for world size \(world) (from \(launcher.rawValue))") }

        // The rendezvous address, most explicit first.
        var master = manual.master ?? env[Variable.master]
        if master == nil, let addr = env["MASTER_ADDR"] {
            guard let port = env["MASTER_PORT"] else {
                throw FabricError.configuration("MASTER_ADDR is set but MASTER_PORT is not: set both, or pass --master HOST:PORT")
            }
            master = addr.contains(":") ? "[\(addr)]:\(port)" : "\(addr):\(port)"
        }
        var derivedPortSource: String?
        if master == nil, let job = jobId {
            if localSize == world {
                master = "127.0.0.1:\(derivedPort(job))"
            } else if launcher == .slurm, let nodes = env["SLURM_STEP_NODELIST"] ?? env["SLURM_JOB_NODELIST"],
                      let first = firstHost(ofSlurmList: nodes) {
                master = "\(first):\(derivedPort(job))"
            }
            if master != nil { derivedPortSource = jobIdVariable }
        }
        guard let masterText = master else {
            throw FabricError.configuration("rank \(rank) of \(world) (\(launcher.rawValue)): no rendezvous address: pass --master HOST:PORT naming rank 0's host and a free port, or set FABRICBENCH_MASTER or MASTER_ADDR/MASTER_PORT")
        }
        let (host, port) = try parseHostPort(masterText, what: "--master")
        let token = manual.jobToken ?? env[Variable.jobToken] ?? jobId.map { "\(launcher.rawValue)/\($0)" } ?? "\(masterText)/\(world)"
        return LaunchSpec(launcher: launcher, rank: rank, worldSize: world, localRank: localRank, localSize: localSize, masterHost: host, masterPort: port,
                          jobToken: token, storeIsExternal: env[Variable.externalStore] == "1", derivedPortSource: derivedPortSource)
    }

    /// The secret in a token file (--job-token-file): the file must be readable by its owner
    /// alone, as ssh demands of a key, or anyone on the node could join the job.
    public static func token(fromFile path: String) throws -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw FabricError.configuration("--job-token-file \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw FabricError.configuration("--job-token-file \(path) is readable by others (mode \(String(info.st_mode & 0o777, radix: 8))): run 'chmod 600 \(path)'")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw FabricError.configuration("--job-token-file \(path) cannot be read as text")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.utf8.count >= 8 else {
            throw FabricError.configuration("--job-token-file \(path) holds \(token.utf8.count) characters: a secret needs at least 8 (e.g. 'head -c 32 /dev/urandom | base64 > \(path)')")
        }
        return token
    }

    /// "host:port", "[v6]:port". Throws a message naming the flag.
    public static func parseHostPort(_ text: String, what: String) throws -> (String, Int) {
        try Socket.parseHostPort(text, what: what)
    }

    /// The first host of a Slurm host list: "node[07-09,12],gpu1" gives "node07".
    public static func firstHost(ofSlurmList list: String) -> String? {
        guard let first = list.split(separator: ",", maxSplits: 1).first.map(String.init), !first.isEmpty else { return nil }
        guard let open = first.firstIndex(of: "[") else { return first }
        let prefix = first[..<open]
        let ranges = list[list.index(after: list.firstIndex(of: "[")!)...]
        let firstRange = ranges.prefix { $0 != "," && $0 != "]" }
        let start = firstRange.split(separator: "-").first.map(String.init) ?? ""
        return start.isEmpty ? nil : prefix + start
    }
}
