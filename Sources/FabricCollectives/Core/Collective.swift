import FabricCore

/// What a collective call operates on. Counts are elements; offsets inside regions are bytes.
public struct CollectiveArguments {
    /// Elements of the full buffer: all-reduce and broadcast: the buffer; reduce-scatter: the
    /// input (each rank keeps count / ranks); all-gather: the output (each rank gives count / ranks).
    public var count: Int
    public var type: DataType
    public var op: ReduceOp
    public var root: Int
    public var input: MemoryRegion
    public var output: MemoryRegion
    /// Pipeline slots: `scratchBytes(tuning)` bytes.
    public var scratch: MemoryRegion
    /// Full-size buffer for partial results of a standalone reduce-scatter.
    public var work: MemoryRegion
    public var tuning: PipelineTuning

    public init(count: Int, type: DataType, op: ReduceOp, root: Int = 0, input: MemoryRegion, output: MemoryRegion,
                scratch: MemoryRegion, work: MemoryRegion, tuning: PipelineTuning) {
        self.count = count
        self.type = type
        self.op = op
        self.root = root
        self.input = input
        self.output = output
        self.scratch = scratch
        self.work = work
        self.tuning = tuning
    }

    public var inPlace: Bool { input.base == output.base }

    /// Scratch every algorithm can pipeline in: the tree keeps up to 4 chunks per slot
    /// (two trees, two children each); a chunk may be a few elements over `chunkBytes`.
    public static func scratchBytes(_ tuning: PipelineTuning) -> Int { 4 * tuning.slots * (tuning.chunkBytes + 64) }
}

/// One algorithm for one collective. Adding an algorithm is one file with one of these.
public protocol CollectiveAlgorithm: Sendable {
    /// "ring", "tree", "chain", ...
    var name: String { get }
    var collective: CollectiveKind { get }
    /// The peers this rank exchanges data with (symmetric across ranks).
    func peers(rank: Int, size: Int) -> [Int]
    /// Works out calls on these arguments (schedule, scratch slots, peers) once; the regions
    /// are used in place, not copied, so the plan holds for any contents.
    func plan(_ comm: Communicator, _ args: CollectiveArguments) throws -> CollectivePlan
}

/// Calls of one algorithm on one set of arguments, worked out ahead: running it walks what
/// the plan built, so a call in a timed loop allocates nothing (TimedLoopAllocationTests).
/// `run` loops over arrays by index: in a debug build (the tests') a for-in over an array of
/// structs allocates an iterator frame per element; the optimized build does not either way.
public protocol CollectivePlan: AnyObject {
    /// One call. Every rank runs the plan for the same arguments the same number of times.
    func run() throws
}

extension CollectiveAlgorithm {
    /// One call, planned on the spot: for calls made once; a loop makes the plan once.
    public func run(_ comm: Communicator, _ args: CollectiveArguments) throws { try plan(comm, args).run() }
}

/// Every algorithm, for lookup by collective and name.
public enum Algorithms {
    public static let all: [CollectiveAlgorithm] = [
        RingAllReduce(), TreeAllReduce(), RecursiveDoublingAllReduce(), RingReduceScatter(), RingAllGather(), ChainBroadcast(),
        DisseminationBarrier(),
    ]

    public static func named(_ name: String, for collective: CollectiveKind) -> CollectiveAlgorithm? {
        all.first { $0.collective == collective && $0.name == name }
    }

    public static func names(for collective: CollectiveKind) -> [String] {
        all.filter { $0.collective == collective }.map(\.name)
    }
}
