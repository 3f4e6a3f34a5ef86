import CFabricSystem
import FabricMeasure
import FabricCore
import Foundation

/// ib_write_lat's method: the initiator RDMA-writes the message into the responder's
/// buffer, the responder spins on the last byte until it changes and writes the buffer
/// back, and the initiator spins on its own last byte. No completion is on the critical
/// path, so this is the lowest latency the fabric offers. Both sides step the same
/// sequence (1...255, then 1 again) once per iteration; the last byte carries it.
struct LastBytePingPong {
    let transport: OneSidedTransport
    let peer: Int
    let size: Int
    /// The peer's receive buffer.
    let remote: RemoteRegion
    private var sequence: UInt8 = 0
    private var outstanding = 0
    private var completions: [Completion] = []

    init(transport: OneSidedTransport, peer: Int, size: Int, remote: RemoteRegion) {
        self.transport = transport
        self.peer = peer
        self.size = size
        self.remote = remote
        completions.reserveCapacity(32)
    }

    /// The next iteration's value of the last byte.
    mutating func next() -> UInt8 {
        sequence = sequence == 255 ? 1 : sequence + 1
        return sequence
    }

    /// Writes `size` bytes of `buffer` into the peer's receive buffer. Write completions are
    /// collected while spinning; only a long backlog waits for them here.
    mutating func write(from buffer: RegisteredMemory) throws {
        if outstanding >= 256 { try drain(below: 64) }
        try transport.postWrite(to: peer, from: buffer.region, offset: 0, length: size, remote: remote, remoteOffset: 0, id: 3)
        outstanding += 1
    }

    /// Spins until the last byte of `buffer` is `value`, failing after the transport's
    /// timeout (naming the peer) or when the job dies.
    mutating func awaitLastByte(of buffer: RegisteredMemory, toBe value: UInt8) throws {
        let last = buffer.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + (size - 1)
        var spins = 0
        var started: UInt64 = 0
        var nextHealthCheck: UInt64 = 0
        while fab_load_volatile_u8(last) != value {
            spins += 1
            if spins & 0x3FF == 0 { try collect() }
            if spins & 0xFFFF == 0 {
                let now = monotonicNanoseconds()
                if started == 0 { started = now; nextHealthCheck = now + 250_000_000 }
                if now >= nextHealthCheck {
                    try transport.checkJobIsAlive()
                    nextHealthCheck = now + 250_000_000
                }
                if Double(now - started) / 1e9 > transport.timeout {
                    throw FabricError.timeout(rank: transport.rank, waitingFor: "the last byte of a \(size)-byte RDMA write",
                                              peer: transport.describe(peer: peer), seconds: transport.timeout)
                }
            }
        }
    }

    /// Waits for every write's local completion (the end of a batch).
    mutating func finish() throws { try drain(below: 1) }

    private mutating func drain(below limit: Int) throws {
        while outstanding >= limit {
            try transport.waitForCompletions(1, into: &completions, doing: "RDMA writes to rank \(peer) to complete")
            count()
        }
    }

    private mutating func collect() throws {
        try transport.poll(&completions)
        count()
    }

    private mutating func count() {
        outstanding -= completions.count
        completions.removeAll(keepingCapacity: true)
    }
}
