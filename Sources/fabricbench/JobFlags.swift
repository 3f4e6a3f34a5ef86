import ArgumentParser
import FabricEngine
import FabricMeasure
import FabricPlacement
import FabricCore
import FabricRendezvous
import FabricTCP
import FabricTransports
import FabricVerbs
import Foundation

extension TransportChoice: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument) }

    /// --help's text, from the registry: every transport says what it is once.
    static var help: String {
        let named = TransportRegistry.all.map { "\($0.kind) (\($0.summary)\($0.autoPreference == nil ? "; never chosen by auto" : ""))" }
        return "Transport: auto (the best transport every rank can use: verbs when every rank has a usable RDMA device, else TCP), or one of: \(named.joined(separator: ", "))."
    }
}

enum ClockChoice: String, CaseIterable, ExpressibleByArgument {
    case auto, tsc
    case monotonicRaw = "monotonic-raw"

    var source: ClockSource? {
        switch self {
        case .auto: return nil
        case .tsc: return .tsc
        case .monotonicRaw: return .monotonicRaw
        }
    }
}

/// A byte count flag: 8, 4K, 1M, 1G.
struct ByteSize: ExpressibleByArgument {
    let bytes: Int
    init?(argument: String) {
        guard let b = try? ByteCount.parse(argument) else { return nil }
        bytes = b
    }
    init(_ bytes: Int) { self.bytes = bytes }
    var defaultValueDescription: String { ByteCount.format(bytes) }
}

/// How ranks are launched and talk: shared by every command.
struct JobFlags: ParsableArguments {
    @Option(name: .customLong("np"), help: "Run N ranks on this host over loopback (default 2 when no launcher is detected).")
    var localRanks: Int?

    @Option(help: "This process's rank, for launching by hand (with --world-size and --master).")
    var rank: Int?

    @Option(help: "Number of ranks in the job, for launching by hand.")
    var worldSize: Int?

    @Option(help: "Rendezvous address HOST:PORT: rank 0 listens there, every rank connects to it.")
    var master: String?

    @Option(help: "Job name shared by all ranks; jobs with different tokens never connect to each other.")
    var jobToken: String?

    @Option(help: ArgumentHelp("Read the job token from this file (mode 600; or FABRICBENCH_JOB_TOKEN_FILE): a secret that never shows in ps or the JSON. Use it on shared nodes.", valueName: "path"))
    var jobTokenFile: String?

    /// The job token: --job-token, else the token file's secret (flag, then environment).
    func resolvedJobToken(environment: [String: String]) throws -> String? {
        if let jobToken { return jobToken }
        guard let path = jobTokenFile ?? environment[LaunchEnvironment.Variable.jobTokenFile] else { return nil }
        return try LaunchEnvironment.token(fromFile: path)
    }

    @Option(help: ArgumentHelp(TransportChoice.help))
    var transport: TransportChoice = .auto

    @Option(help: ArgumentHelp("RDMA device (mlx5_0), a list local rank i takes entry i mod count from (mlx5_0,mlx5_1,...: one NIC per rank, as on rail-optimized GPU nodes), or auto (active devices spread over local ranks by NUMA node; see 'fabricbench devices --ranks N'); default: the first with an active port.", valueName: "nic"))
    var device: String?

    @Option(help: "RDMA port number.")
    var port: Int = 1

    @Option(help: "GID table index; default: scored choice (RoCE v2, IPv4-mapped, not link-local; see 'fabricbench devices').")
    var gidIndex: Int?

    @Option(help: "RDMA path MTU in bytes (256, 512, 1024, 2048, 4096); default: both ports' active MTU.")
    var mtu: Int?

    @Option(help: "RoCE traffic class (DSCP << 2).")
    var tc: Int = 0

    @Option(help: "InfiniBand service level.")
    var sl: Int = 0

    @Option(name: .customLong("inline"), help: "Send messages up to this many bytes inline (RDMA).")
    var inlineBytes: Int = 64

    @Option(help: "RDMA data path: write (RDMA write with immediate to where the receiver said, NCCL style) or send (send/receive).")
    var verb: VerbsDataPath = .write

    @Flag(help: "RDMA: sleep on a completion channel while waiting instead of polling the CQ (frees the core; adds wake-up latency).")
    var events = false

    @Flag(help: "RDMA: connect queue pairs through librdmacm (address and route resolution, CM handshake) instead of the rendezvous exchange; the address is --bind, else --iface's, else the IP in the chosen RoCE GID.")
    var cm = false

    @Option(help: ArgumentHelp("RDMA: queue pairs per peer; messages of at least N × 4 KiB are striped over all of them (1-\(VerbsOptions.queuePairLimit)).", valueName: "N"))
    var qps: Int = 1

    @Option(help: "RDMA: run and allocate on this NUMA node (default: the NIC's node; --cpus overrides both).")
    var numa: Int?

    @Option(help: ArgumentHelp("Use this interface's address for data connections (eth1, ib0), or a list local rank i takes entry i mod count from (eth0,eth1: one rail each). The rendezvous listens on the first entry's address.", valueName: "name"))
    var iface: String?

    @Option(help: "This rank's index among the job's ranks on its host, which picks its --device/--iface/--cpus entry (default: from the launcher: OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID, LOCAL_RANK, FABRICBENCH_LOCAL_RANK, --np).")
    var localRank: Int?

    @Option(help: "Bind data connections to this local address.")
    var bind: String?

    @Flag(help: "Spin on non-blocking sockets and never sleep in poll(2): one busy core per rank. Without it a wait spins 1 ms without progress before it sleeps (at once when ranks outnumber cores).")
    var busyPoll = false

    @Option(help: "TCP socket buffer size (SO_SNDBUF/SO_RCVBUF). 0 (default) keeps the kernel's autotuning, which grows buffers to net.ipv4.tcp_[rw]mem's maximum and measured fastest here; a size fixes them.")
    var sockBuf = ByteSize(0)

    @Option(help: ArgumentHelp("The host name this rank reports (or FABRICBENCH_HOST), for containers or namespaces that share one: matrix verdicts and stragglers name hosts by it.", valueName: "name"))
    var hostLabel: String?

    /// --host-label, else FABRICBENCH_HOST; checked like a flag either way.
    func resolvedHostLabel(environment: [String: String]) throws -> String? {
        let (label, source) = hostLabel.map { ($0, "--host-label") } ?? (environment[LaunchEnvironment.Variable.hostLabel].map { ($0, LaunchEnvironment.Variable.hostLabel) } ?? (nil, ""))
        guard let label else { return nil }
        guard (1...255).contains(label.utf8.count), label.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value < 127 }) else {
            throw ValidationError("\(source) '\(label)' is not a host label: give 1 to 255 printable ASCII characters without spaces")
        }
        return label
    }

    @Option(help: ArgumentHelp("Testing aid: sleep a random time before each message sent, drawn (seeded per rank, before the run) from exp:MEAN, pareto:SCALE:ALPHA, uniform:A:B or const:D, in microseconds (e.g. exp:500).", valueName: "dist"))
    var injectJitter: String?

    @Option(help: "Seed of --inject-jitter's draws (rank r uses seed + r).")
    var jitterSeed: UInt64 = 1

    @Option(help: "Seconds any blocking step (connect, rendezvous, receive) may wait before failing with the peer's name.")
    var timeout: Double = 30

    @Option(help: "Pin ranks to CPUs, e.g. 0,2: local rank i gets entry i mod count. Default under --np: each local rank on a core of its own (i mod the CPUs it may use, on the NIC's NUMA node when known); none: unpinned.")
    var cpus: String?

    @Option(help: "Timestamp source: auto (invariant TSC if present, else CLOCK_MONOTONIC_RAW), tsc or monotonic-raw.")
    var clock: ClockChoice = .auto

    @Option(help: "Write results as versioned JSON to this file (rewritten after each size).")
    var json: String?

    @Option(help: "Write results as CSV to this file too (rewritten after each size).")
    var csv: String?

    @Option(help: ArgumentHelp("Write a JUnit XML report to this file for CI (one test case per size and gate, figures as properties; e.g. --junit fabricbench.xml).", valueName: "path"))
    var junit: String?

    @Option(help: ArgumentHelp("Write Prometheus metrics for node_exporter's textfile collector to this file, replaced atomically (e.g. --prom /var/lib/node_exporter/textfile/fabricbench.prom).", valueName: "path"))
    var prom: String?

    func validate() throws {
        if let n = localRanks, n < 1 { throw ValidationError("--np must be at least 1 (got \(n))") }
        if let n = localRanks, n > 1024 { throw ValidationError("--np \(n) is more local ranks than fabricbench will spawn (at most 1024)") }
        try FlagBounds.check(timeout, "--timeout", FlagBounds.seconds, unit: " seconds")
        try FlagBounds.check(worldSize, "--world-size", 1...LaunchEnvironment.maximumWorldSize)
        try FlagBounds.check(port, "--port", 1...255)
        try FlagBounds.check(gidIndex, "--gid-index", 0...65535)
        try FlagBounds.check(numa, "--numa", 0...1023)
        try FlagBounds.check(inlineBytes, "--inline", 0...65536, unit: " bytes")
        try FlagBounds.check(sockBuf.bytes, "--sock-buf", 0...(1 << 30), unit: " bytes")
        if localRanks != nil && (rank != nil || worldSize != nil) {
            throw ValidationError("--np spawns its own ranks: drop --rank/--world-size, or drop --np")
        }
        if (rank == nil) != (worldSize == nil) { throw ValidationError("--rank and --world-size go together (with --master HOST:PORT)") }
        if let r = rank, let w = worldSize, r < 0 || w < 1 || r >= w {
            throw ValidationError("--rank \(r) is out of range for --world-size \(w)")
        }
        if rank != nil && master == nil { throw ValidationError("--rank needs --master HOST:PORT (rank 0's host and a free port)") }
        if let master {
            do { _ = try LaunchEnvironment.parseHostPort(master, what: "--master") } catch { throw ValidationError("\(error)") }
        }
        if writesResults {
            try OutputPath.check(junit, "--junit")
            try OutputPath.check(prom, "--prom")
        }
        _ = try cpuList()
        try FlagBounds.check(localRank, "--local-rank", 0...LaunchEnvironment.maximumWorldSize)
        if localRanks != nil && localRank != nil { throw ValidationError("--np numbers its ranks itself: drop --local-rank") }
        do {
            _ = try NICAssignment(parsing: device, flag: "--device", allowsAuto: true)
            _ = try NICAssignment(parsing: iface, flag: "--iface", allowsAuto: false)
        } catch { throw ValidationError("\(error)") }
        _ = try resolvedHostLabel(environment: ProcessInfo.processInfo.environment)
        if let injectJitter {
            do { _ = try JitterDistribution(parsing: injectJitter) } catch { throw ValidationError("--inject-jitter \(error)") }
        }
        if let m = mtu, ![256, 512, 1024, 2048, 4096].contains(m) { throw ValidationError("--mtu \(m) is not an RDMA MTU (256, 512, 1024, 2048 or 4096)") }
        guard port >= 1 else { throw ValidationError("--port must be >= 1") }
        if let g = gidIndex, g < 0 { throw ValidationError("--gid-index must be >= 0") }
        if let n = numa, n < 0 { throw ValidationError("--numa must be >= 0") }
        guard (0...255).contains(tc), (0...15).contains(sl), inlineBytes >= 0 else {
            throw ValidationError("--tc takes 0...255, --sl 0...15, --inline >= 0")
        }
        guard (1...VerbsOptions.queuePairLimit).contains(qps) else {
            throw ValidationError("--qps \(qps): give 1 to \(VerbsOptions.queuePairLimit) queue pairs per peer")
        }
        if cm && (mtu != nil || sl != 0) {
            throw ValidationError("--cm takes the path MTU and service level from the route rdma_cm resolves: drop \(mtu != nil ? "--mtu" : "--sl"), or drop --cm to set it yourself")
        }
    }

    /// Only rank 0 writes result files, so only it (or the --np launcher) checks their folders:
    /// another rank may run on a host without that folder. The first launcher variable present
    /// names the rank, in LaunchEnvironment's order.
    var writesResults: Bool {
        if let rank { return rank == 0 }
        let environment = ProcessInfo.processInfo.environment
        for key in [LaunchEnvironment.Variable.rank, "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID", "RANK"] {
            if let value = environment[key] { return value == "0" }
        }
        return true
    }

    func cpuList() throws -> [Int] { try FlagBounds.cpuList(cpus) }

    var jobOptions: JobOptions {
        var o = JobOptions()
        o.transport = transport
        o.timeout = timeout
        o.cpus = (try? cpuList()) ?? []
        o.pinsByDefault = cpus == nil
        o.hostLabel = try? resolvedHostLabel(environment: ProcessInfo.processInfo.environment)
        o.injectJitter = injectJitter.flatMap { try? JitterDistribution(parsing: $0) }
        o.jitterSeed = jitterSeed
        o.transportContext.cpus = o.cpus
        // Rank 0 is local rank 0 under every launcher: its entry, and of a striped one its first NIC.
        let rankZeroInterface = (try? NICAssignment(parsing: iface, flag: "--iface", allowsAuto: false).choose(localRank: 0, candidates: [], cpuNodes: []))?.name
        o.storeAddress = bind ?? rankZeroInterface.flatMap { $0.split(separator: "+").first.flatMap { try? Socket.address(ofInterface: String($0)) } }
        var tcp = TCPOptions()
        tcp.bindAddress = bind
        tcp.interface = iface
        tcp.busyPoll = busyPoll
        tcp.socketBufferBytes = sockBuf.bytes
        o.transportContext[TCPOptions.self] = tcp
        var verbs = VerbsOptions()
        verbs.device = device
        verbs.port = port
        verbs.gidIndex = gidIndex
        verbs.mtu = mtu
        verbs.trafficClass = tc
        verbs.serviceLevel = sl
        verbs.inlineBytes = inlineBytes
        verbs.dataPath = verb
        verbs.events = events
        verbs.numaNode = numa
        verbs.connectionManager = cm
        verbs.cmBindAddress = bind
        verbs.cmInterface = iface
        verbs.queuePairs = qps
        verbs.pinned = !o.cpus.isEmpty
        o.transportContext[VerbsOptions.self] = verbs
        return o
    }

}

/// A file a command will write: its folder must exist, so a typo fails at once (exit 2),
/// not after the measurement.
enum OutputPath {
    static func check(_ path: String?, _ flag: String) throws {
        guard let path else { return }
        guard !path.isEmpty, !path.hasSuffix("/") else { throw ValidationError("\(flag) '\(path)' is not a file name") }
        let folder = (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.isEmpty ? "." : folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("\(flag) \(path): the folder \(folder) does not exist")
        }
    }

    /// `check`, and the path is not a folder and its folder is writable: for a file written
    /// only at the end of a long run, so the run cannot be lost to it.
    static func checkWritable(_ path: String, _ flag: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ValidationError("\(flag) \(path) is a folder; give the file's name")
        }
        try check(path, flag)
        let folder = (path as NSString).deletingLastPathComponent
        guard FileManager.default.isWritableFile(atPath: folder.isEmpty ? "." : folder) else {
            throw ValidationError("\(flag) \(path): the folder \(folder) is not writable; choose another path")
        }
    }
}

/// Message-size sweep flags in the perftest/nccl-tests spelling.
struct SweepFlags: ParsableArguments {
    @Option(name: .customShort("b"), help: ArgumentHelp( "Smallest message size (8, 4K, 1M, 1G).", valueName: "size"))
    var minBytes = ByteSize(8)

    @Option(name: .customShort("e"), help: ArgumentHelp("Largest message size (default: the -b size).", valueName: "size"))
    var maxBytes: ByteSize?

    @Option(name: .customShort("f"), help: "Multiply the size by this factor at each step.")
    var factor: Int = 2

    @Option(name: .customShort("w"), help: "Warm-up iterations per size (not recorded).")
    var warmup: Int?

    @Option(name: .customShort("D"), help: "Run each size for this many seconds instead of -n iterations.")
    var duration: Double?

    func validate() throws {
        guard minBytes.bytes >= 1 else {
            throw ValidationError("-b must be at least 1 byte: a 0-byte message carries nothing to time over TCP")
        }
        do { _ = try sweep() } catch { throw ValidationError("\(error)") }
        try FlagBounds.check(warmup, "-w", 0...FlagBounds.iterations.upperBound)
        try FlagBounds.check(duration, "-D", FlagBounds.seconds, unit: " seconds")
        try FlagBounds.check(factor, "-f", 2...1024)
        try FlagBounds.check(minBytes.bytes, "-b", FlagBounds.bytes, unit: " bytes")
        try FlagBounds.check(maxBytes?.bytes, "-e", FlagBounds.bytes, unit: " bytes")
    }

    func sweep() throws -> SizeSweep { try SizeSweep(min: minBytes.bytes, max: maxBytes?.bytes ?? minBytes.bytes, factor: factor) }

    /// The recorded largest size: -e defaults to -b.
    var derived: [String: String] { ["e": "\(maxBytes?.bytes ?? minBytes.bytes)"] }

}

extension VerbsDataPath: ExpressibleByArgument {}
