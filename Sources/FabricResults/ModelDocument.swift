import Foundation

/// What `fabricbench model` predicts for one algorithm, size and rank count. Times in µs.
public struct Prediction: Codable, Sendable, Equatable {
    public var algo: String
    public var bytes: Int
    public var ranks: Int
    /// The dependency simulation's mean, median and 99th percentile (the headline figures).
    public var meanUs: Double
    public var p50Us: Double
    public var p99Us: Double
    /// Every message at the fastest latency measured.
    public var lowerUs: Double
    /// Every step waits for the 99th percentile of the slowest of N draws.
    public var upperUs: Double
    /// α–β–γ with the mean latency: what a model without jitter says.
    public var alphaBetaUs: Double
    /// The synchronous bound: every step costs the expected slowest of N draws.
    public var synchronousUs: Double
    /// p99 ÷ the α–β–γ time: what the tail costs at this N.
    public var amplification: Double
    /// The simulation ran at fewer ranks and was scaled (ring above its limit), or N needs
    /// more samples than the histogram has for the max's p99: both are extrapolations.
    public var extrapolated: Bool

    public init(algo: String, bytes: Int, ranks: Int, meanUs: Double, p50Us: Double, p99Us: Double, lowerUs: Double, upperUs: Double,
                alphaBetaUs: Double, synchronousUs: Double, amplification: Double, extrapolated: Bool) {
        self.algo = algo
        self.bytes = bytes
        self.ranks = ranks
        self.meanUs = meanUs
        self.p50Us = p50Us
        self.p99Us = p99Us
        self.lowerUs = lowerUs
        self.upperUs = upperUs
        self.alphaBetaUs = alphaBetaUs
        self.synchronousUs = synchronousUs
        self.amplification = amplification
        self.extrapolated = extrapolated
    }
}

/// `fabricbench model --json`: the inputs the predictions came from, the method, the
/// predictions, and with two profiles the second one's and the two side by side. What
/// `report` charts.
public struct ModelDocument: Codable, Sendable {
    public struct Inputs: Codable, Sendable {
        public var files: [String]
        public var latencyBytes: Int
        public var latencySamples: Double
        public var alphaUs: Double
        public var betaUsPerByte: Double
        public var betaSource: String
        public var gammaUsPerByte: Double
        /// How γ was found (absent in files written before γ could be fitted to an all-reduce).
        public var gammaSource: String?
        /// Absent in files written before two-level topologies: 1 and 1.
        public var ranksPerHost: Int?
        public var oversubscription: Double?
        /// Where each message's latency draw was spent: "network" or "sender" (absent in files
        /// written before --delay-at: network).
        public var delayAt: String?
        /// The intra-host link, when the all-reduce is hierarchical (R > 1).
        public var intra: Link?

        public init(files: [String], latencyBytes: Int, latencySamples: Double, alphaUs: Double, betaUsPerByte: Double, betaSource: String,
                    gammaUsPerByte: Double, gammaSource: String? = nil, ranksPerHost: Int, oversubscription: Double, delayAt: String? = nil, intra: Link?) {
            self.files = files
            self.latencyBytes = latencyBytes
            self.latencySamples = latencySamples
            self.alphaUs = alphaUs
            self.betaUsPerByte = betaUsPerByte
            self.betaSource = betaSource
            self.gammaUsPerByte = gammaUsPerByte
            self.gammaSource = gammaSource
            self.ranksPerHost = ranksPerHost
            self.oversubscription = oversubscription
            self.delayAt = delayAt
            self.intra = intra
        }
    }

    public struct Link: Codable, Sendable {
        public var alphaUs: Double
        public var betaUsPerByte: Double
        public var source: String
        public init(alphaUs: Double, betaUsPerByte: Double, source: String) {
            self.alphaUs = alphaUs
            self.betaUsPerByte = betaUsPerByte
            self.source = source
        }
    }

    public var command = "model"
    /// The first profile's inputs; `profiles` has both when two are compared.
    public var inputs: Inputs
    public var profiles: [Inputs]?
    public var method: String
    public var predictions: [Prediction]
    public var predictionsB: [Prediction]?
    public var comparison: [ProfileComparison]?

    public init(inputs: Inputs, profiles: [Inputs]?, method: String, predictions: [Prediction], predictionsB: [Prediction]?, comparison: [ProfileComparison]?) {
        self.inputs = inputs
        self.profiles = profiles
        self.method = method
        self.predictions = predictions
        self.predictionsB = predictionsB
        self.comparison = comparison
    }

    /// Reads a `model --json` file: nil when the file is another command's (the caller reads
    /// it as a result). Refusals are one line naming the file and the field.
    public static func read(_ path: String) throws -> ModelDocument? {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReportError("cannot read \(path): \(String(cString: strerror(errno))) (is the path right?)")
        }
        struct Header: Decodable { var command: String? }
        guard let header = try? JSONReport.decoder().decode(Header.self, from: data), header.command == "model" else { return nil }
        let document: ModelDocument
        do {
            document = try JSONReport.decoder().decode(ModelDocument.self, from: data)
        } catch {
            throw ReportError("\(path): a model prediction that does not decode: \(AnyRunDocument.describe(error))")
        }
        if let problem = document.problem { throw ReportError("\(path): \(problem)") }
        return document
    }

    /// What makes the document unusable for charts, naming the field; nil when it is whole.
    var problem: String? {
        guard !predictions.isEmpty else { return "predictions: empty (write it with fabricbench model … --json)" }
        for (key, list) in [("predictions", predictions), ("predictions_b", predictionsB ?? [])] {
            for (i, p) in list.enumerated() {
                guard !p.algo.isEmpty else { return "\(key)[\(i)].algo: empty" }
                guard p.ranks >= 2, p.bytes >= 1 else { return "\(key)[\(i)]: ranks \(p.ranks) and bytes \(p.bytes) (at least 2 ranks and 1 byte)" }
                for (name, v) in [("mean_us", p.meanUs), ("p50_us", p.p50Us), ("p99_us", p.p99Us), ("lower_us", p.lowerUs), ("upper_us", p.upperUs),
                                  ("alpha_beta_us", p.alphaBetaUs), ("synchronous_us", p.synchronousUs), ("amplification", p.amplification)]
                where !(v.isFinite && v >= 0) {
                    return "\(key)[\(i)].\(name): \(v) (a finite time, at least 0)"
                }
            }
        }
        return nil
    }
}

/// Two profiles (two NICs, two fabrics) side by side at one algorithm, size and rank count.
public struct ProfileComparison: Codable, Sendable, Equatable {
    public var algo: String
    public var bytes: Int
    public var ranks: Int
    public var aMeanUs: Double
    public var bMeanUs: Double
    public var aP99Us: Double
    public var bP99Us: Double
    /// "a" or "b": the lower simulated mean (the typical time of one call at this N, tail
    /// effects included); "tie" within 1%.
    public var faster: String
    /// The slower mean ÷ the faster one (≥ 1).
    public var by: Double

    public init(algo: String, bytes: Int, ranks: Int, aMeanUs: Double, bMeanUs: Double, aP99Us: Double, bP99Us: Double, faster: String, by: Double) {
        self.algo = algo
        self.bytes = bytes
        self.ranks = ranks
        self.aMeanUs = aMeanUs
        self.bMeanUs = bMeanUs
        self.aP99Us = aP99Us
        self.bP99Us = bP99Us
        self.faster = faster
        self.by = by
    }
}
