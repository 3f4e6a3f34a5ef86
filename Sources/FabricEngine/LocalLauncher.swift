import FabricCore
import FabricRendezvous
import Foundation
import Synchronization

/// `--np N`: runs N ranks of this same binary on this host over loopback. The launcher
/// hosts the rendezvous store itself (so it sees every rank join and leave), passes each
/// child its rank through FABRICBENCH_* variables, and ends the job promptly when a rank
/// fails: the others get a grace period (the rank timeout, at most 10 s) to notice and write
/// what they measured, then SIGTERM, then SIGKILL.
public enum LocalLauncher {
    public struct Outcome {
        public let exitCode: Int32
        /// One line per rank that failed, e.g. "rank 1 exited with status 1".
        public let failures: [String]
    }

    /// `jobToken`: the one the ranks will use (their --job-token), else a random one.
    public static func run(ranks: Int, arguments: [String], timeout: Double, jobToken given: String? = nil,
                           executable: String = "/proc/self/exe") throws -> Outcome {
        let grace = min(timeout, 10)
        let jobToken = given ?? "np/\(getpid())/\(UInt64.random(in: 0...UInt64.max))"
        let server = try RendezvousServer(host: "127.0.0.1", port: 0, worldSize: ranks, token: WireFormat.token(for: jobToken))
        server.start()
        defer { server.stop() }

        let binary = URL(fileURLWithPath: executable).resolvingSymlinksInPath()
        // Woken by each child's exit, so the launcher sleeps while ranks measure: a polling
        // launcher would preempt a spinning rank on a small host and show up in the tail.
        let exited = DispatchSemaphore(value: 0)
        var children: [Process] = []
        // The signal handler runs on another thread while the spawn loop may still add
        // children: it sees the running children's pids through this lock, never the array.
        let pids = Mutex<(running: Set<pid_t>, exited: Set<pid_t>)>(([], []))
        @Sendable func terminateAll(_ signal: Int32) {
            for pid in pids.withLock({ $0.running }) { kill(pid, signal) }
        }
        // SIGINT/SIGTERM: passed on to the ranks (rank 0 saves what it measured), and the
        // ranks still running after a grace period are killed.
        let interrupted = Atomic<Int32>(0)
        let forward = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig)
            source.setEventHandler {
                interrupted.store(sig, ordering: .relaxed)
                terminateAll(sig)
                exited.signal()
            }
            source.resume()
            return source
        }
        defer { forward.forEach { $0.cancel() } }

        for rank in 0..<ranks {
            let p = Process()
            p.terminationHandler = { child in
                let pid = child.processIdentifier  // reaped: never signal a pid that may be reused
                pids.withLock { _ = $0.running.remove(pid); $0.exited.insert(pid) }
                exited.signal()
            }
            p.executableURL = binary
            p.arguments = arguments
            var env = ProcessInfo.processInfo.environment
            env[LaunchEnvironment.Variable.rank] = "\(rank)"
            env[LaunchEnvironment.Variable.worldSize] = "\(ranks)"
            env[LaunchEnvironment.Variable.master] = "127.0.0.1:\(server.port)"
            env[LaunchEnvironment.Variable.jobToken] = jobToken
            env[LaunchEnvironment.Variable.externalStore] = "1"
            p.environment = env
            do {
                try p.run()
            } catch {
                terminateAll(SIGKILL)
                throw FabricError.configuration("cannot start rank \(rank) (\(binary.path)): \(error.localizedDescription)")
            }
            children.append(p)
            let pid = p.processIdentifier
            pids.withLock { if !$0.exited.contains(pid) { $0.running.insert(pid) } }
        }

        var failures: [String] = []
        var firstCode: Int32 = 0
        var reported = Set<Int>()
        func collectExits() {
            for (rank, p) in children.enumerated() where !p.isRunning && !reported.contains(rank) {
                reported.insert(rank)
                let signaled = p.terminationReason == .uncaughtSignal
                let code = signaled ? 128 + p.terminationStatus : p.terminationStatus
                guard code != 0 else { continue }
                failures.append(signaled ? "rank \(rank) was killed by signal \(p.terminationStatus)" : "rank \(rank) exited with status \(code)")
                if firstCode == 0 { firstCode = code }
            }
        }
        var killAt: Deadline?
        var terminated = false
        while children.contains(where: \.isRunning) {
            _ = exited.wait(timeout: killAt == nil ? .now() + 1 : .now() + 0.05)
            collectExits()
            if killAt == nil && interrupted.load(ordering: .relaxed) != 0 {
                killAt = Deadline(seconds: 2)
            }
            if killAt == nil && (firstCode != 0 || server.abortReason != nil) {
                killAt = Deadline(seconds: grace)
            }
            if let k = killAt, k.expired {
                terminateAll(terminated ? SIGKILL : SIGTERM)
                if !terminated { killAt = Deadline(seconds: 2) }
                terminated = true
            }
        }
        collectExits()
        // Every child has exited, so this returns at once; it is where Foundation (on Linux)
        // drops the run-loop source that holds each Process, which otherwise outlives them
        // in a cycle (LeakSanitizer reported it at every launcher exit).
        for p in children { p.waitUntilExit() }
        let signalled = interrupted.load(ordering: .relaxed)
        if signalled != 0 && firstCode == 0 { firstCode = 128 + signalled }
        return Outcome(exitCode: firstCode, failures: signalled != 0 ? ["interrupted"] + failures : failures)
    }
}
