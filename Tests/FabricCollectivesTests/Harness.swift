import Foundation
import XCTest
import FabricCore
import FabricTCP
import FabricTestSupport
@testable import FabricCollectives

/// The transport the collectives' own tests run over (the conformance suite runs the same
/// checks over every transport).
let testTransport = TCPTransport.plugin

/// The context of these tests' jobs: 20 s for any wait.
var testContext: TransportContext {
    var context = TransportContext()
    context.timeout = 20
    return context
}

/// Runs `body` on `n` ranks, one thread each, connected over loopback TCP.
func withRanks(_ n: Int, file: StaticString = #filePath, line: UInt = #line,
               _ body: @escaping (Communicator) throws -> Void) {
    let job = RankJob.run(ranks: n, over: testTransport, context: testContext, storeTimeout: 20) { rank in
        try body(Communicator(transport: rank.transport))
    }
    assertFinished(job, file: file, line: line)
}

func assertFinished(_ job: JobOutcome, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertTrue(job.finished, "ranks did not finish", file: file, line: line)
    XCTAssertEqual(job.failures, [], file: file, line: line)
}
