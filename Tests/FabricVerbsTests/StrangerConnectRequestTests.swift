import XCTest
import Foundation
@testable import FabricVerbs
import FabricCore
import FabricTestSupport
import CFabricRDMA

/// `--cm` setup with strangers on the accepting rank's rdma_cm port: requests with another
/// job's token, garbage, no private data, or a rank outside the job must each be rejected
/// (the stranger sees REJECTED), and the job must still connect and move checked bytes.
/// Needs an RDMA device: scripts/softroce-checks.sh runs it in the Soft-RoCE VM.
final class StrangerConnectRequestTests: XCTestCase {
    func testStrangersAreRejectedWhileTheJobConnects() throws {
        var context = TransportContext()
        context[VerbsOptions.self].connectionManager = true
        context.timeout = 60
        let availability = VerbsTransport.plugin.probe(context)
        guard availability.usable else {
            throw XCTSkip("verbs cannot run here (\(availability.reason)); scripts/softroce-checks.sh runs this in the Soft-RoCE VM")
        }
        let lock = NSLock()
        nonisolated(unsafe) var answers: [String: String] = [:]
        let strangers = ["another job's token", "garbage", "no private data", "a rank outside the job"]
        // Rank 0 accepts, rank 1 connects (the higher rank connects). Rank 1 first plays the
        // strangers against rank 0's published address while rank 0 already waits for it.
        let outcome = RankJob.run(ranks: 2, over: VerbsTransport.plugin, context: context, storeTimeout: 60, limit: 240) { rank in
            let t = rank.transport, peer = 1 - rank.rank
            if rank.rank == 1 {
                let address = String(decoding: try rank.store.get("verbs/cm/0", description: "rank 0's rdma_cm address"), as: UTF8.self)
                let token = rank.store.token
                let requests: [[UInt8]] = [
                    ConnectionRequest(rank: 1, target: 0, queuePair: 0, queuePairs: 1).encoded(token: token ^ 0x5a5a),
                    Array(repeating: 0xa5, count: 40),
                    [],
                    ConnectionRequest(rank: 9, target: 0, queuePair: 0, queuePairs: 1).encoded(token: token),
                ]
                for (name, data) in zip(strangers, requests) {
                    let answer = try StrangerConnector.connect(to: address, privateData: data, seconds: 30)
                    lock.withLock { answers[name] = answer }
                }
            }
            try t.connect(to: [peer])
            let out = try RegisteredMemory(count: 4096, transport: t), into = try RegisteredMemory(count: 4096, transport: t)
            for i in 0..<4096 { out.bytes[i] = UInt8(truncatingIfNeeded: i &* 7 &+ rank.rank) }
            try t.postReceive(from: peer, into: into.region, offset: 0, length: 4096, id: 1)
            try t.postSend(to: peer, from: out.region, offset: 0, length: 4096, id: 2)
            var completions: [Completion] = []
            try t.waitForCompletions(2, into: &completions, doing: "4 KiB each way after the strangers")
            if let i = (0..<4096).first(where: { into.bytes[$0] != UInt8(truncatingIfNeeded: $0 &* 7 &+ peer) }) {
                throw FabricError.configuration("rank \(rank.rank): byte \(i) from rank \(peer) is wrong")
            }
        }
        XCTAssertTrue(outcome.finished, "the job hung")
        XCTAssertEqual(outcome.failures, [], "the job failed")
        for name in strangers {
            XCTAssertEqual(answers[name], "REJECTED", "a stranger with \(name): rank 0 answered \(answers[name] ?? "nothing")")
        }
    }
}

/// A connect request over rdma_cm with the given private data and no queue pair: returns the
/// event that answered it (REJECTED when refused; CONNECT_RESPONSE if it was accepted).
enum StrangerConnector {
    static func connect(to address: String, privateData: [UInt8], seconds: Double) throws -> String {
        let api = try RDMALibrary.connectionManager()
        guard let channel = api.create_event_channel() else { throw SystemCallError("rdma_create_event_channel", "a stranger") }
        defer { api.destroy_event_channel(channel) }
        var created: UnsafeMutablePointer<rdma_cm_id>?
        guard api.create_id(channel, &created, nil, RDMA_PS_TCP) == 0, let id = created else { throw SystemCallError("rdma_create_id", "a stranger") }
        defer { _ = api.destroy_id(id) }
        let (host, port) = try Socket.parseHostPort(address, what: "rank 0's --cm address")
        var (destination, _) = try Socket.resolve(host: host, port: port)
        let rc = withUnsafeMutablePointer(to: &destination) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { api.resolve_addr(id, nil, $0, 5000) } }
        guard rc == 0 else { throw SystemCallError("rdma_resolve_addr", "a stranger to \(address)") }
        let deadline = Deadline(seconds: seconds)
        while !deadline.expired {
            var descriptor = pollfd(fd: channel.pointee.fd, events: Int16(POLLIN), revents: 0)
            guard Glibc.poll(&descriptor, 1, min(deadline.remainingMilliseconds, 500)) > 0 else { continue }
            var received: UnsafeMutablePointer<rdma_cm_event>?
            guard api.get_cm_event(channel, &received) == 0, let event = received else { throw SystemCallError("rdma_get_cm_event", "a stranger") }
            let type = event.pointee.event
            _ = api.ack_cm_event(event)  // before destroy_id, which waits for every ack
            switch type {
            case RDMA_CM_EVENT_ADDR_RESOLVED:
                guard api.resolve_route(id, 5000) == 0 else { throw SystemCallError("rdma_resolve_route", "a stranger") }
            case RDMA_CM_EVENT_ROUTE_RESOLVED:
                var parameters = rdma_conn_param()
                parameters.qp_num = 0x1234  // no queue pair: the request is all a stranger sends
                parameters.retry_count = 7
                let rc = privateData.withUnsafeBytes { bytes in
                    parameters.private_data = bytes.isEmpty ? nil : bytes.baseAddress
                    parameters.private_data_len = UInt8(bytes.count)
                    return api.connect(id, &parameters)
                }
                guard rc == 0 else { throw SystemCallError("rdma_connect", "a stranger to \(address)") }
            case RDMA_CM_EVENT_REJECTED: return "REJECTED"
            case RDMA_CM_EVENT_CONNECT_RESPONSE:
                _ = api.reject(id, nil, 0)
                return "CONNECT_RESPONSE (accepted)"
            default:
                return api.event_str(type).map { String(cString: $0) } ?? "event \(type.rawValue)"
            }
        }
        throw FabricError.timeout(rank: 1, waitingFor: "an answer to a stranger's connect request", peer: address, seconds: seconds)
    }
}
