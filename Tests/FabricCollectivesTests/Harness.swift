import Foundation
import XCTest
import FabricTransport
@testable import FabricCollectives

/// Runs `body` on `n` ranks, one thread each, connected over loopback TCP.
func withRanks(_ n: Int, file: StaticString = #filePath, line: UInt = #line,
               _ body: @escaping (Communicator) throws -> Void) {
    let token = WireFormat.token(for: "collectives-\(UUID())")
    let server = try! RendezvousServer(host: "127.0.0.1", port: 0, worldSize: n, token: token)
    server.start()
    defer { server.stop() }
    let group = DispatchGroup()
    let lock = NSLock()
    nonisolated(unsafe) var errors: [String] = []  // guarded by lock
    for rank in 0..<n {
        group.enter()
        let thread = Thread {
            defer { group.leave() }
            do {
                let client = try RendezvousClient(host: "127.0.0.1", port: server.port, rank: rank, worldSize: n, token: token, timeout: 20)
                var options = TCPOptions()
                options.timeout = 20
                let transport = try TCPTransport(rendezvous: client, options: options, masterHost: "127.0.0.1")
                try body(Communicator(transport: transport))
                transport.close()
                client.bye()
            } catch {
                lock.withLock { errors.append("rank \(rank): \(error)") }
            }
        }
        thread.stackSize = 4 << 20
        thread.start()
    }
    XCTAssertEqual(group.wait(timeout: .now() + 300), .success, "ranks did not finish", file: file, line: line)
    XCTAssertEqual(errors, [], file: file, line: line)
}

/// Registered scratch memory that frees itself.
final class TestBuffer {
    let bytes: UnsafeMutableRawBufferPointer
    let region: MemoryRegion
    init(_ count: Int, _ transport: Transport) throws {
        bytes = .allocate(byteCount: max(count, 64), alignment: 64)
        bytes.initializeMemory(as: UInt8.self, repeating: 0xEE)
        region = try transport.register(bytes)
    }
    deinit { bytes.deallocate() }
}

struct Mismatch: CustomStringConvertible {
    let what: String
    let index: Int
    let expected: Double
    let got: Double
    var description: String { "\(what): [\(index)] expected \(expected), got \(got)" }
}

/// Runs one collective call with inputs from the collective's definition and returns the
/// output elements that differ from the expected ones.
func runAndCheck(_ comm: Communicator, _ algorithm: CollectiveAlgorithm, count full: Int, type: DataType, op: ReduceOp,
                 inPlace: Bool, root: Int = 0, tuning: PipelineTuning) throws -> [Mismatch] {
    let kind = algorithm.collective
    let n = comm.size, rank = comm.rank
    let count = kind.usableCount(full, ranks: n)
    let inCount = kind.inputCount(count, ranks: n), outCount = kind.outputCount(count, ranks: n)
    let es = type.size
    let big = try TestBuffer(max(inCount, outCount, count) * es, comm.transport)
    let other = try TestBuffer(max(inCount, outCount) * es, comm.transport)
    let scratch = try TestBuffer(tuning.slots * (tuning.chunkBytes + 64), comm.transport)
    let work = try TestBuffer(count * es, comm.transport)
    // In place: reduce-scatter's output is this rank's piece of the input; all-gather's input
    // is this rank's piece of the output (nccl's convention).
    var input = big.region, output = inPlace ? big.region : other.region
    let piece = Partition(count: count, parts: n).range(rank)
    if inPlace && kind == .reducescatter {
        output = MemoryRegion(base: big.region.base + piece.lowerBound * es, length: outCount * es, key: big.region.key)
    }
    if kind == .allgather {
        output = big.region
        input = inPlace ? MemoryRegion(base: big.region.base + piece.lowerBound * es, length: inCount * es, key: big.region.key) : other.region
    }
    for i in 0..<inCount { type.store(kind.input(rank: rank, index: i, ranks: n, op: op, root: root), input.base, i) }
    try comm.connect(algorithm.peers(rank: rank, size: n))
    try algorithm.run(comm, CollectiveArguments(count: count, type: type, op: op, root: root, input: input, output: output,
                                                scratch: scratch.region, work: work.region, tuning: tuning))
    var wrong: [Mismatch] = []
    for i in 0..<outCount {
        let expected = kind.expected(rank: rank, index: i, ranks: n, count: count, op: op, root: root)
        let got = type.load(output.base, i)
        if got != expected {
            wrong.append(Mismatch(what: "\(kind) \(algorithm.name) n=\(n) rank \(rank) \(type) \(op) count \(count) inPlace \(inPlace)",
                                  index: i, expected: expected, got: got))
        }
    }
    return wrong
}
