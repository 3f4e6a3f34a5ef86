import Foundation
import XCTest
import CAllocationCounter
import FabricCore
import FabricTestSupport
@testable import FabricCollectives

/// A timed iteration must measure the collective, not the allocator: once a call is planned
/// and warmed up, running it again allocates nothing, for every algorithm (the engine's timed
/// loop runs exactly this). Counted by malloc interposition on each rank's own thread.
///
/// What the transport allocates inside its own calls is left out (`TransportUncounted`): in a
/// debug build TCP's poll loop allocates an iterator frame per peer, which the optimized build
/// does not, and the transport is not what this checks. The algorithms and the Communicator
/// are counted whole.
final class TimedLoopAllocationTests: XCTestCase {
    /// Several chunks per piece and scratch slots reused within a call, as at large sizes.
    let tuning = PipelineTuning(chunkBytes: 4096, slots: 3)
    let calls = 20

    func testPlannedCallsAllocateNothingAfterWarmUp() throws {
        try XCTSkipUnless(allocation_counter_available() == 1,
                          "allocation counting needs glibc and no sanitizer (ASan and TSan replace malloc themselves)")
        let tuning = self.tuning, calls = self.calls
        for n in [2, 3] {
            let lock = NSLock()
            // Guarded by `lock`: every rank thread reports to it.
            nonisolated(unsafe) var findings: [String] = []
            nonisolated(unsafe) var measured = 0
            let job = RankJob.run(ranks: n, over: testTransport, context: testContext, storeTimeout: 20) { rank in
                let comm = Communicator(transport: TransportUncounted(rank.transport))
                // The counter must see an allocation made on this thread, or a 0 below proves nothing.
                allocation_counter_start()
                let control = [Int](repeating: rank.rank, count: 64 + rank.rank)
                let seen = allocation_counter_stop()
                withExtendedLifetime(control) {}
                if seen == 0 { lock.withLock { findings.append("rank \(rank.rank): the counter missed a fresh array") } }
                for algorithm in Algorithms.all {
                    try comm.connect(algorithm.peers(rank: comm.rank, size: comm.size))
                    let kind = algorithm.collective
                    for full in [2 * n, 6000 * n] {
                        let count = kind.usableCount(full, ranks: n)
                        let buffers = try CollectiveBuffers(kind: kind, type: .float32, maxCount: count, tuning: tuning, transport: comm.transport)
                        for inPlace in [false, true] {
                            let a = buffers.arguments(count: count, inPlace: inPlace, op: .sum, root: n - 1)
                            buffers.fillInput(a)
                            let call = try algorithm.plan(comm, a)
                            for _ in 0..<3 { try call.run() }
                            allocation_counter_start()
                            for _ in 0..<calls { try call.run() }
                            let allocations = allocation_counter_stop()
                            lock.withLock {
                                measured += 1
                                if allocations > 0 {
                                    findings.append("\(kind) \(algorithm.name), \(n) ranks, rank \(rank.rank), \(count) elements, "
                                                    + "\(inPlace ? "in" : "out of") place: \(allocations) allocations in \(calls) calls")
                                }
                            }
                        }
                    }
                }
            }
            assertFinished(job)
            lock.withLock {
                XCTAssertEqual(findings, [], "\(n) ranks")
                XCTAssertEqual(measured, n * Algorithms.all.count * 4, "every rank measured every case")
            }
        }
    }
}

/// The transport under test with the allocations of its own calls left out of the count.
private final class TransportUncounted: Transport {
    let inner: Transport
    init(_ inner: Transport) { self.inner = inner }

    private func uncounted<T>(_ body: () throws -> T) rethrows -> T {
        allocation_counter_pause()
        defer { allocation_counter_resume() }
        return try body()
    }

    var kind: TransportKind { inner.kind }
    var rank: Int { inner.rank }
    var worldSize: Int { inner.worldSize }
    var timeout: Double { inner.timeout }
    var spinBeforeSleep: SpinBudget { inner.spinBeforeSleep }
    var settings: [String: String] { inner.settings }
    var registrationCount: Int { inner.registrationCount }
    func connect(to peers: [Int]) throws { try inner.connect(to: peers) }
    func register(_ buffer: UnsafeMutableRawBufferPointer) throws -> MemoryRegion { try inner.register(buffer) }
    func deregister(_ region: MemoryRegion) { inner.deregister(region) }
    func postSend(to peer: Int, from region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        try uncounted { try inner.postSend(to: peer, from: region, offset: offset, length: length, id: id) }
    }
    func postReceive(from peer: Int, into region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        try uncounted { try inner.postReceive(from: peer, into: region, offset: offset, length: length, id: id) }
    }
    func poll(_ completions: inout [Completion]) throws {
        allocation_counter_pause()
        defer { allocation_counter_resume() }
        try inner.poll(&completions)
    }
    func waitForActivity(milliseconds: Int32) throws { try uncounted { try inner.waitForActivity(milliseconds: milliseconds) } }
    func checkJobIsAlive() throws { try uncounted { try inner.checkJobIsAlive() } }
    func pendingPeers() -> [Int] { inner.pendingPeers() }
    func describe(peer: Int) -> String { inner.describe(peer: peer) }
    func close() { inner.close() }
}
