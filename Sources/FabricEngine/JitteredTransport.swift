import CFabricSystem
import FabricCore
import FabricMeasure
import Foundation

/// `--inject-jitter`: a testing aid that sleeps a random time before each message this rank
/// sends, to check the model and the straggler analysis against known noise on a machine
/// whose kernel has no netem. The delays are drawn before the run (seeded per rank, so a run
/// can be repeated), so the timed path gains the sleep and nothing else.
public final class JitteredTransport: Transport {
    let inner: Transport
    public let distribution: JitterDistribution
    public let seed: UInt64
    private let delays: [UInt32]  // nanoseconds
    private var next = 0
    private var paused = false

    /// Pre-drawn delays; after that many messages the sequence repeats.
    public static let predrawn = 1 << 20

    public init(wrapping inner: Transport, distribution: JitterDistribution, seed: UInt64) {
        self.inner = inner
        self.distribution = distribution
        self.seed = seed
        var rng = SplitMix64(seed: seed)
        delays = (0..<Self.predrawn).map { _ in UInt32(min(distribution.draw(&rng) * 1000, Double(UInt32.max))) }
        _ = fab_set_timer_slack_ns(1)
    }

    /// Sends without the delay while `body` runs: calibrate's bandwidth run, whose β must not
    /// count again the per-message delay the model already draws from the latency histogram.
    public func withoutDelays<T>(_ body: () throws -> T) rethrows -> T {
        paused = true
        defer { paused = false }
        return try body()
    }

    private func sleepBeforeSend() {
        guard !paused else { return }
        let ns = delays[next]
        next = next + 1 == delays.count ? 0 : next + 1
        guard ns > 0 else { return }
        var request = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    public var kind: TransportKind { inner.kind }
    public var rank: Int { inner.rank }
    public var worldSize: Int { inner.worldSize }
    public var timeout: Double { inner.timeout }
    public var spinBeforeSleep: SpinBudget { inner.spinBeforeSleep }
    public var settings: [String: String] {
        var s = inner.settings
        s["inject_jitter"] = "\(distribution) us before each send, seed \(seed) (rank r draws with seed + r), \(Self.predrawn) pre-drawn"
        return s
    }
    public func connect(to peers: [Int]) throws { try inner.connect(to: peers) }
    public func register(_ buffer: UnsafeMutableRawBufferPointer) throws -> MemoryRegion { try inner.register(buffer) }
    public func deregister(_ region: MemoryRegion) { inner.deregister(region) }
    public var registrationCount: Int { inner.registrationCount }
    public func postSend(to peer: Int, from region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        sleepBeforeSend()
        try inner.postSend(to: peer, from: region, offset: offset, length: length, id: id)
    }
    public func postReceive(from peer: Int, into region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        try inner.postReceive(from: peer, into: region, offset: offset, length: length, id: id)
    }
    public func poll(_ completions: inout [Completion]) throws { try inner.poll(&completions) }
    public func waitForActivity(milliseconds: Int32) throws { try inner.waitForActivity(milliseconds: milliseconds) }
    public func checkJobIsAlive() throws { try inner.checkJobIsAlive() }
    public func pendingPeers() -> [Int] { inner.pendingPeers() }
    public func describe(peer: Int) -> String { inner.describe(peer: peer) }
    public func close() { inner.close() }
}
