import Foundation
import FabricCore
import FabricTestSupport

/// Failures: each one ends in an error that names the peer, in bounded time, never a hang or
/// a crash.
extension TransportConformance {
    /// A receive nobody sends fails with FabricError.timeout naming the peer's rank, after
    /// the transport's timeout and not much later.
    func timeoutNamesThePeer(_ findings: Findings) {
        let timeout = scale.shortTimeout
        job(timeout: timeout, findings) { rank in
            let t = rank.transport
            try t.connect(to: [1 - rank.rank])
            guard rank.rank == 0 else {
                _ = try rank.store.get("timeout/done", description: "rank 0 to time out")
                return
            }
            let memory = try RegisteredMemory(count: 64, transport: t)
            try t.postReceive(from: 1, into: memory.region, offset: 0, length: 64, id: 1)
            var completions: [Completion] = []
            let began = Date()
            do {
                try t.waitForCompletions(1, into: &completions, doing: "a message rank 1 never sends")
                findings.add("rank 0: a receive nobody sent completed: \(completions)")
            } catch {
                let seconds = Date().timeIntervalSince(began)
                if let e = error as? FabricError, case .timeout = e {
                    findings.expect("\(e)".contains("rank 1"), "the timeout does not name rank 1: \(e)")
                } else {
                    findings.add("rank 0: expected a timeout, got: \(error)")
                }
                findings.expect(seconds >= timeout * 0.9 && seconds <= timeout + scale.slack,
                                "rank 0 gave up after \(String(format: "%.1f", seconds)) s with a \(formatSeconds(timeout)) timeout")
            }
            try rank.store.set("timeout/done", [])
        }
    }

    /// Rank 1 closes its transport and drops the store without a goodbye while rank 0 waits
    /// for it: rank 0 fails with an error naming rank 1 within seconds, long before its timeout.
    func peerThatLeaves(_ findings: Findings) {
        let timeout = max(scale.timeout, 30)
        job(timeout: timeout, findings) { rank in
            let t = rank.transport
            try t.connect(to: [1 - rank.rank])
            let memory = try RegisteredMemory(count: 64, transport: t)
            guard rank.rank == 0 else {
                _ = try rank.store.get("leave/posted", description: "rank 0 to wait for rank 1")
                rank.leave()
                return
            }
            try t.postReceive(from: 1, into: memory.region, offset: 0, length: 64, id: 1)
            try t.postSend(to: 1, from: memory.region, offset: 0, length: 64, id: 2)
            try rank.store.set("leave/posted", [])
            var completions: [Completion] = []
            let began = Date()
            do {
                try t.waitForCompletions(2, into: &completions, doing: "a message from a rank that leaves")
                findings.add("rank 0: a receive from a rank that left completed: \(completions)")
            } catch {
                let seconds = Date().timeIntervalSince(began)
                findings.expect("\(error)".contains("rank 1"), "rank 0's error does not name rank 1: \(error)")
                findings.expect(seconds <= scale.slack, "rank 0 took \(String(format: "%.1f", seconds)) s to notice that rank 1 left (timeout \(formatSeconds(timeout)))")
            }
        }
    }

    /// Rank 0 closes with receives and large sends still posted and partly moved: close
    /// returns promptly, and every later call throws at once instead of crashing or waiting.
    func closeWithOperationsPending(_ findings: Findings) {
        let large = max(scale.largeBytes / 4, 1 << 20)
        job(findings) { rank in
            let t = rank.transport
            try t.connect(to: [1 - rank.rank])
            guard rank.rank == 0 else {
                _ = try rank.store.get("close/done", description: "rank 0 to close")
                return
            }
            let memory = try RegisteredMemory(count: 2 * large, transport: t)
            for i in 0..<3 { try t.postReceive(from: 1, into: memory.region, offset: 64 * i, length: 64, id: UInt64(i)) }
            for i in 0..<2 { try t.postSend(to: 1, from: memory.region, offset: i * large, length: large, id: UInt64(10 + i)) }
            var completions: [Completion] = []
            for _ in 0..<20 {
                try t.poll(&completions)
                usleep(1000)
            }
            let began = Date()
            t.close()
            let closing = Date().timeIntervalSince(began)
            findings.expect(closing <= scale.slack, "close took \(String(format: "%.1f", closing)) s")
            findings.expect(t.registrationCount == 0, "rank 0: \(t.registrationCount) registrations left after close")
            let calls: [(String, () throws -> Void)] = [
                ("postSend", { try t.postSend(to: 1, from: memory.region, offset: 0, length: 64, id: 20) }),
                ("postReceive", { try t.postReceive(from: 1, into: memory.region, offset: 0, length: 64, id: 21) }),
                ("poll", { try t.poll(&completions) }),
                ("connect", { try t.connect(to: [1]) }),
                ("register", { _ = try t.register(memory.bytes) }),
            ]
            for (name, call) in calls {
                do {
                    try call()
                    findings.add("rank 0: \(name) after close did not throw")
                } catch {}
            }
            let waiting = Date()
            do {
                try t.waitForCompletions(1, into: &completions, doing: "anything after close")
                findings.add("rank 0: a wait after close completed")
            } catch {
                let seconds = Date().timeIntervalSince(waiting)
                findings.expect(seconds <= scale.slack, "rank 0: a wait after close took \(String(format: "%.1f", seconds)) s to fail")
            }
            try rank.store.set("close/done", [])
        }
    }
}
