import Foundation
import XCTest
import FabricCore
@testable import FabricCollectives

/// A transport that flips one bit of the `target`-th message it receives, to prove the
/// exact check catches corruption that happens on the wire, whatever the algorithm.
final class CorruptingTransport: Transport {
    let inner: Transport
    let target: Int
    private var pending: [Int: [(UnsafeMutableRawPointer, Int)]] = [:]
    private var received = 0
    private(set) var corrupted = false

    init(_ inner: Transport, corruptingReceive target: Int) {
        self.inner = inner
        self.target = target
    }

    var kind: TransportKind { inner.kind }
    var rank: Int { inner.rank }
    var worldSize: Int { inner.worldSize }
    var timeout: Double { inner.timeout }
    var spinBeforeSleep: SpinBudget { inner.spinBeforeSleep }
    var settings: [String: String] { inner.settings }
    func connect(to peers: [Int]) throws { try inner.connect(to: peers) }
    func register(_ buffer: UnsafeMutableRawBufferPointer) throws -> MemoryRegion { try inner.register(buffer) }
    func deregister(_ region: MemoryRegion) { inner.deregister(region) }
    var registrationCount: Int { inner.registrationCount }
    func postSend(to peer: Int, from region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        try inner.postSend(to: peer, from: region, offset: offset, length: length, id: id)
    }
    func postReceive(from peer: Int, into region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        pending[peer, default: []].append((region.base + offset, length))
        try inner.postReceive(from: peer, into: region, offset: offset, length: length, id: id)
    }
    func poll(_ completions: inout [Completion]) throws {
        let before = completions.count
        try inner.poll(&completions)
        for c in completions[before...] where c.operation == .receive {
            let (address, length) = pending[c.peer]!.removeFirst()
            received += 1
            if received == target {
                address.storeBytes(of: address.load(fromByteOffset: length - 1, as: UInt8.self) ^ 0x40, toByteOffset: length - 1, as: UInt8.self)
                corrupted = true
            }
        }
    }
    func waitForActivity(milliseconds: Int32) throws { try inner.waitForActivity(milliseconds: milliseconds) }
    func checkJobIsAlive() throws { try inner.checkJobIsAlive() }
    func pendingPeers() -> [Int] { inner.pendingPeers() }
    func describe(peer: Int) -> String { inner.describe(peer: peer) }
    func close() { inner.close() }
}

final class CorruptionTests: XCTestCase {
    func testTheCheckCatchesOneFlippedBitOnTheWire() {
        for algorithm in [RingAllReduce(), TreeAllReduce()] as [CollectiveAlgorithm] {
            let lock = NSLock()
            var wrongByRank: [Int: Int] = [:]
            var flagged: [Int] = []
            withRanks(3) { comm in
                // Rank 1 corrupts the second message it receives.
                let transport = comm.rank == 1 ? CorruptingTransport(comm.transport, corruptingReceive: 2) : comm.transport
                let c = Communicator(transport: transport)
                let tuning = PipelineTuning(chunkBytes: 256, slots: 2)
                let buffers = try CollectiveBuffers(kind: .allreduce, type: .float32, maxCount: 999, tuning: tuning, transport: transport)
                let a = buffers.arguments(count: 999, inPlace: false, op: .sum, root: 0)
                buffers.fillInput(a)
                try c.connect(algorithm.peers(rank: c.rank, size: c.size))
                try algorithm.run(c, a)
                let result = buffers.check(a)
                lock.withLock {
                    wrongByRank[c.rank] = result.wrong
                    if (transport as? CorruptingTransport)?.corrupted == true { flagged.append(c.rank) }
                }
            }
            XCTAssertEqual(flagged, [1], algorithm.name)
            XCTAssertGreaterThan(wrongByRank.values.reduce(0, +), 0, "\(algorithm.name): a flipped bit went unnoticed: \(wrongByRank)")
        }
    }
}
