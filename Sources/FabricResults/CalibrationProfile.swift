import Foundation

/// What `fabricbench calibrate` measured for `fabricbench model`: the one entry of its
/// document's `results`. Each link class (within a host, between hosts) on its own, as the
/// two-level model uses them.
public struct CalibrationProfile: Codable, Sendable {
    /// The ranks of each host, hosts in order of their lowest rank.
    public var hosts: [HostRanks]
    /// The most ranks on one host.
    public var ranksPerHost: Int
    /// "intra" and/or "inter": the links that exist in this job.
    public var links: [LinkCalibration]
    /// The reduction kernel (sum) per element type, every rank timing it at once.
    public var reduction: [ReductionThroughput]

    public init(hosts: [HostRanks], ranksPerHost: Int, links: [LinkCalibration], reduction: [ReductionThroughput]) {
        self.hosts = hosts
        self.ranksPerHost = ranksPerHost
        self.links = links
        self.reduction = reduction
    }

    public func link(_ level: String) -> LinkCalibration? { links.first { $0.level == level } }
}

public struct HostRanks: Codable, Sendable, Equatable {
    public var host: String
    public var ranks: [Int]
    public init(host: String, ranks: [Int]) {
        self.host = host
        self.ranks = ranks
    }
}

/// One link class: its pairs measured at once, a latency sweep and a bandwidth run with
/// every paired rank sending and receiving at once.
public struct LinkCalibration: Codable, Sendable {
    /// "intra" (both ranks of a pair on one host) or "inter" (on two hosts).
    public var level: String
    /// [initiator, responder] each.
    public var pairs: [[Int]]
    /// One-way latency per size, with the histogram (the model's per-message draws).
    public var latency: [PointToPointResult]
    /// Bidirectional streams of every pair at once.
    public var bandwidth: [PointToPointResult]
    /// GB/s one rank sent while every paired rank sent and received (the largest size's
    /// total ÷ the ranks sending): the model's β is its inverse.
    public var perRankGbps: Double

    public init(level: String, pairs: [[Int]], latency: [PointToPointResult], bandwidth: [PointToPointResult], perRankGbps: Double) {
        self.level = level
        self.pairs = pairs
        self.latency = latency
        self.bandwidth = bandwidth
        self.perRankGbps = perRankGbps
    }
}

public struct ReductionThroughput: Codable, Sendable, Equatable {
    /// As --dtype names it (float, double, half, int32, int64).
    public var dtype: String
    public var op: String
    /// Bytes of one input the kernel was timed on.
    public var bytes: Int
    /// Input bytes reduced per second ÷ 1e9, the median over ranks of each rank's median pass.
    public var gbps: Double
    /// The model's γ.
    public var usPerByte: Double

    public init(dtype: String, op: String, bytes: Int, gbps: Double, usPerByte: Double) {
        self.dtype = dtype
        self.op = op
        self.bytes = bytes
        self.gbps = gbps
        self.usPerByte = usPerByte
    }
}

extension CalibrationProfile {
    /// Reads a `calibrate` document: nil when the file is another command's result (the
    /// caller reads it as such). Refusals are one line naming the file and the field.
    public static func read(_ path: String) throws -> RunDocument<CalibrationProfile>? {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReportError("cannot read \(path): \(String(cString: strerror(errno))) (is the path right?)")
        }
        struct Header: Decodable { var command: String?; var schemaVersion: Int? }
        guard let header = try? JSONReport.decoder().decode(Header.self, from: data), header.command == "calibrate" else { return nil }
        guard let version = header.schemaVersion, version <= currentSchemaVersion else {
            throw ReportError("\(path): a calibrate profile without a schema_version this build reads (up to \(currentSchemaVersion)): re-run fabricbench calibrate --json")
        }
        let document: RunDocument<CalibrationProfile>
        do {
            document = try JSONReport.decoder().decode(RunDocument<CalibrationProfile>.self, from: data)
        } catch {
            throw ReportError("\(path): a calibrate profile that does not decode: \(AnyRunDocument.describe(error))")
        }
        guard document.status == .complete else {
            throw ReportError("\(path): the calibrate run is \(document.status.rawValue)\(document.error.map { " (\($0))" } ?? ""): re-run fabricbench calibrate until it completes")
        }
        guard document.results.count == 1, let profile = document.results.first else {
            throw ReportError("\(path): results: a calibrate profile holds exactly one entry, this one \(document.results.count)")
        }
        if let problem = profile.problem { throw ReportError("\(path): results[0].\(problem)") }
        return document
    }

    /// What makes the profile unusable, naming the field; nil when it is whole.
    var problem: String? {
        guard !links.isEmpty else { return "links: empty (calibrate measures a link only where two ranks exist: run it on at least 2 ranks)" }
        guard ranksPerHost >= 1 else { return "ranks_per_host: \(ranksPerHost) (at least 1)" }
        for (i, l) in links.enumerated() {
            guard l.level == "intra" || l.level == "inter" else { return "links[\(i)].level: '\(l.level)' is neither intra nor inter" }
            guard l.latency.contains(where: { $0.histogram != nil }) else { return "links[\(i)].latency: no histogram" }
            guard l.perRankGbps.isFinite && l.perRankGbps > 0 else { return "links[\(i)].per_rank_gbps: \(l.perRankGbps) (a positive bandwidth)" }
        }
        for (i, r) in reduction.enumerated() where !(r.usPerByte.isFinite && r.usPerByte >= 0) {
            return "reduction[\(i)].us_per_byte: \(r.usPerByte) (a non-negative time)"
        }
        return nil
    }
}
