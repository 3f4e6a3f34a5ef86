import FabricMeasure
import FabricResults
import FabricCore
import Foundation

public struct BandwidthOptions: Sendable {
    public var sizes: [Int] = [1 << 20]
    /// Messages per size; reduced for large sizes so one size moves at most `maxBytesPerSize`.
    public var iterations = 1000
    public var warmup = 16
    public var window = 64
    public var bidirectional = false
    public var maxBytesPerSize = 4 << 30
    /// Which ranks pair up; nil: rank i with rank i + N/2.
    public var pairing: Pairing?
    public init() {}

    public func iterations(for size: Int) -> Int {
        max(4, min(iterations, maxBytesPerSize / max(size, 1)))
    }
}

/// Streaming bandwidth (perftest's *_bw): the sender keeps `window` messages in flight;
/// the receiver acknowledges once everything arrived, so the time covers delivery, not
/// only hand-off to the transport. Bidirectional mode streams both ways at once and counts
/// both directions.
public final class BandwidthBenchmark {
    let job: Job
    let options: BandwidthOptions
    let clock: Clock

    public init(job: Job, options: BandwidthOptions, clock: Clock) {
        self.job = job
        self.options = options
        self.clock = clock
    }

    struct PairReport: Codable {
        var iterations: Int
        var nanoseconds: UInt64
        var windowHistogram: String
    }

    public func run(onResult: (PointToPointResult) throws -> Void) throws {
        let sweep = try PairwiseSweep<PairReport>(job: job, name: "bandwidth", pairing: options.pairing)
        try sweep.run(sizes: options.sizes, measure: measure, combine: combine, onResult: onResult)
    }

    /// Buffers for the largest size, registered once and reused by every pair and size.
    private var buffers: (send: RegisteredMemory, receive: RegisteredMemory, ack: RegisteredMemory)?

    /// One pair's stream at `size`; the initiator's report, nil on the responder.
    func measure(size: Int, role: RankPairs.Role) throws -> PairReport? {
        if buffers == nil {
            let largest = options.sizes.max() ?? 8
            let send = try RegisteredMemory(count: largest, transport: job.transport)
            send.fill(count: largest, seed: 1)
            // ack: [0,8) outgoing, [8,16) incoming
            buffers = (send, try RegisteredMemory(count: largest, transport: job.transport), try RegisteredMemory(count: 16, transport: job.transport))
        }
        let count = options.iterations(for: size)
        let sends = role.initiator || options.bidirectional
        let receives = !role.initiator || options.bidirectional
        var windows = LatencyHistogram()
        _ = try stream(size: size, count: options.warmup, peer: role.peer, sends: sends, receives: receives, buffers: buffers!, windows: &windows)
        windows.reset()
        let ns = try stream(size: size, count: count, peer: role.peer, sends: sends, receives: receives, buffers: buffers!, windows: &windows)
        return role.initiator ? PairReport(iterations: count, nanoseconds: ns, windowHistogram: HistogramEncoding.encode(windows)) : nil
    }

    func figures(size: Int, iterations: Int, nanoseconds: UInt64, windows: LatencyHistogram) -> BandwidthFigures {
        let directions = options.bidirectional ? 2.0 : 1.0
        let seconds = Double(max(nanoseconds, 1)) / 1e9
        let bytes = Double(size) * Double(iterations) * directions
        let window = min(options.window, iterations)
        let perWindow = { (ns: UInt64) in Double(window * size) * directions / Double(max(ns, 1)) }
        let spread = windows.isEmpty ? nil : WindowSpread(min: perWindow(windows.value(atPercentile: 100)),
                                                          p50: perWindow(windows.value(atPercentile: 50)),
                                                          max: perWindow(windows.value(atPercentile: 0)))
        var f = BandwidthFigures(gbps: bytes / seconds / 1e9, messageRateMpps: Double(iterations) * directions / seconds / 1e6,
                                 bidirectional: options.bidirectional, window: window, seconds: seconds, windowGbps: spread)
        if !windows.isEmpty { f.windowHistogram = HistogramEncoding.encode(windows) }
        return f
    }

    private func combine(size: Int, reports: [(pair: PairResult, report: PairReport)]) throws -> PointToPointResult {
        var pairs: [PairResult] = []
        var total = 0.0, rate = 0.0, slowest = 0.0
        var iterations = 0
        var allWindows = LatencyHistogram()
        for (pair, r) in reports {
            let windows = try HistogramEncoding.decode(r.windowHistogram)
            allWindows.add(windows)
            let f = figures(size: size, iterations: r.iterations, nanoseconds: r.nanoseconds, windows: windows)
            total += f.gbps
            rate += f.messageRateMpps
            slowest = max(slowest, f.seconds)
            iterations = r.iterations
            var pair = pair
            pair.bandwidth = f
            pairs.append(pair)
        }
        var result = PointToPointResult(bytes: size, iterations: iterations, warmupIterations: options.warmup, pairs: pairs)
        // Aggregate over concurrent pairs: bandwidths add up.
        var aggregate = figures(size: size, iterations: iterations, nanoseconds: UInt64(slowest * 1e9), windows: allWindows)
        aggregate.gbps = total
        aggregate.messageRateMpps = rate
        result.bandwidth = aggregate
        return result
    }

    /// Moves `count` messages each way this side takes part in; returns the nanoseconds
    /// from the first post until everything this side sent was acknowledged and everything
    /// it expects arrived.
    private func stream(size: Int, count: Int, peer: Int, sends: Bool, receives: Bool,
                        buffers: (send: RegisteredMemory, receive: RegisteredMemory, ack: RegisteredMemory),
                        windows: inout LatencyHistogram) throws -> UInt64 {
        guard count > 0 else { return 0 }
        let t = job.transport
        let sendTarget = sends ? count : 0, receiveTarget = receives ? count : 0
        let window = min(options.window, count)
        var completions: [Completion] = []
        completions.reserveCapacity(2 * window + 4)
        var posted = (send: 0, receive: 0), done = (send: 0, receive: 0)
        let sendID: UInt64 = 1, receiveID: UInt64 = 2, ackID: UInt64 = 3
        var sinceLook = 0

        let t0 = clock.now()
        var windowStart = t0
        while posted.receive < min(window, receiveTarget) {
            try t.postReceive(from: peer, into: buffers.receive.region, offset: 0, length: size, id: receiveID)
            posted.receive += 1
        }
        while posted.send < min(window, sendTarget) {
            try t.postSend(to: peer, from: buffers.send.region, offset: 0, length: size, id: sendID)
            posted.send += 1
        }
        while done.send < sendTarget || done.receive < receiveTarget {
            completions.removeAll(keepingCapacity: true)
            try t.waitForCompletions(1, into: &completions, doing: "\(size)-byte messages (\(done.send)/\(sendTarget) sent, \(done.receive)/\(receiveTarget) received)")
            sinceLook += completions.count
            if sinceLook >= window { sinceLook = 0; try job.noticeLostRendezvous() }
            for c in completions {
                if c.id == sendID {
                    done.send += 1
                    if done.send % window == 0 {
                        let now = clock.now()
                        windows.record(nanoseconds: clock.nanoseconds(now &- windowStart))
                        windowStart = now
                    }
                    if posted.send < sendTarget {
                        try t.postSend(to: peer, from: buffers.send.region, offset: 0, length: size, id: sendID)
                        posted.send += 1
                    }
                } else if c.id == receiveID {
                    done.receive += 1
                    if posted.receive < receiveTarget {
                        try t.postReceive(from: peer, into: buffers.receive.region, offset: 0, length: size, id: receiveID)
                        posted.receive += 1
                    }
                }
            }
        }
        completions.removeAll(keepingCapacity: true)
        // Everything expected arrived: acknowledge. Everything sent: wait for the peer's word.
        if receives {
            buffers.ack.word = UInt64(done.receive)
            try t.postSend(to: peer, from: buffers.ack.region, offset: 0, length: 8, id: ackID)
        }
        if sends { try t.postReceive(from: peer, into: buffers.ack.region, offset: 8, length: 8, id: ackID) }
        try t.waitForCompletions((receives ? 1 : 0) + (sends ? 1 : 0), into: &completions, doing: "the acknowledgement from rank \(peer)")
        let t1 = clock.now()
        let acknowledged = buffers.ack.bytes.load(fromByteOffset: 8, as: UInt64.self)
        if sends && acknowledged != UInt64(count) {
            throw FabricError.protocolViolation(peer: t.describe(peer: peer), detail: "acknowledged \(acknowledged) messages, \(count) were sent")
        }
        return clock.nanoseconds(t1 &- t0)
    }
}
