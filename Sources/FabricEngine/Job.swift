import FabricCore
import FabricMeasure
import FabricPlacement
import FabricRendezvous
import FabricResults
import FabricTransports
import Foundation

public struct JobOptions: Sendable {
    public var transport: TransportChoice = .auto
    /// Settings shared by every transport, and each transport's own options.
    public var transportContext = TransportContext()
    public var timeout: Double = 30
    /// CPUs to pin ranks to, indexed by local rank (wrapping); empty: the default below.
    public var cpus: [Int] = []
    /// Without `cpus`: ranks `--np` started each get a core of their own (`CorePlacement`);
    /// false (`--cpus none`) leaves them to the scheduler.
    public var pinsByDefault = true
    /// What every rank must have been started with (command, sizes, iterations, ...), keyed
    /// by flag; compared across ranks before anything else, as a mismatch would desynchronise
    /// the ranks' messages.
    public var measurement: [String: String] = [:]
    /// Where rank 0's rendezvous store listens (--bind, or --iface's address); nil: the master address.
    public var storeAddress: String?
    /// The host this rank reports for diagnostics (matrix verdicts, stragglers); nil: the
    /// host name. Containers and namespaces may share a host name while being different hosts.
    public var hostLabel: String?
    /// A testing aid: a delay drawn from this before each message a rank sends (seed + rank).
    public var injectJitter: JitterDistribution?
    public var jitterSeed: UInt64 = 1
    public init() {}
}

/// One rank's membership of a running job: rendezvous, transport and placement.
/// Rank 0 also hosts the rendezvous store unless a launcher already does.
public final class Job {
    public let spec: LaunchSpec
    public let rendezvous: RendezvousClient
    /// Typed gathers and decisions between ranks, over the rendezvous store.
    public let control: ControlPlane
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
            // Listen only where the ranks come from: --bind/--iface, else the master address
            // (loopback stays loopback); the wildcard only when the master's name maps to a
            // loopback alias here, and then say so.
            let host = options.storeAddress ?? Socket.bindableAddress(for: spec.masterHost) ?? ""
            if host.isEmpty {
                FileHandle.standardError.write(Data("# fabricbench: rank 0: the master \(spec.masterHost) is not an address of this host's interfaces; the rendezvous listens on every address (pass --bind ADDR or --iface NAME to narrow it)\n".utf8))
            }
            let s: RendezvousServer
            do {
                s = try RendezvousServer(host: host, port: spec.masterPort, worldSize: spec.worldSize, token: token)
            } catch let e as SystemCallError where e.errno == EADDRINUSE {
                guard let jobIdVariable = spec.derivedPortSource else { throw e }
                throw FabricError.configuration("rank 0: the rendezvous port \(spec.masterPort), derived from the job id in \(jobIdVariable), is in use on this host: pass --master HOST:PORT (or set FABRICBENCH_MASTER) with a free port")
            }
            s.start()
            server = s
        } else {
            server = nil
        }
        let localRank = spec.localRank ?? spec.rank
        var cpu: Int?, cpuChoice: String?
        if !options.cpus.isEmpty {
            let i = localRank % options.cpus.count
            cpu = options.cpus[i]
            cpuChoice = "--cpus entry \(i + 1) of \(options.cpus.count) (local rank \(localRank) mod \(options.cpus.count))"
            try Affinity.pin(toCPU: options.cpus[i])
        }
        rendezvous = try RendezvousClient(host: spec.masterHost, port: spec.masterPort, rank: spec.rank,
                                          worldSize: spec.worldSize, token: token, timeout: options.timeout)
        control = ControlPlane(store: rendezvous)
        do {
            try Self.agree(on: options.measurement, control: control)
        } catch let refusal as FabricError {
            // Every rank refuses alike: leave cleanly, and rank 0 keeps the store up until
            // the others have read the verdict.
            rendezvous.bye()
            if let server {
                _ = server.waitForRanksToLeave(deadline: Deadline(seconds: 5))
                server.stop()
            }
            throw refusal
        }
        let host = options.hostLabel ?? ProcessInfo.processInfo.hostName
        var context = options.transportContext
        context.timeout = options.timeout
        context.masterHost = spec.masterHost
        context.localRank = spec.localRank
        // Every rank takes part in the count, whether or not its launcher gave the number:
        // ranks started differently must not wait at different steps.
        let counted = try Self.ranksSharing(host: host, control: control)
        context.localSize = spec.localSize ?? counted
        selection = try TransportSelection.agree(choice: options.transport, context: context, control: control)
        guard let plugin = TransportRegistry.plugin(named: selection.kind.rawValue) else {
            throw FabricError.configuration("rank \(spec.rank): rank 0 chose transport '\(selection.kind)', which this build does not have: run the same fabricbench build on every rank")
        }
        let made = try plugin.make(rendezvous, context)
        transport = options.injectJitter.map { JitteredTransport(wrapping: made, distribution: $0, seed: options.jitterSeed &+ UInt64(spec.rank)) } ?? made
        if cpu == nil && options.pinsByDefault && spec.launcher == .fabricbench {
            // After the transport: it has picked the NIC, and verbs has moved the rank to the
            // NIC's NUMA node, so the core is chosen next to it.
            let settings = made.settings
            let nic = (settings["device"] ?? settings["interface"]).map { name in
                (name: name, node: settings["numa_node"].flatMap { Int($0) } ?? CorePlacement.numaNode(ofNIC: name))
            }
            if let choice = CorePlacement.choose(localRank: localRank, localSize: spec.localSize, allowed: CorePlacement.allowedCPUs(),
                                                 nic: nic, nodeOfCPU: NICAssignment.numaNode(ofCPU:)) {
                cpuChoice = choice.reason
                if let chosen = choice.cpu {
                    do {
                        try Affinity.pin(toCPU: chosen)
                        cpu = chosen
                    } catch {
                        cpuChoice = "--np default: not pinned: \(error)"
                    }
                }
            }
        }
        pinnedCPU = cpu
        var placement = RankPlacement(rank: spec.rank, host: host, localRank: spec.localRank, cpu: cpu,
                                      kind: made.kind.rawValue, settings: made.settings)
        placement.cpuChoice = cpuChoice
        try rendezvous.set("placement/\(spec.rank)", Array(try JSONEncoder().encode(placement)))
    }

    /// How many of the job's ranks run on `host`, from every rank's host name (or --host-label):
    /// for when the launcher does not say (a launch by hand with --rank, Slurm across nodes,
    /// torchrun without LOCAL_WORLD_SIZE), as a transport needs it: ranks that outnumber the
    /// cores must not spin while they wait. (The placements carry the host names again later;
    /// they are published after the transport is made, which needs this first.)
    static func ranksSharing(host: String, control: ControlPlane) throws -> Int {
        let gathered = try control.gather("job/hosts", host, what: "host name")
        let counts: [String: Int] = try control.decide("job/hosts/counts", what: "ranks per host") {
            Dictionary((gathered ?? []).map { ($0, 1) }, uniquingKeysWith: +)
        }
        return counts[host] ?? 1
    }

    /// Refuses the job, on every rank, when some rank was started with other measurement
    /// arguments than rank 0: the message names the rank, the flag and both values.
    static func agree(on measurement: [String: String], control: ControlPlane) throws {
        let all = try control.gather("job/measurement", measurement, what: "measurement arguments")
        let refusal: String? = try control.decide("job/measurement/decision", what: "verdict on the ranks' arguments") {
            guard let all, let ours = all.first else { return nil }
            for (rank, theirs) in all.enumerated().dropFirst() {
                // The command first: other differences follow from it.
                let keys = Set(ours.keys).union(theirs.keys).sorted { ($0 == "command" ? 0 : 1, $0) < ($1 == "command" ? 0 : 1, $1) }
                for key in keys where ours[key] != theirs[key] {
                    let flag = ArgumentSpelling.flag(key)
                    func shown(_ v: String?) -> String {
                        guard let v else { return "no \(flag)" }
                        return key == "command" ? "command '\(v)'" : v.isEmpty ? "\(flag) unset" : "\(flag) \(v)"
                    }
                    return "rank \(rank) was started with \(shown(theirs[key])), rank 0 with \(shown(ours[key])): start every rank with the same \(flag) (and the same measurement arguments)"
                }
            }
            return nil
        }
        if let refusal { throw FabricError.configuration(refusal) }
    }

    /// Every rank's host label, by rank (from the placements).
    public func hostNames() throws -> [String] { try placements().map(\.host) }

    /// Every rank's host, local rank, CPU and NIC, by rank (what each published at start).
    public func placements() throws -> [RankPlacement] {
        try (0..<worldSize).map { r in
            let bytes = try rendezvous.get("placement/\(r)", description: "rank \(r)'s placement")
            do {
                return try JSONDecoder().decode(RankPlacement.self, from: Data(bytes))
            } catch {
                throw FabricError.protocolViolation(peer: "rank \(r)", detail: "its placement record is not valid JSON (\(error)): run the same fabricbench build on every rank")
            }
        }
    }

    public func barrier(_ name: String) throws { try control.barrier(name) }

    private var nextRendezvousLook: UInt64 = 0
    /// Rank 0 hosts the store. When it dies mid-size, ranks whose own peers still answer would
    /// measure on until the size ends (seconds, minutes at large sizes) before a store call
    /// tells them. Engines call this between iterations, outside the timed region: at most
    /// every 250 ms it looks at the store's socket (one poll, no round trip).
    @inline(__always)
    public func noticeLostRendezvous() throws {
        let now = monotonicNanoseconds()
        guard now >= nextRendezvousLook else { return }
        nextRendezvousLook = now &+ 250_000_000
        try rendezvous.checkConnection()
    }

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

/// How a recorded argument's key is spelled on the command line: "n" is -n, "gid_index" is
/// --gid-index, "command" is the subcommand.
public enum ArgumentSpelling {
    public static func flag(_ key: String) -> String {
        if key == "command" { return "command" }
        return key.count == 1 ? "-\(key)" : "--" + key.replacingOccurrences(of: "_", with: "-")
    }
}
