import Foundation
import FabricCore
import FabricCollectives

/// The first wrong output element of one collective call, and which call it was.
public struct Mismatch: CustomStringConvertible, Sendable {
    public let what: String
    public let index: Int
    public let expected: Double
    public let got: Double
    public var description: String { "\(what): [\(index)] expected \(expected), got \(got)" }
}

/// Runs one collective call with inputs from the collective's definition and returns the
/// output elements that differ from the expected ones.
public func runAndCheck(_ comm: Communicator, _ algorithm: CollectiveAlgorithm, count full: Int, type: DataType, op: ReduceOp,
                        inPlace: Bool, root: Int = 0, tuning: PipelineTuning) throws -> [Mismatch] {
    let kind = algorithm.collective
    let count = kind.usableCount(full, ranks: comm.size)
    let buffers = try CollectiveBuffers(kind: kind, type: type, maxCount: count, tuning: tuning, transport: comm.transport)
    let a = buffers.arguments(count: count, inPlace: inPlace, op: op, root: root)
    buffers.fillInput(a)
    try comm.connect(algorithm.peers(rank: comm.rank, size: comm.size))
    try algorithm.run(comm, a)
    return buffers.check(a).first.map {
        Mismatch(what: "\(kind) \(algorithm.name) n=\(comm.size) rank \(comm.rank) \(type) \(op) count \(count) inPlace \(inPlace)",
                 index: $0.index, expected: $0.expected, got: $0.got)
    }
}

/// Which collective calls a sweep makes: every algorithm, type, op (reducing collectives
/// only; the others run once with `.sum`), count, in place and out of place.
public struct CollectiveSweep: Sendable {
    public var algorithms: [CollectiveAlgorithm]
    /// Element counts for a job of `n` ranks.
    public var counts: @Sendable (_ n: Int) -> [Int]
    public var types: [DataType]
    public var ops: [ReduceOp]
    public var tuning: PipelineTuning

    public init(algorithms: [CollectiveAlgorithm], counts: @escaping @Sendable (_ n: Int) -> [Int],
                types: [DataType] = DataType.allCases, ops: [ReduceOp] = ReduceOp.allCases, tuning: PipelineTuning) {
        self.algorithms = algorithms
        self.counts = counts
        self.types = types
        self.ops = ops
        self.tuning = tuning
    }
}

/// What a sweep found: the first few wrong elements of each wrong call, how many calls ran,
/// and how the job itself ended.
public struct SweepResult {
    public var mismatches: [String] = []
    public var calls = 0
    public var job = JobOutcome()
}

extension CollectiveSweep {
    /// Runs the sweep on one job of `n` ranks over `plugin`. Broadcast's root is the last rank
    /// (so it is not rank 0 by accident); the other collectives root at 0.
    public func run(ranks n: Int, over plugin: TransportPlugin, context: TransportContext = TransportContext(),
                    limit: Double = 300) -> SweepResult {
        let lock = NSLock()
        // Guarded by `lock`: every rank thread adds to it.
        nonisolated(unsafe) var result = SweepResult()
        let job = RankJob.run(ranks: n, over: plugin, context: context, limit: limit) { rank in
            let comm = Communicator(transport: rank.transport)
            for algorithm in algorithms {
                for type in types {
                    for op in (algorithm.collective.reduces ? ops : [.sum]) {
                        for count in counts(n) {
                            for inPlace in [false, true] {
                                let wrong = try runAndCheck(comm, algorithm, count: count, type: type, op: op, inPlace: inPlace,
                                                            root: algorithm.collective == .broadcast ? n - 1 : 0, tuning: tuning)
                                lock.withLock {
                                    result.calls += 1
                                    result.mismatches += wrong.prefix(3).map(\.description)
                                }
                            }
                        }
                    }
                }
            }
        }
        return lock.withLock {
            result.job = job
            return result
        }
    }
}

/// The dissemination barrier on `n` ranks, the last one arriving 0.3 s late: how many ranks
/// left the barrier before every rank had arrived (0 when it holds), and how the job ended.
public func barrierEarlyLeavers(ranks n: Int, over plugin: TransportPlugin, context: TransportContext = TransportContext(),
                                limit: Double = 300) -> (early: Int, job: JobOutcome) {
    let lock = NSLock()
    // Guarded by `lock`: every rank thread counts its arrival and its departure.
    nonisolated(unsafe) var arrived = 0
    nonisolated(unsafe) var early = 0
    let job = RankJob.run(ranks: n, over: plugin, context: context, limit: limit) { rank in
        let comm = Communicator(transport: rank.transport)
        let token = try RegisteredMemory(count: 16, transport: comm.transport)
        let barrier = DisseminationBarrier()
        try comm.connect(barrier.peers(rank: comm.rank, size: n))
        if comm.rank == n - 1 { Thread.sleep(forTimeInterval: 0.3) }
        lock.withLock { arrived += 1 }
        try barrier.run(comm, token: token.region)
        lock.withLock { if arrived < n { early += 1 } }
    }
    return lock.withLock { (early, job) }
}
