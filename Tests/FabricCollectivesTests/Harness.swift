import Foundation
import XCTest
import FabricCore
import FabricRendezvous
import FabricTCP
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
    // Each rank is a thread by design; `errors` is guarded by `lock`, `body` is called once per rank.
    nonisolated(unsafe) var errors: [String] = []
    nonisolated(unsafe) let body = body
    for rank in 0..<n {
        group.enter()
        let thread = Thread {
            defer { group.leave() }
            do {
                let client = try RendezvousClient(host: "127.0.0.1", port: server.port, rank: rank, worldSize: n, token: token, timeout: 20)
                var options = TCPOptions()
                options.timeout = 20
                let transport = try TCPTransport(store: client, options: options, masterHost: "127.0.0.1")
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
