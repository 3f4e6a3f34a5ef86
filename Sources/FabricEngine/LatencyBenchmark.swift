import FabricMeasure
import FabricResults
import FabricCore
import Foundation

public struct LatencyOptions: Sendable {
    public var sizes: [Int] = [8]
    public var iterations = 1000
    public var warmup = 100
    /// Seconds per size; when set, replaces `iterations`.
    public var duration: Double?
    /// Verify every echoed byte (outside the timed region).
    public var check = false
    /// RDMA write and poll the last byte, as ib_write_lat (needs a one-sided transport).
    public var lastByte = false
    /// Which ranks pair up; nil: rank i with rank i + N/2.
    public var pairing: Pairing?
    public init() {}
}

/// Ping-pong latency (perftest's *_lat, OSU's osu_latency/osu_multi_lat): the initiator
/// timestamps, sends, and waits for the echo; one-way latency = round trip / 2. Every
/// sample goes into an HDR histogram, so memory stays fixed however long the run.
///
/// Before each batch of iterations the initiator tells the responder how many follow
/// (0 = size done); that exchange is outside the timed region, and lets duration mode
/// (-D) stop without the responder knowing the count in advance.
public final class LatencyBenchmark {
    let job: Job
    let options: LatencyOptions
    let clock: Clock

    public init(job: Job, options: LatencyOptions, clock: Clock) {
        self.job = job
        self.options = options
        self.clock = clock
    }

    struct PairReport: Codable {
        var iterations: Int
        var wrongBytes: Int
        var histogram: String
    }

    /// Runs the sweep; on rank 0, `onResult` gets each size as soon as every pair reported.
    public func run(onResult: (PointToPointResult) throws -> Void) throws {
        let sweep = try PairwiseSweep<PairReport>(job: job, name: "latency", pairing: options.pairing)
        try sweep.run(sizes: options.sizes, measure: measure, combine: combine, onResult: onResult)
    }

    /// Buffers for the largest size, registered once and reused by every pair and size.
    private var buffers: (send: RegisteredMemory, receive: RegisteredMemory, control: RegisteredMemory)?

    /// One pair's ping-pong at `size`; the initiator's report, nil on the responder.
    func measure(size: Int, role: RankPairs.Role) throws -> PairReport? {
        if buffers == nil {
            let largest = options.sizes.max() ?? 8
            buffers = (try RegisteredMemory(count: largest, transport: job.transport),
                       try RegisteredMemory(count: largest, transport: job.transport),
                       try RegisteredMemory(count: 8, transport: job.transport))
        }
        let (send, receive, control) = buffers!
        var pingPong: LastBytePingPong?
        if options.lastByte {
            guard let oneSided = job.transport as? OneSidedTransport else {
                throw FabricError.configuration("--last-byte writes into the peer's memory: it needs --transport verbs (this run uses \(job.transport.kind.rawValue))")
            }
            memset(receive.bytes.baseAddress!, 0, size)  // before the peer is told to write
            pingPong = LastBytePingPong(transport: oneSided, peer: role.peer, size: size, remote: try remoteReceiveBuffer(of: role.peer, oneSided, receive))
        }
        if role.initiator {
            return try initiate(size: size, peer: role.peer, send: send, receive: receive, control: control, pingPong: pingPong)
        }
        try respond(size: size, peer: role.peer, buffer: receive, control: control, pingPong: pingPong)
        return nil
    }

    /// Where the peer's receive buffer is, for one-sided writes (exchanged once per peer).
    private var remoteBuffers: [Int: RemoteRegion] = [:]
    private func remoteReceiveBuffer(of peer: Int, _ transport: OneSidedTransport, _ receive: RegisteredMemory) throws -> RemoteRegion {
        if let known = remoteBuffers[peer] { return known }
        try job.control.publish("latency/remote/\(job.rank)/\(peer)", transport.remoteHandle(for: receive.region))
        remoteBuffers[peer] = try job.control.read("latency/remote/\(peer)/\(job.rank)", from: peer, what: "receive buffer address") as RemoteRegion
        return remoteBuffers[peer]!
    }

    private func combine(size: Int, reports: [(pair: PairResult, report: PairReport)]) throws -> PointToPointResult {
        var merged = LatencyHistogram()
        var pairs: [PairResult] = []
        var iterations = 0, wrong = 0
        for (pair, r) in reports {
            let h = try HistogramEncoding.decode(r.histogram)
            merged.add(h)
            iterations = max(iterations, r.iterations)
            wrong += r.wrongBytes
            var pair = pair
            pair.oneWayUs = LatencySummary(h)
            pair.histogram = r.histogram
            pairs.append(pair)
        }
        var result = PointToPointResult(bytes: size, iterations: iterations, warmupIterations: options.warmup, pairs: pairs)
        result.oneWayUs = LatencySummary(merged)
        result.histogram = HistogramEncoding.encode(merged)
        if options.check { result.wrongBytes = wrong }
        return result
    }

    // MARK: initiator

    private func initiate(size: Int, peer: Int, send: RegisteredMemory, receive: RegisteredMemory,
                          control: RegisteredMemory, pingPong: LastBytePingPong?) throws -> PairReport {
        var pingPong = pingPong
        var histogram = LatencyHistogram()
        var completions: [Completion] = []
        completions.reserveCapacity(16)
        var wrong = 0, done = 0
        send.fill(count: size, seed: 0)

        func announce(_ count: Int) throws {
            control.word = UInt64(count)
            try job.transport.postSend(to: peer, from: control.region, offset: 0, length: 8, id: 0)
            try job.transport.waitForCompletions(1, into: &completions, doing: "the batch announcement to rank \(peer)")
            completions.removeAll(keepingCapacity: true)
        }

        func batch(_ count: Int, record: Bool) throws {
            try announce(count)
            let t = job.transport
            if var p = pingPong {
                // The responder says when its buffer is cleared for this size: a write before
                // that would be wiped, and both ranks would wait for each other's last byte.
                try t.postReceive(from: peer, into: control.region, offset: 0, length: 8, id: 0)
                try t.waitForCompletions(1, into: &completions, doing: "rank \(peer) to be ready for RDMA writes")
                completions.removeAll(keepingCapacity: true)
                let last = send.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + (size - 1)
                for _ in 0..<count {
                    let value = p.next()
                    last.pointee = value
                    let t0 = clock.now()
                    try p.write(from: send)
                    try p.awaitLastByte(of: receive, toBe: value)
                    let t1 = clock.now()
                    if record { histogram.record(nanoseconds: clock.nanoseconds(t1 &- t0) / 2) }
                    try job.noticeLostRendezvous()
                }
                try p.finish()
                pingPong = p
                return
            }
            for i in 0..<count {
                if options.check {
                    send.fill(count: size, seed: UInt64(done + i))
                    memset(receive.bytes.baseAddress!, 0, size)
                }
                let t0 = clock.now()
                try t.postReceive(from: peer, into: receive.region, offset: 0, length: size, id: 1)
                try t.postSend(to: peer, from: send.region, offset: 0, length: size, id: 2)
                try t.waitForCompletions(2, into: &completions, doing: "the echo of a \(size)-byte message")
                let t1 = clock.now()
                completions.removeAll(keepingCapacity: true)
                if record { histogram.record(nanoseconds: clock.nanoseconds(t1 &- t0) / 2) }
                if options.check { wrong += receive.mismatches(against: send, count: size) }
                try job.noticeLostRendezvous()
            }
        }

        if options.warmup > 0 { try batch(options.warmup, record: false) }
        if let duration = options.duration {
            let end = monotonicNanoseconds() + UInt64(duration * 1e9)
            var count = 64
            while monotonicNanoseconds() < end {
                let started = monotonicNanoseconds()
                try batch(count, record: true)
                done += count
                // Aim for ~50 ms batches so the stop is prompt and the handshakes rare.
                if monotonicNanoseconds() - started < 50_000_000 { count = min(count * 2, 1 << 20) }
            }
        } else {
            var remaining = options.iterations
            while remaining > 0 {
                let count = min(remaining, 100_000)
                try batch(count, record: true)
                done += count
                remaining -= count
            }
        }
        try announce(0)
        return PairReport(iterations: done, wrongBytes: wrong, histogram: HistogramEncoding.encode(histogram))
    }

    // MARK: responder

    private func respond(size: Int, peer: Int, buffer: RegisteredMemory, control: RegisteredMemory, pingPong: LastBytePingPong?) throws {
        var pingPong = pingPong
        let t = job.transport
        var completions: [Completion] = []
        completions.reserveCapacity(16)
        while true {
            try t.postReceive(from: peer, into: control.region, offset: 0, length: 8, id: 0)
            try t.waitForCompletions(1, into: &completions, doing: "the next batch from rank \(peer)")
            completions.removeAll(keepingCapacity: true)
            let count = Int(truncatingIfNeeded: control.word)
            if count == 0 { return }
            guard count > 0 && count <= 1 << 20 else {
                throw FabricError.protocolViolation(peer: t.describe(peer: peer), detail: "announced a batch of \(control.word) iterations (at most \(1 << 20))")
            }
            // The receive for the next ping is posted before the echo goes out, as perftest's
            // responders do: it is ready when the ping comes (and over RDMA write its
            // clear-to-send travels ahead of the echo). A ping may then complete before the
            // echo's send does, so arrivals are counted, not assumed.
            if var p = pingPong {
                // Its buffer was cleared before the announcement was received: the pings may come.
                try t.postSend(to: peer, from: control.region, offset: 0, length: 8, id: 0)
                try t.waitForCompletions(1, into: &completions, doing: "the ready message to rank \(peer)")
                completions.removeAll(keepingCapacity: true)
                for _ in 0..<count {
                    try p.awaitLastByte(of: buffer, toBe: p.next())
                    try p.write(from: buffer)
                    try job.noticeLostRendezvous()
                }
                try p.finish()
                pingPong = p
                continue
            }
            var arrived = 0, echoed = false
            func waitFor(_ what: @autoclosure () -> String, until done: () -> Bool) throws {
                while !done() {
                    try t.waitForCompletions(1, into: &completions, doing: what())
                    for c in completions { if c.operation == .receive { arrived += 1 } else { echoed = true } }
                    completions.removeAll(keepingCapacity: true)
                }
            }
            try t.postReceive(from: peer, into: buffer.region, offset: 0, length: size, id: 1)
            for i in 0..<count {
                try waitFor("a \(size)-byte ping", until: { arrived > 0 })
                arrived -= 1
                if i + 1 < count { try t.postReceive(from: peer, into: buffer.region, offset: 0, length: size, id: 1) }
                echoed = false
                try t.postSend(to: peer, from: buffer.region, offset: 0, length: size, id: 2)
                try waitFor("the echo of a \(size)-byte ping", until: { echoed })
                try job.noticeLostRendezvous()
            }
        }
    }
}
