import Foundation

/// One candidate algorithm's times at one probed size, slowest rank per call.
public struct CandidateTiming: Codable, Sendable, Equatable {
    public var algo: String
    /// Median over rounds of a round's mean time per call.
    public var medianUs: Double
    /// 99th percentile over every timed call of every round.
    public var p99Us: Double
    /// The noise: median absolute deviation of the round times from their median.
    public var spreadUs: Double
    public var rounds: Int
    public var callsPerRound: Int

    public init(algo: String, medianUs: Double, p99Us: Double, spreadUs: Double, rounds: Int, callsPerRound: Int) {
        self.algo = algo
        self.medianUs = medianUs
        self.p99Us = p99Us
        self.spreadUs = spreadUs
        self.rounds = rounds
        self.callsPerRound = callsPerRound
    }
}

/// What the probe decided at one size, with the evidence.
public struct ProbedSize: Codable, Sendable, Equatable {
    public var bytes: Int
    public var algo: String
    public var reason: String
    public var candidates: [CandidateTiming]

    public init(bytes: Int, algo: String, reason: String, candidates: [CandidateTiming]) {
        self.bytes = bytes
        self.algo = algo
        self.reason = reason
        self.candidates = candidates
    }
}

/// The algorithm one size of the sweep ran, and why.
public struct SizeChoice: Codable, Sendable, Equatable {
    public var bytes: Int
    public var algo: String
    public var why: String
    public init(bytes: Int, algo: String, why: String) {
        self.bytes = bytes
        self.algo = algo
        self.why = why
    }
}

/// Which tuning table a run used.
public struct TableUse: Codable, Sendable, Equatable {
    public var path: String
    public var created: String
    public var ageSeconds: Double
    public init(path: String, created: String, ageSeconds: Double) {
        self.path = path
        self.created = created
        self.ageSeconds = ageSeconds
    }
}

/// `--algo auto`'s choice for a run (the JSON's `algorithm_choice`): measured on the spot
/// (`source` "probe") or read from a tuning table ("table"), the rule, the evidence at each
/// probed size, and the algorithm of every size of the sweep.
public struct AlgorithmChoice: Codable, Sendable, Equatable {
    public var source: String
    public var rule: String
    public var table: TableUse?
    /// Wall time of the probe (rank 0's clock); nil when a table was used.
    public var probeSeconds: Double?
    public var probed: [ProbedSize]
    /// Sizes the probe meant to measure but left at its time limit (they take the nearest
    /// probed size's choice); nil when none.
    public var unprobed: [Int]?
    public var sizes: [SizeChoice]

    public init(source: String, rule: String, table: TableUse?, probeSeconds: Double?, probed: [ProbedSize], sizes: [SizeChoice]) {
        self.source = source
        self.rule = rule
        self.table = table
        self.probeSeconds = probeSeconds
        self.probed = probed
        self.sizes = sizes
    }
}

/// Where a table applies: the setup it was measured on. A run on another setup refuses it.
public struct TuningSetup: Codable, Sendable, Equatable {
    public var collective: String
    public var transport: String
    public var worldSize: Int
    /// The most ranks any one host ran.
    public var ranksPerHost: Int
    /// Every host, each once, sorted.
    public var hosts: [String]

    public init(collective: String, transport: String, worldSize: Int, ranksPerHost: Int, hosts: [String]) {
        self.collective = collective
        self.transport = transport
        self.worldSize = worldSize
        self.ranksPerHost = ranksPerHost
        self.hosts = Array(Set(hosts)).sorted()
    }

    /// From each rank's host, by rank.
    public init(collective: String, transport: String, rankHosts: [String]) {
        let perHost = Dictionary(grouping: rankHosts, by: { $0 }).values.map(\.count).max() ?? 0
        self.init(collective: collective, transport: transport, worldSize: rankHosts.count, ranksPerHost: perHost, hosts: rankHosts)
    }

    var text: String {
        "\(collective) over \(transport), \(worldSize) ranks, \(ranksPerHost) per host, on \(hosts.joined(separator: ","))"
    }
}

/// `fabricbench tune`'s file: for one setup, the algorithm at each probed size with the
/// evidence. A run given `--tuning FILE` chooses between its sizes by the probe's rule
/// instead of probing.
public struct TuningTable: Codable, Sendable, Equatable {
    public static let format = "fabricbench-tuning"
    public static let currentVersion = 1
    /// Files above this are refused unread.
    public static let maxFileBytes = 4 << 20

    public var format = TuningTable.format
    public var version = TuningTable.currentVersion
    /// ISO 8601, UTC.
    public var created: String
    public var fabricbenchVersion: String
    public var setup: TuningSetup
    /// What the probe ran with (recorded, not checked).
    public var dtype: String
    public var op: String
    public var chunkBytes: Int
    public var slots: Int
    public var rule: String
    public var probeSeconds: Double
    public var sizes: [ProbedSize]

    public init(created: Date, fabricbenchVersion: String, setup: TuningSetup, dtype: String, op: String, chunkBytes: Int, slots: Int,
                rule: String, probeSeconds: Double, sizes: [ProbedSize]) {
        self.created = Self.timestamp(created)
        self.fabricbenchVersion = fabricbenchVersion
        self.setup = setup
        self.dtype = dtype
        self.op = op
        self.chunkBytes = chunkBytes
        self.slots = slots
        self.rule = rule
        self.probeSeconds = probeSeconds
        self.sizes = sizes
    }

    public static func timestamp(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    public var createdDate: Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: created)
    }

    /// Written atomically (a reader never sees half a table).
    public func write(to path: String) throws {
        try JSONReport.writeValue(self, to: path, flag: "--tuning")
    }

    /// Reads and checks a table; every way a file can be wrong is one line naming the file
    /// and what to do. `algorithms`: the names this build has for the table's collective.
    public static func load(_ path: String, algorithms: (String) -> [String]) throws -> TuningTable {
        let fix = "run 'fabricbench tune --tuning \(path)' to write one"
        func refuse(_ why: String) -> ReportError { ReportError("--tuning \(path): \(why): \(fix)") }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            throw refuse("cannot read it (does it exist?)")
        }
        if let size = attributes[.size] as? Int, size > maxFileBytes {
            throw refuse("\(size) bytes, above the \(maxFileBytes)-byte limit of a tuning table")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw refuse("cannot read it") }
        let table: TuningTable
        do {
            table = try JSONReport.decoder().decode(TuningTable.self, from: data)
        } catch {
            throw refuse("not a tuning table (\(Self.summary(error)))")
        }
        guard table.format == format else { throw refuse("its format is '\(table.format)', not '\(format)'") }
        guard table.version == currentVersion else {
            throw refuse("version \(table.version); this fabricbench reads version \(currentVersion)")
        }
        let s = table.setup
        guard s.worldSize >= 1, s.ranksPerHost >= 1, s.ranksPerHost <= s.worldSize, !s.hosts.isEmpty else {
            throw refuse("its setup is impossible (\(s.worldSize) ranks, \(s.ranksPerHost) per host, \(s.hosts.count) hosts)")
        }
        guard table.createdDate != nil else { throw refuse("its creation time '\(table.created)' is not ISO 8601") }
        guard !table.sizes.isEmpty else { throw refuse("it holds no sizes") }
        let known = Set(algorithms(s.collective))
        guard !known.isEmpty else { throw refuse("'\(s.collective)' is not a collective with algorithms to choose") }
        var seen = Set<Int>()
        for size in table.sizes {
            guard size.bytes >= 0, seen.insert(size.bytes).inserted else { throw refuse("size \(size.bytes) is negative or listed twice") }
            guard known.contains(size.algo) else {
                throw refuse("it names algorithm '\(size.algo)' at \(size.bytes) B, which this build does not have for \(s.collective) (it has \(known.sorted().joined(separator: ", ")))")
            }
            for c in size.candidates where !(c.medianUs.isFinite && c.medianUs > 0 && c.p99Us.isFinite && c.spreadUs.isFinite) {
                throw refuse("its time for \(c.algo) at \(size.bytes) B is not a positive number")
            }
        }
        var sorted = table
        sorted.sizes.sort { $0.bytes < $1.bytes }
        return sorted
    }

    /// Nil when the table applies to `run`, else the one-line refusal.
    public func refusal(for run: TuningSetup, path: String) -> String? {
        guard setup != run else { return nil }
        var differences: [String] = []
        if setup.collective != run.collective { differences.append("collective") }
        if setup.transport != run.transport { differences.append("transport") }
        if setup.worldSize != run.worldSize { differences.append("world size") }
        if setup.ranksPerHost != run.ranksPerHost { differences.append("ranks per host") }
        if setup.hosts != run.hosts { differences.append("hosts") }
        return "--tuning \(path) was measured for \(setup.text), but this run is \(run.text) (the \(differences.joined(separator: ", ")) differ): "
            + "run 'fabricbench tune' on this setup, or drop --tuning to probe"
    }

    static func snakeCase(_ key: String) -> String {
        key.reduce(into: "") { out, ch in out += ch.isUppercase ? "_" + ch.lowercased() : String(ch) }
    }

    /// A decoding error in a few words (the decoder's own text spans lines and contexts).
    static func summary(_ error: Error) -> String {
        func path(_ c: DecodingError.Context) -> String {
            // As the file spells the keys (snake_case), not as Swift does.
            let p = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? snakeCase($0.stringValue) }.joined(separator: ".")
            return p.isEmpty ? "the top level" : "'\(p)'"
        }
        switch error {
        case let DecodingError.keyNotFound(key, c): return "\(path(c)) lacks '\(snakeCase(key.stringValue))'"
        case let DecodingError.typeMismatch(type, c): return "\(path(c)) is not \(type)"
        case let DecodingError.valueNotFound(type, c): return "\(path(c)) is null, not \(type)"
        case let DecodingError.dataCorrupted(c): return c.codingPath.isEmpty ? "not valid JSON" : "\(path(c)) is damaged"
        default: return "does not decode"
        }
    }
}
