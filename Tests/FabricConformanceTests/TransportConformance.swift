import Foundation
import XCTest
import FabricCore
import FabricCollectives
import FabricTestSupport
import FabricTransports

/// The contract of `Transport` (Sources/FabricCore/Transport.swift), checked the same way for
/// every transport, as UCX's gtest instantiates each transport test over every transport.
/// A transport joins with one line in ConformingTransports.swift.
///
/// Each check runs its own job (ranks as threads of this process, over loopback, see
/// `RankJob`), so a failing check leaves the next ones a fresh transport. A failure names
/// the transport and the check; a line per check says how long it took.
struct TransportConformance: Sendable {
    let plugin: TransportPlugin
    /// How its lines in the log and its failures name it: the transport, and its variant.
    let name: String
    let scale: ConformanceScale
    /// The transport's settings in every job (its own options, e.g. a data path); each check
    /// sets the timeout.
    let context: TransportContext

    init(_ plugin: TransportPlugin, named name: String? = nil, scale: ConformanceScale = .full,
         options configure: (inout TransportContext) -> Void = { _ in }) {
        self.plugin = plugin
        self.name = name ?? plugin.kind.rawValue
        self.scale = scale
        var context = TransportContext()
        configure(&context)
        self.context = context
    }

    struct Check: Sendable {
        let name: String
        let run: @Sendable (TransportConformance, Findings) -> Void
    }

    /// Every check, in the order they run.
    static let checks: [Check] = [
        Check(name: "order per peer and direction, many messages in flight", run: { $0.orderedMessages($1) }),
        Check(name: "more operations in flight than any queue depth", run: { $0.moreThanQueueDepth($1) }),
        Check(name: "a receive of another length than the send is a protocol violation", run: { $0.exactLengths($1) }),
        Check(name: "zero-byte messages", run: { $0.zeroByteMessages($1) }),
        Check(name: "a posted send leaves without another call", run: { $0.sendsLeaveAtOnce($1) }),
        Check(name: "large messages both ways at once, many registered regions", run: { $0.largeMessagesAndManyRegions($1) }),
        Check(name: "dropped regions are deregistered; memory registered again moves the right bytes", run: { $0.registrationsAreReleased($1) }),
        Check(name: "a receive nobody sends times out naming the peer", run: { $0.timeoutNamesThePeer($1) }),
        Check(name: "a peer that leaves is named, not waited for", run: { $0.peerThatLeaves($1) }),
        Check(name: "close with operations pending", run: { $0.closeWithOperationsPending($1) }),
        Check(name: "collectives give exact results", run: { $0.collectives($1) }),
    ]

    /// Runs every check (or those whose name contains one of the comma-separated words in
    /// FABRIC_CONFORMANCE_CHECKS); skips, with the probe's reason, where the transport cannot run.
    func run(file: StaticString = #filePath, line: UInt = #line) throws {
        let availability = plugin.probe(context)
        guard availability.usable else { throw XCTSkip("\(plugin.displayName) cannot run here: \(availability.reason)") }
        XCTAssertNotNil(TransportRegistry.plugin(named: plugin.kind.rawValue),
                        "\(plugin.kind) is not in TransportRegistry.all: --transport cannot run what this suite checks", file: file, line: line)
        let only = ProcessInfo.processInfo.environment["FABRIC_CONFORMANCE_CHECKS"].map {
            $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        var ran = 0
        for check in Self.checks where only.map({ $0.contains { check.name.contains($0) } }) ?? true {
            let findings = Findings()
            let began = Date()
            check.run(self, findings)
            let problems = findings.all
            let summary = findings.summary.isEmpty ? "" : ", " + findings.summary
            print("conformance \(name): \(problems.isEmpty ? "passed" : "FAILED"): \(check.name) (\(String(format: "%.1f", Date().timeIntervalSince(began))) s\(summary))")
            for problem in problems { XCTFail("[\(name)] \(check.name): \(problem)", file: file, line: line) }
            ran += 1
        }
        XCTAssertGreaterThan(ran, 0, "FABRIC_CONFORMANCE_CHECKS selected no check", file: file, line: line)
    }

    /// Runs one job of a check and adds what went wrong with the job itself: a rank still
    /// running at the limit (a hang) and, unless the check judges them itself, ranks that threw.
    @discardableResult
    func job(ranks: Int = 2, timeout: Double? = nil, _ findings: Findings, judgingErrors: Bool = false,
             _ body: @escaping (RankHandle) throws -> Void) -> JobOutcome {
        var context = self.context
        context.timeout = timeout ?? scale.timeout
        let outcome = RankJob.run(ranks: ranks, over: plugin, context: context, storeTimeout: scale.timeout, limit: scale.jobLimit, body)
        if !outcome.finished { findings.add("a rank was still running after \(formatSeconds(scale.jobLimit)) (a hang)") }
        if !judgingErrors { findings.add(outcome.failures) }
        return outcome
    }
}

/// How hard the suite pushes a transport. Every check runs at every scale; only counts and
/// sizes differ.
struct ConformanceScale: Sendable {
    /// Messages per peer and direction in the three-rank ordering check.
    var orderedMessages: Int
    /// Sends and receives posted to one peer before the first poll (verbs: 512-deep queues).
    var inFlight: Int
    /// Bytes of the large message each way.
    var largeBytes: Int
    /// Registered regions per rank in the many-regions check (each way).
    var regions: Int
    /// Regions registered and dropped one after another in the deregistration check.
    var droppedRegions: Int
    var collectiveRanks: [Int]
    var collectiveTypes: [DataType]
    var collectiveOps: [ReduceOp]
    /// Elements of the collectives' large call (realistic pipeline chunks).
    var largeCount: Int
    /// The transports' timeout in ordinary checks, and in the timeout check.
    var timeout: Double
    var shortTimeout: Double
    /// Seconds a failure may take beyond what it waits for (a scheduler's or emulator's delay).
    var slack: Double
    /// Seconds after which a job counts as hung.
    var jobLimit: Double

    /// A host's own speed.
    static let full = ConformanceScale(
        orderedMessages: 400, inFlight: 2000, largeBytes: 16 << 20, regions: 200, droppedRegions: 1000,
        collectiveRanks: Array(2...5), collectiveTypes: [.int32, .float64], collectiveOps: [.sum, .max], largeCount: 30_011,
        timeout: 20, shortTimeout: 1.5, slack: 4, jobLimit: 120)

    /// Under emulation (Soft-RoCE in a TCG VM, about 25x slower): fewer and smaller messages,
    /// more patience; still beyond every queue depth.
    static let emulated = ConformanceScale(
        orderedMessages: 96, inFlight: 2000, largeBytes: 2 << 20, regions: 200, droppedRegions: 1000,
        collectiveRanks: Array(2...5), collectiveTypes: [.float32], collectiveOps: [.sum, .max], largeCount: 5_003,
        timeout: 60, shortTimeout: 3, slack: 20, jobLimit: 300)
}

/// What a check found wrong, gathered from every rank's thread.
// @unchecked: every access holds `lock`.
final class Findings: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []

    func add(_ problem: String) { lock.withLock { items.append(problem) } }
    func add(_ problems: [String]) { lock.withLock { items += problems } }
    func expect(_ condition: Bool, _ problem: @autoclosure () -> String) { if !condition { add(problem()) } }
    var all: [String] { lock.withLock { items } }

    /// What the check covered, for its line in the log ("1234 calls").
    private var notes: [String] = []
    func note(_ text: String) { lock.withLock { notes.append(text) } }
    var summary: String { lock.withLock { notes.joined(separator: ", ") } }
}
