import Foundation
import FabricCore
import FabricRendezvous

/// One rank of a job that `RankJob.run` runs as a thread of the test process: its transport,
/// built by the plugin under test, and its connection to the job's rendezvous store.
public final class RankHandle {
    public let rank: Int
    public let size: Int
    public let transport: any Transport
    public let store: RendezvousClient
    /// Set by `leave()`: the harness then leaves the transport and the store alone.
    public private(set) var left = false

    init(transport: any Transport, store: RendezvousClient) {
        rank = store.rank
        size = store.worldSize
        self.transport = transport
        self.store = store
    }

    /// Leaves the job the way a crashed process does: the transport closes and the store
    /// connection drops without a goodbye, so the store aborts every rank still waiting.
    public func leave() {
        transport.close()
        store.abandon()
        left = true
    }
}

/// How a job ended: each rank's error, if it threw, and whether every rank returned in time.
public struct JobOutcome {
    public var errors: [Int: any Error] = [:]
    /// False when a rank was still running at the job's time limit (a hang).
    public var finished = true
    public var seconds = 0.0

    /// "rank 1: <error>" for each rank that threw, in rank order.
    public var failures: [String] { errors.keys.sorted().map { "rank \($0): \(errors[$0]!)" } }
}

/// Runs a job of `ranks` ranks as threads of this process, over loopback: a rendezvous
/// server on 127.0.0.1 port 0, one rendezvous client per rank, and each rank's transport
/// built by `plugin.make`, as `fabricbench --np` builds them in separate processes.
///
/// A rank whose body returns closes its transport and says goodbye to the store. A rank
/// whose body throws closes its transport and drops the store without a goodbye, as a
/// failing process would, so the store releases the ranks still waiting for it at once.
public enum RankJob {
    /// - Parameters:
    ///   - context: the transports' settings (its timeout bounds every data wait); each rank
    ///     gets it with `localRank`/`localSize` set, as the local launcher sets them.
    ///   - storeTimeout: seconds a store wait may take (the job's own coordination).
    ///   - limit: seconds after which the job counts as hung (`finished` false); its threads
    ///     cannot be stopped and are left to their transports' timeouts.
    ///   - body: runs once on each rank's thread.
    public static func run(ranks n: Int, over plugin: TransportPlugin, context: TransportContext = TransportContext(),
                           storeTimeout: Double = 30, limit: Double = 300,
                           _ body: @escaping (RankHandle) throws -> Void) -> JobOutcome {
        let began = Date()
        let token = WireFormat.token(for: "test-job-\(UUID())")
        let server: RendezvousServer
        do {
            server = try RendezvousServer(host: "127.0.0.1", port: 0, worldSize: n, token: token)
        } catch {
            return JobOutcome(errors: [0: error], finished: true, seconds: 0)
        }
        server.start()
        defer { server.stop() }
        let group = DispatchGroup()
        let lock = NSLock()
        // Each rank is a thread by design: `errors` is guarded by `lock`; `body` is called
        // once per rank, and what it shares between ranks is its caller's to guard.
        nonisolated(unsafe) var errors: [Int: any Error] = [:]
        nonisolated(unsafe) let body = body
        for rank in 0..<n {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                var store: RendezvousClient?
                var transport: (any Transport)?
                do {
                    store = try RendezvousClient(host: "127.0.0.1", port: server.port, rank: rank, worldSize: n,
                                                 token: token, timeout: storeTimeout)
                    var mine = context
                    mine.localRank = rank
                    mine.localSize = n
                    transport = try plugin.make(store!, mine)
                    let handle = RankHandle(transport: transport!, store: store!)
                    try body(handle)
                    if !handle.left {
                        transport!.close()
                        store!.bye()
                    }
                } catch {
                    lock.withLock { errors[rank] = error }
                    transport?.close()
                    store?.abandon()
                }
            }
            thread.stackSize = 4 << 20
            thread.start()
        }
        let finished = group.wait(timeout: .now() + limit) == .success
        return lock.withLock { JobOutcome(errors: errors, finished: finished, seconds: Date().timeIntervalSince(began)) }
    }
}
