import FabricMeasure
import Foundation

/// The one result model. Every renderer (terminal tables, JSON, later CSV/HTML) reads it;
/// nothing renders from engine state directly. JSON keys are snake_case.
/// Bumped on any incompatible change of a result document's shape.
/// 2: `status` may be "interrupted". 3: matrix bandwidth is measured each way
/// (`bandwidth_gbps` row = sender, links' `reverse_bandwidth`), with suspects and verdicts.
/// 4: `environment.ranks`, each rank's host, local rank, CPU and NIC.
/// 5: `algorithm_choice` (auto's per-size decision, its evidence, the tuning table used) and
/// `environment.ranks[].cpu_choice`; `calibrate` profiles carry it too. All optional: files of
/// earlier versions read unchanged.
public let currentSchemaVersion = 5

/// A run's document; `Result` is the per-size entry of the command (point-to-point or
/// collective), everything else is shared.
public struct RunDocument<Result: Codable & Sendable>: Codable, Sendable {
    public var schemaVersion = currentSchemaVersion
    public var command: String
    /// Every option of the command as given or defaulted, and the raw argv.
    public var arguments: [String: String]
    public var argv: [String]
    public var environment: RunEnvironment
    /// "running" while a sweep is in progress, then "complete" or "failed".
    public var status: RunDocumentStatus
    public var error: String?
    public var results: [Result]
    /// Collectives only: which ranks held the others up.
    public var stragglers: StragglerReport?
    /// Collectives under `--algo auto` with several algorithms: what chose each size's algorithm.
    public var algorithmChoice: AlgorithmChoice?
    /// `matrix` only: the rank pairs whose link is an outlier, e.g. [[2, 3]].
    public var outliers: [[Int]]?
    /// `matrix` only: the hosts and ranks that confirmed verdicts name, and the verdicts
    /// (suspects first, then links no suspect explains).
    public var suspectHosts: [String]?
    public var suspectRanks: [Int]?
    /// `matrix` only: the (host, NIC) pairs verdicts on some ranks of a host name ("node2 mlx5_1").
    public var suspectNics: [String]?
    public var verdicts: [Verdict]?


    public init(command: String, arguments: [String: String], argv: [String], environment: RunEnvironment) {
        self.command = command
        self.arguments = arguments
        self.argv = argv
        self.environment = environment
        status = .running
        results = []
    }
}

/// `interrupted`: SIGINT or SIGTERM ended the run; the results measured before it are kept.
public enum RunDocumentStatus: String, Codable, Sendable { case running, complete, failed, interrupted }

public struct RunEnvironment: Codable, Sendable {
    public var hostname: String
    public var kernel: String
    public var cpuModel: String
    public var cores: Int
    public var clockSource: String
    public var transport: TransportInfo
    public var launcher: String
    public var worldSize: Int
    /// Host of each rank, by rank.
    public var rankHosts: [String]
    /// Where each rank ran and which NIC it used, by rank (schema 4 on; nil in older files).
    public var ranks: [RankPlacement]?
    public var fabricbenchVersion: String
    /// The git commit of the build; nil in files written before it was recorded.
    public var fabricbenchCommit: String?
    public var libraries: [String: String]

    public init(hostname: String, kernel: String, cpuModel: String, cores: Int, clockSource: String, transport: TransportInfo,
                launcher: String, worldSize: Int, rankHosts: [String], fabricbenchVersion: String, fabricbenchCommit: String? = nil,
                libraries: [String: String]) {
        self.hostname = hostname
        self.kernel = kernel
        self.cpuModel = cpuModel
        self.cores = cores
        self.clockSource = clockSource
        self.transport = transport
        self.launcher = launcher
        self.worldSize = worldSize
        self.rankHosts = rankHosts
        self.fabricbenchVersion = fabricbenchVersion
        self.fabricbenchCommit = fabricbenchCommit
        self.libraries = libraries
    }
}

/// One rank's place: host, local rank, CPU, and the NIC it used (an RDMA device with its port,
/// GID index and NUMA node, or a TCP interface and address), with why that NIC.
public struct RankPlacement: Codable, Sendable, Equatable {
    public var rank: Int
    public var host: String
    public var localRank: Int?
    public var cpu: Int?
    /// Why this CPU: a --cpus entry, or `--np`'s default of a core per rank; nil: not pinned.
    public var cpuChoice: String?
    /// The device (mlx5_3) or interface (eth1); "shm" for shared memory.
    public var nic: String
    /// Why this NIC: a --device/--iface list entry, `auto`'s NUMA rule, the default.
    public var nicChoice: String?
    public var port: Int?
    public var gidIndex: Int?
    public var numaNode: Int?
    public var address: String?

    public init(rank: Int, host: String, localRank: Int?, cpu: Int?, nic: String, nicChoice: String?,
                port: Int?, gidIndex: Int?, numaNode: Int?, address: String?) {
        self.rank = rank
        self.host = host
        self.localRank = localRank
        self.cpu = cpu
        self.nic = nic
        self.nicChoice = nicChoice
        self.port = port
        self.gidIndex = gidIndex
        self.numaNode = numaNode
        self.address = address
    }

    /// From a transport's settings: verbs says device/port/gid_index/numa_node, TCP
    /// interface/address.
    public init(rank: Int, host: String, localRank: Int?, cpu: Int?, kind: String, settings: [String: String]) {
        self.init(rank: rank, host: host, localRank: localRank, cpu: cpu,
                  nic: settings["device"] ?? settings["interface"] ?? kind,
                  nicChoice: settings["device_choice"] ?? settings["interface_choice"],
                  port: settings["port"].flatMap { Int($0) }, gidIndex: settings["gid_index"].flatMap { Int($0) },
                  numaNode: settings["numa_node"].flatMap { Int($0) }, address: settings["address"])
    }

    /// How verdicts name it: "node17 mlx5_3".
    public var label: String { "\(host) \(nic)" }
}

public struct TransportInfo: Codable, Sendable {
    public var kind: String
    /// Why this transport was chosen (for --transport auto).
    public var selection: String
    public var settings: [String: String]

    public init(kind: String, selection: String, settings: [String: String]) {
        self.kind = kind
        self.selection = selection
        self.settings = settings
    }
}

/// One message size of a point-to-point run (latency or bandwidth).
public struct PointToPointResult: Codable, Sendable {
    public var bytes: Int
    /// Timed iterations per pair (warm-up excluded).
    public var iterations: Int
    public var warmupIterations: Int
    /// Latency: one-way = round trip / 2, over all pairs.
    public var oneWayUs: LatencySummary?
    /// HdrHistogram V2 compressed (base64) of the one-way latency in nanoseconds, all pairs merged.
    public var histogram: String?
    public var bandwidth: BandwidthFigures?
    public var pairs: [PairResult]
    /// Data verification, when it ran (-c 1): received bytes that differed from what was sent.
    public var wrongBytes: Int?

    public init(bytes: Int, iterations: Int, warmupIterations: Int, pairs: [PairResult]) {
        self.bytes = bytes
        self.iterations = iterations
        self.warmupIterations = warmupIterations
        self.pairs = pairs
    }
}

/// What one pair of ranks measured.
public struct PairResult: Codable, Sendable {
    public var ranks: [Int]
    public var hosts: [String]
    public var oneWayUs: LatencySummary?
    public var histogram: String?
    /// From ranks[0] to ranks[1] (a pair benchmark's initiator sends).
    public var bandwidth: BandwidthFigures?
    /// From ranks[1] to ranks[0], where both directions were measured (matrix).
    public var reverseBandwidth: BandwidthFigures?

    public init(ranks: [Int], hosts: [String]) {
        self.ranks = ranks
        self.hosts = hosts
    }
}

public struct BandwidthFigures: Codable, Sendable {
    /// 1 GB/s = 1e9 bytes per second. Bidirectional runs count both directions.
    public var gbps: Double
    public var messageRateMpps: Double
    public var bidirectional: Bool
    public var window: Int
    public var seconds: Double
    /// Per-window bandwidth spread: GB/s at the slowest, median and fastest window.
    public var windowGbps: WindowSpread?
    /// HdrHistogram (V2 compressed, base64) of the time per window of `window` messages, in
    /// nanoseconds: the samples `compare` tests bandwidth differences with.
    public var windowHistogram: String?

    public init(gbps: Double, messageRateMpps: Double, bidirectional: Bool, window: Int, seconds: Double, windowGbps: WindowSpread?) {
        self.gbps = gbps
        self.messageRateMpps = messageRateMpps
        self.bidirectional = bidirectional
        self.window = window
        self.seconds = seconds
        self.windowGbps = windowGbps
    }
}

public struct WindowSpread: Codable, Sendable {
    public var min: Double
    public var p50: Double
    public var max: Double
    public init(min: Double, p50: Double, max: Double) {
        self.min = min
        self.p50 = p50
        self.max = max
    }
}

public enum JSONReport {
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return e
    }

    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }

    /// Writes atomically (temporary file + rename), so a reader or a crash mid-write never
    /// sees half a document: the file always holds the last complete state of the run.
    public static func write<R>(_ document: RunDocument<R>, to path: String) throws {
        try writeValue(document, to: path, flag: "--json")
    }

    public static func writeValue<T: Encodable>(_ value: T, to path: String, flag: String) throws {
        try writeAtomically(try encoder().encode(value), to: path, flag: flag)
    }

    /// Writes `data` to `path` so that `path` always holds either the old file or the whole
    /// new one: a temporary file, fsynced, renamed over, and the directory fsynced. On any
    /// failure (a full disk, above all) the temporary file goes and the old file stays.
    public static func writeAtomically(_ data: Data, to path: String, flag: String) throws {
        let temporary = "\(path).\(getpid()).tmp"
        func failure(_ what: String) -> ReportError {
            let code = errno
            unlink(temporary)
            return ReportError("cannot write \(flag) \(path): \(what): \(String(cString: strerror(code)))\(code == ENOSPC ? " (the disk is full)" : " (does its directory exist and is it writable?)")",
                               errno: code)
        }
        let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("open") }
        var written = 0
        let ok: Bool = data.withUnsafeBytes { bytes in
            while written < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
                if n > 0 { written += n; continue }
                if n < 0 && errno == EINTR { continue }
                return false
            }
            return fsync(fd) == 0
        }
        guard ok else { let e = failure("write"); Glibc.close(fd); throw e }
        guard Glibc.close(fd) == 0 else { throw failure("close") }
        guard rename(temporary, path) == 0 else { throw failure("rename") }
        // The rename itself is durable only once the directory is.
        let directory = (path as NSString).deletingLastPathComponent
        let dfd = Glibc.open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); Glibc.close(dfd) }
    }

    public static func read<R>(_ path: String, as: R.Type = R.self) throws -> RunDocument<R> {
        guard let data = FileManager.default.contents(atPath: path) else { throw ReportError("cannot read \(path)") }
        do {
            return try decoder().decode(RunDocument<R>.self, from: data)
        } catch {
            throw ReportError("\(path) is not a fabricbench result: \(error)")
        }
    }
}

public struct ReportError: Error, CustomStringConvertible {
    public let description: String
    /// The failed call's errno, when a system call failed.
    public let errno: Int32?
    public init(_ description: String, errno: Int32? = nil) {
        self.description = description
        self.errno = errno
    }

    /// The description on one line with no control characters (a path or a string from a
    /// file may hold newlines or terminal escapes): each shown as \u{…}.
    public var singleLine: String {
        var out = ""
        for scalar in description.unicodeScalars {
            if scalar.properties.generalCategory == .control {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
