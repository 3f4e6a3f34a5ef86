import Foundation
import XCTest
import FabricCore
import FabricTestSupport
@testable import FabricCollectives

/// Exact results for every algorithm, type and op, on 2 to 5 ranks (odd and non-power-of-two
/// counts), for counts that do not divide by the rank count or the chunk size, 1 element and
/// 0 elements, in place and out of place. Tiny chunks force many pipelined steps.
final class CollectiveCorrectnessTests: XCTestCase {
    let tiny = PipelineTuning(chunkBytes: 96, slots: 3)

    func check(ranks n: Int, algorithms: [CollectiveAlgorithm], counts: [Int], types: [DataType] = DataType.allCases,
               ops: [ReduceOp] = ReduceOp.allCases, tuning: PipelineTuning? = nil, file: StaticString = #filePath, line: UInt = #line) {
        let sweep = CollectiveSweep(algorithms: algorithms, counts: { _ in counts }, types: types, ops: ops, tuning: tuning ?? tiny)
        let result = sweep.run(ranks: n, over: testTransport, context: testContext)
        assertFinished(result.job, file: file, line: line)
        XCTAssertEqual(result.mismatches, [], file: file, line: line)
        XCTAssertGreaterThan(result.calls, 0, file: file, line: line)
    }

    func testAllReduceRingTreeAndRecursiveDoublingOnTwoToFiveRanks() {
        for n in 2...5 {
            check(ranks: n, algorithms: [RingAllReduce(), TreeAllReduce(), RecursiveDoublingAllReduce()], counts: [0, 1, n - 1, 7, 131])
        }
    }

    func testRecursiveDoublingSegmentsBuffersLargerThanScratch() {
        for n in [3, 6, 7] {
            check(ranks: n, algorithms: [RecursiveDoublingAllReduce()], counts: [2000], types: [.int32, .float64], ops: [.sum, .prod])
        }
    }

    func testBuildingBlocks() {
        for n in [2, 3, 5] {
            check(ranks: n, algorithms: [RingReduceScatter(), RingAllGather(), ChainBroadcast()], counts: [0, 1, n, 7 * n, 131 * n])
        }
    }

    /// Under a sanitizer (scripts/sanitize.sh sets FABRICBENCH_SANITIZER), the same shape at a
    /// sixteenth of the bytes: as many chunks per segment through the same 4 slots, and a count
    /// that 4 ranks do not divide. At full size ThreadSanitizer took 270 s on this test alone;
    /// the plain run keeps the full size.
    func testLargeBuffersWithRealisticChunks() {
        let sanitized = ProcessInfo.processInfo.environment["FABRICBENCH_SANITIZER"] != nil
        let (count, chunk) = sanitized ? (18_751, 4 << 10) : (300_007, 64 << 10)
        check(ranks: 4, algorithms: [RingAllReduce(), TreeAllReduce(), RecursiveDoublingAllReduce(), RingReduceScatter(), RingAllGather(), ChainBroadcast()],
              counts: [count], types: [.float32], ops: [.sum, .max], tuning: PipelineTuning(chunkBytes: chunk, slots: 4))
    }

    func testOneRankIsACopy() {
        check(ranks: 1, algorithms: [RingAllReduce(), TreeAllReduce(), RecursiveDoublingAllReduce(), RingReduceScatter(), RingAllGather(), ChainBroadcast()],
              counts: [0, 5], types: [.int32], ops: [.sum])
    }

    func testBarrierHoldsEveryoneUntilTheLastArrives() {
        let (early, job) = barrierEarlyLeavers(ranks: 5, over: testTransport, context: testContext)
        assertFinished(job)
        XCTAssertEqual(early, 0)
    }
}
