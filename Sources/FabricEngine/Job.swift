import FabricMeasure
import FabricTransport
import Foundation

public struct JobOptions: Sendable {
    public var transport: TransportChoice = .auto
    public var tcp = TCPOptions()
    public var verbs = VerbsOptions()
    public var timeout: Double = 30
    /// CPUs to pin ranks to, indexed by local rank (wrapping); empty: no pinning.
    public var cpus: [Int] = []
    public init() {}
}

/// One rank's membership of a running job: rendezvous, transport and placement.
/// Rank 0 also hosts the rendezvous store unless a launcher already does.
public final class Job {
    public let spec: LaunchSpec
    public let rendezvous: RendezvousClient
    public let transport: Transport
    public let selection: TransportSelection
    public let pinnedCPU: Int?
    private let server: RendezvousServer?
    public var rank: Int { spec.rank }
    public var worldSize: Int { spec.worldSize }

    public init(spec: LaunchSpec, options: JobOptions) throws {
        self.spec = spec
        let token = WireFormat.token(for: spec.jobToken)
        if spec.rank == 0 && !spec.storeIsExternal {
            // Loopback masters stay on loopback; otherwise listen on every address.
            let local = spec.masterHost.hasPrefix("127.") || spec.masterHost == "localhost" || spec.masterHost == "::1"
            let s: RendezvousServer
            do {
                s = try RendezvousServer(host: local ? spec.masterHost : "", port: spec.masterPort, worldSize: spec.worldSize, token: token)
            } catch let e as SystemCallError where e.errno == EADDRINUSE {
                guard let jobIdVariable = spec.derivedPortSource else { throw e }
                throw FabricError.configuration("rank 0: the rendezvous port \(spec.masterPort), derived from the job id in \(jobIdVariable), is in use on this host: pass --master HOST:PORT (or set FABRICBENCH_MASTER) with a free port")
            }
            s.start()
            server = s
        } else {
            server = nil
        }
        if !options.cpus.isEmpty {
            let cpu = options.cpus[(spec.localRank ?? spec.rank) % options.cpus.count]
            try Affinity.pin(toCPU: cpu)
            pinnedCPU = cpu
        } else {
            pinnedCPU = nil
        }
        rendezvous = try RendezvousClient(host: spec.masterHost, port: spec.masterPort, rank: spec.rank,
                                          worldSize: spec.worldSize, token: token, timeout: options.timeout)
        selection = try TransportSelection.agree(TransportSelection.select(options.transport), choice: options.transport, rendezvous: rendezvous)
        switch selection.kind {
        case .verbs:
            var verbs = options.verbs
            verbs.timeout = options.timeout
            transport = try VerbsTransport(rendezvous: rendezvous, options: verbs)
        case .tcp:
            var tcp = options.tcp
            tcp.timeout = options.timeout
            if let local = spec.localSize, local > ProcessInfo.processInfo.activeProcessorCount { tcp.spinsBeforeSleep = 0 }
            transport = try TCPTransport(rendezvous: rendezvous, options: tcp, masterHost: spec.masterHost)
        }
        try rendezvous.set("host/\(spec.rank)", Array(ProcessInfo.processInfo.hostName.utf8))
    }

    /// Rank 0 receives every rank's value for `key` (in rank order); other ranks get nil.
    /// `from` limits the ranks that contribute.
    public func gather(_ key: String, _ value: [UInt8]?, from ranks: [Int]? = nil) throws -> [[UInt8]]? {
        if let value { try rendezvous.set("\(key)/\(rank)", value) }
        guard rank == 0 else { return nil }
        return try (ranks ?? Array(0..<worldSize)).map { r in
            try rendezvous.get("\(key)/\(r)", description: "rank \(r)'s result '\(key)'")
        }
    }

    public func hostNames() throws -> [String] {
        try (0..<worldSize).map { r in
            String(decoding: try rendezvous.get("host/\(r)", description: "rank \(r)'s host name"), as: UTF8.self)
        }
    }

    public func barrier(_ name: String) throws { try rendezvous.barrier(name) }

    /// Clean exit: say goodbye; rank 0 keeps the store up until the others have left.
    public func finish() {
        rendezvous.bye()
        if let server {
            let stragglers = server.waitForRanksToLeave(deadline: Deadline(seconds: rendezvous.timeout))
            if !stragglers.isEmpty {
                FileHandle.standardError.write(Data("fabricbench: rank 0: ranks \(stragglers.map(String.init).joined(separator: ", ")) did not finish\n".utf8))
            }
            server.stop()
        }
        transport.close()
    }

    /// Failure exit: close without goodbye, so the store aborts every waiting rank at once.
    public func abandon() {
        transport.close()
        rendezvous.abandon()
        if let server {
            // Give the other ranks a moment to hear the abort before the store goes away.
            _ = server.waitForRanksToLeave(deadline: Deadline(seconds: 2))
            server.stop()
        }
    }
}
