import Foundation
import FabricCore
import FabricCollectives
import FabricTestSupport

/// The collectives' correctness suite (Tests/FabricCollectivesTests) over the transport under
/// test: every algorithm on 2 to 5 ranks, in place and out of place, counts that do not divide
/// by the rank count or the chunk, tiny chunks (many pipelined messages) and realistic ones.
extension TransportConformance {
    func collectives(_ findings: Findings) {
        let algorithms: [CollectiveAlgorithm] = [RingAllReduce(), TreeAllReduce(), RecursiveDoublingAllReduce(),
                                                 RingReduceScatter(), RingAllGather(), ChainBroadcast()]
        var context = self.context
        context.timeout = scale.timeout
        func judge(_ result: SweepResult, ranks: Int, _ what: String) {
            findings.expect(result.job.finished, "\(what): a rank was still running after \(formatSeconds(scale.jobLimit)) (a hang)")
            findings.add(result.job.failures.map { "\(what): \($0)" })
            findings.add(result.mismatches)
            findings.expect(result.calls > 0, "\(what): no collective call ran")
            findings.note("\(what): \(result.calls / ranks) calls")
        }
        for n in scale.collectiveRanks {
            let tiny = CollectiveSweep(algorithms: algorithms, counts: { n in [0, 1, n + 1, 7 * n + 3, 131] },
                                       types: scale.collectiveTypes, ops: scale.collectiveOps,
                                       tuning: PipelineTuning(chunkBytes: 96, slots: 3))
            judge(tiny.run(ranks: n, over: plugin, context: context, limit: scale.jobLimit), ranks: n, "\(n) ranks, 96-byte chunks")
        }
        let ranks = scale.collectiveRanks.max()!
        let largeCount = scale.largeCount
        let realistic = CollectiveSweep(algorithms: algorithms, counts: { _ in [largeCount] },
                                        types: [.float32], ops: [.sum], tuning: PipelineTuning(chunkBytes: 16 << 10, slots: 4))
        judge(realistic.run(ranks: ranks, over: plugin, context: context, limit: scale.jobLimit), ranks: ranks, "\(ranks) ranks, 16 KiB chunks")

        let (early, job) = barrierEarlyLeavers(ranks: ranks, over: plugin, context: context, limit: scale.jobLimit)
        findings.expect(job.finished, "barrier: a rank was still running after \(formatSeconds(scale.jobLimit)) (a hang)")
        findings.add(job.failures.map { "barrier: \($0)" })
        findings.expect(early == 0, "barrier on \(ranks) ranks: \(early) ranks left before the last one arrived")
    }
}
