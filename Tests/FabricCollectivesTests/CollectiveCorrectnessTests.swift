import Foundation
import XCTest
import FabricCore
@testable import FabricCollectives

/// Exact results for every algorithm, type and op, on 2 to 5 ranks (odd and non-power-of-two
/// counts), for counts that do not divide by the rank count or the chunk size, 1 element and
/// 0 elements, in place and out of place. Tiny chunks force many pipelined steps.
final class CollectiveCorrectnessTests: XCTestCase {
    let tiny = PipelineTuning(chunkBytes: 96, slots: 3)

    func check(ranks n: Int, algorithms: [CollectiveAlgorithm], counts: [Int], types: [DataType] = DataType.allCases,
               ops: [ReduceOp] = ReduceOp.allCases, tuning: PipelineTuning? = nil) {
        let lock = NSLock()
        var failures: [String] = []
        var calls = 0
        withRanks(n) { comm in
            for algorithm in algorithms {
                for type in types {
                    for op in (algorithm.collective.reduces ? ops : [.sum]) {
                        for count in counts {
                            for inPlace in [false, true] {
                                let wrong = try runAndCheck(comm, algorithm, count: count, type: type, op: op, inPlace: inPlace,
                                                            root: algorithm.collective == .broadcast ? n - 1 : 0, tuning: tuning ?? self.tiny)
                                lock.withLock {
                                    calls += 1
                                    failures += wrong.prefix(3).map(\.description)
                                }
                            }
                        }
                    }
                }
            }
        }
        XCTAssertEqual(failures, [])
        XCTAssertGreaterThan(calls, 0)
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

    func testLargeBuffersWithRealisticChunks() {
        check(ranks: 4, algorithms: [RingAllReduce(), TreeAllReduce(), RecursiveDoublingAllReduce(), RingReduceScatter(), RingAllGather(), ChainBroadcast()],
              counts: [300_007], types: [.float32], ops: [.sum, .max], tuning: PipelineTuning(chunkBytes: 64 << 10, slots: 4))
    }

    func testOneRankIsACopy() {
        check(ranks: 1, algorithms: [RingAllReduce(), TreeAllReduce(), RecursiveDoublingAllReduce(), RingReduceScatter(), RingAllGather(), ChainBroadcast()],
              counts: [0, 5], types: [.int32], ops: [.sum])
    }

    func testBarrierHoldsEveryoneUntilTheLastArrives() {
        let n = 5
        let arrivals = NSLock()
        var arrived = 0
        var early = 0
        withRanks(n) { comm in
            let token = try RegisteredMemory(count: 16, transport: comm.transport)
            let barrier = DisseminationBarrier()
            try comm.connect(barrier.peers(rank: comm.rank, size: n))
            if comm.rank == n - 1 { Thread.sleep(forTimeInterval: 0.3) }
            arrivals.withLock { arrived += 1 }
            try barrier.run(comm, token: token.region)
            arrivals.withLock { if arrived < n { early += 1 } }
        }
        XCTAssertEqual(early, 0)
    }
}
