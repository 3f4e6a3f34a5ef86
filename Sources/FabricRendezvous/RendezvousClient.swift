import FabricCore
import Foundation

/// One rank's connection to the job's rendezvous store (see `RendezvousServer`).
/// Requests are synchronous; each has a deadline, and errors name what was awaited.
public final class RendezvousClient: Store {
    public let rank: Int
    public let worldSize: Int
    public let token: UInt64
    public let serverAddress: String
    public let timeout: Double
    private let socket: Socket

    /// Connects (retrying while rank 0 starts up) and joins as `rank`.
    public init(host: String, port: Int, rank: Int, worldSize: Int, token: UInt64, timeout: Double) throws {
        self.rank = rank
        self.worldSize = worldSize
        self.token = token
        self.timeout = timeout
        serverAddress = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        socket = try Socket.connect(host: host, port: port, peerName: "the rendezvous at \(serverAddress) (rank 0)",
                                    localRank: rank, deadline: Deadline(seconds: timeout),
                                    what: "a connection (start rank 0 first, or check --master)")
        socket.setNoDelay()
        var w = ByteWriter()
        w.u32(UInt32(rank))
        w.u32(UInt32(worldSize))
        _ = try request(.hello, w.bytes, what: "joining the job")
    }

    public func set(_ key: String, _ value: [UInt8]) throws {
        var w = ByteWriter()
        w.string(key)
        w.blob(value)
        _ = try request(.set, w.bytes, what: "storing '\(key)'")
    }

    public func get(_ key: String, description: String, timeout: Double?) throws -> [UInt8] {
        let seconds = timeout ?? self.timeout
        var w = ByteWriter()
        w.string(key)
        w.u32(UInt32(clamping: Int(seconds * 1000)))
        return try request(.get, w.bytes, what: description, seconds: seconds)
    }

    public func add(_ key: String, _ delta: Int64) throws -> Int64 {
        var w = ByteWriter()
        w.string(key)
        w.u64(UInt64(bitPattern: delta))
        var r = ByteReader(try request(.add, w.bytes, what: "counter '\(key)'"), peer: socket.peerName, what: "counter")
        return Int64(bitPattern: try r.u64())
    }

    /// Throws `FabricError.aborted` naming the rank that left the job, if one did. One round
    /// trip to the store: data waits call it now and then, because a dead peer is not always
    /// visible on the data path (an RDMA receive from a dead process never completes).
    public func checkJobIsAlive() throws {
        do {
            _ = try get("job/liveness", description: "data from its peers", timeout: 0)
        } catch FabricError.timeout {
            return
        }
    }

    /// Throws at once if the store's end of the connection has closed: the rank that hosts
    /// it (rank 0) is gone. No round trip, so engines may call it between iterations.
    public func checkConnection() throws {
        if socket.peerHasClosed {
            throw FabricError.aborted("rank \(rank): the rendezvous at \(serverAddress) (rank 0) closed the connection mid-run: that rank exited or crashed")
        }
    }

    /// Tells the store this rank finished cleanly, so its disconnect aborts nobody.
    public func bye() {
        _ = try? request(.bye, [], what: "leaving the job", seconds: 5)
        socket.close()
    }

    /// Aborts without a goodbye: the store tells every waiting rank that this rank failed.
    public func abandon() { socket.close() }

    private func request(_ type: WireFormat.MessageType, _ payload: [UInt8], what: String, seconds: Double? = nil) throws -> [UInt8] {
        // The server answers a get at its own deadline; allow it a little longer to do so.
        let deadline = Deadline(seconds: (seconds ?? timeout) + 5)
        try socket.sendAll(WireFormat.frame(type, token: token, payload: payload), deadline: deadline, what: what)
        let headerBytes = try socket.receiveAll(count: WireFormat.headerSize, deadline: deadline, what: "the reply to \(what)")
        let header = try WireFormat.parseHeader(headerBytes, token: token, peer: socket.peerName)
        let body = try socket.receiveAll(count: header.payloadLength, deadline: deadline, what: "the reply to \(what)")
        switch header.type {
        case .reply:
            return body
        case .failure:
            var r = ByteReader(body, peer: socket.peerName, what: "failure reply")
            let code = try r.u16()
            let text = try r.string(limit: 65536)
            switch RendezvousServer.FailureCode(rawValue: code) {
            case .timeout:
                throw FabricError.timeout(rank: rank, waitingFor: what, peer: "the rendezvous at \(serverAddress)", seconds: seconds ?? timeout)
            case .aborted:
                throw FabricError.aborted("rank \(rank): job aborted while waiting for \(what): \(text)")
            default:
                throw FabricError.configuration("rank \(rank): the rendezvous at \(serverAddress) refused \(what): \(text)")
            }
        default:
            throw FabricError.protocolViolation(peer: socket.peerName, detail: "unexpected \(header.type) in reply to \(what)")
        }
    }
}
