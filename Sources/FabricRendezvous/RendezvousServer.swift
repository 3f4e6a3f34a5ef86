import FabricCore
import CFabricSystem
import Foundation

/// The job's rendezvous store: a key-value store that ranks use to find each other and to
/// hand results to rank 0. It runs on one thread with poll(2), so a thousand ranks cost
/// one thread, and it knows which ranks are connected: when a rank disconnects without
/// saying goodbye, every pending and later `get` fails at once with that rank's name,
/// so no rank waits out its timeout for a peer that is already dead.
///
/// Requests (all framed by `WireFormat`):
/// - hello(rank, world): join; rejected when the rank is out of range or already joined;
/// - set(key, value), get(key, timeout ms), add(key, delta): the store;
/// - bye: the rank finished cleanly.
// @unchecked: the store thread owns the connections and the key-value state; what other
// threads read (abort reason, ranks that left) is behind `lock`, and `thread` is touched only
// by the owner's start/stop.
public final class RendezvousServer: @unchecked Sendable {
    public let worldSize: Int
    public let token: UInt64
    public let port: Int
    public let address: String
    private let listener: Socket
    private var wakePipe: [Int32] = [-1, -1]
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var _abortReason: String?
    private var _leftCleanly = Set<Int>()

    /// Why the job was aborted (a rank vanished), if it was.
    public var abortReason: String? { lock.withLock { _abortReason } }

    public let limits: Limits

    public init(host: String, port: Int, worldSize: Int, token: UInt64, limits: Limits? = nil) throws {
        self.worldSize = worldSize
        self.token = token
        self.limits = limits ?? Limits(worldSize: worldSize)
        // Every rank holds a connection; a job of thousands needs the hard limit, not 1,024.
        let needed = worldSize + 64
        if Socket.raiseDescriptorLimit() < needed {
            throw FabricError.configuration("the rendezvous store for \(worldSize) ranks needs about \(needed) file descriptors, but this process may open \(Socket.descriptorLimit) (hard limit): raise it with 'ulimit -n' or in limits.conf")
        }
        listener = try Socket.listen(host: host, port: port, localRank: 0)
        try listener.setNonBlocking()
        self.port = listener.localPort
        address = listener.localAddress
        guard pipe(&wakePipe) == 0 else { throw SystemCallError("pipe", "starting the rendezvous server") }
        _ = fab_set_nonblocking(wakePipe[0])
    }

    deinit {
        stop()
        Glibc.close(wakePipe[0])
        Glibc.close(wakePipe[1])
    }

    public func start() {
        let t = Thread { [unowned self] in
            self.run()
            self.finished.signal()
        }
        t.name = "fabricbench-rendezvous"
        thread = t
        t.start()
    }

    public func stop() {
        guard let _ = thread else { return }
        var b: UInt8 = 1
        _ = write(wakePipe[1], &b, 1)
        finished.wait()
        thread = nil
    }

    /// Waits until every rank said goodbye or disconnected, or the deadline passes.
    /// Returns the ranks that never finished cleanly.
    public func waitForRanksToLeave(deadline: Deadline) -> [Int] {
        while !deadline.expired {
            let done = lock.withLock { _leftCleanly.count == worldSize || _abortReason != nil }
            if done { break }
            usleep(2_000)
        }
        return lock.withLock { (0..<worldSize).filter { !_leftCleanly.contains($0) } }
    }

    // MARK: event loop

    /// Limits that keep a stray or hostile client from stalling the store: a connection must
    /// say hello within `helloSeconds`; at most `maxUnjoined` connections may be waiting to
    /// (the oldest goes first); a client whose unread replies pass `maxOutbox` is dropped.
    public struct Limits: Sendable {
        public var helloSeconds: Double = 10
        public var maxUnjoined: Int
        public var maxOutbox = WireFormat.maxPayload + 4 * WireFormat.headerSize
        public init(worldSize: Int) { maxUnjoined = 64 + worldSize }
    }

    private final class Connection {
        let socket: Socket
        var buffer: [UInt8] = []
        var outbox: [UInt8] = []
        var rank: Int?
        let helloDeadline: Deadline
        init(_ socket: Socket, helloSeconds: Double) {
            self.socket = socket
            helloDeadline = Deadline(seconds: helloSeconds)
        }
    }

    private struct Waiter {
        let connection: Connection
        let key: String
        let deadline: Deadline
    }

    private var connections: [Connection] = []
    private var store: [String: [UInt8]] = [:]
    private var waiters: [Waiter] = []
    private var joined: [Int: Connection] = [:]
    /// Out of descriptors: the listener rests until then instead of waking poll at once.
    private var listenerRestsUntil: Deadline?
    private var lastWarning: Deadline?

    private func run() {
        while true {
            var fds = [pollfd(fd: wakePipe[0], events: Int16(POLLIN), revents: 0),
                       pollfd(fd: listener.fd, events: listenerRestsUntil.map { $0.expired } ?? true ? Int16(POLLIN) : 0, revents: 0)]
            let polled = connections
            fds += polled.map { pollfd(fd: $0.socket.fd, events: Int16(POLLIN) | ($0.outbox.isEmpty ? 0 : Int16(POLLOUT)), revents: 0) }
            let next = waiters.map(\.deadline.remainingMilliseconds).min() ?? 1000
            let ready = poll(&fds, nfds_t(fds.count), min(next, listenerRestsUntil == nil ? 1000 : 100, hasUnjoined ? 250 : 1000))
            if ready < 0 && errno != EINTR {
                let reason = "the rendezvous store stopped: poll failed: \(String(cString: strerror(errno)))"
                warn(reason, always: true)
                lock.withLock { if _abortReason == nil { _abortReason = reason } }
                return
            }
            if fds[0].revents != 0 { return }
            if fds[1].revents != 0 { acceptAll() }
            var dropped: [Connection] = []
            for (i, pfd) in fds.enumerated().dropFirst(2) where pfd.revents != 0 {
                // acceptAll may have closed a stranger: serve only connections still open.
                let c = polled[i - 2]
                guard connections.contains(where: { $0 === c }) else { continue }
                if pfd.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0, !readAndServe(c) { dropped.append(c); continue }
                if !flush(c) { dropped.append(c) }
            }
            for c in connections where c.rank == nil && c.helloDeadline.expired && !dropped.contains(where: { $0 === c }) {
                warn("closed \(c.socket.peerName): no hello within \(formatSeconds(limits.helloSeconds))")
                dropped.append(c)
            }
            for c in dropped { drop(c) }
            expireWaiters()
        }
    }

    private var hasUnjoined: Bool { connections.contains { $0.rank == nil } }

    private func acceptAll() {
        while true {
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    fab_accept(listener.fd, $0, &length, 1)
                }
            }
            guard fd >= 0 else {
                if errno == EMFILE || errno == ENFILE {
                    // Out of descriptors: make room by closing the oldest stranger, else rest
                    // the listener a moment (poll would report it ready again at once).
                    if let stranger = connections.first(where: { $0.rank == nil }) {
                        warn("out of file descriptors: closed \(stranger.socket.peerName), which had not said hello")
                        drop(stranger)
                        continue
                    }
                    warn("out of file descriptors (\(Socket.descriptorLimit) allowed): raise 'ulimit -n'")
                    listenerRestsUntil = Deadline(seconds: 0.1)
                }
                return
            }
            listenerRestsUntil = nil
            let name = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Socket.format($0) } }
            let s = Socket(fd: fd, peerName: name, localRank: 0)
            s.setNoDelay()
            connections.append(Connection(s, helloSeconds: limits.helloSeconds))
            let unjoined = connections.filter { $0.rank == nil }
            if unjoined.count > limits.maxUnjoined, let oldest = unjoined.first {
                warn("more than \(limits.maxUnjoined) connections without a hello: closed the oldest, \(oldest.socket.peerName)")
                drop(oldest)
            }
        }
    }

    /// One line on stderr, at most every 10 s unless `always`: a port scan must not flood it.
    private func warn(_ text: String, always: Bool = false) {
        if !always, let last = lastWarning, !last.expired { return }
        lastWarning = Deadline(seconds: 10)
        FileHandle.standardError.write(Data("fabricbench: rendezvous: \(text)\n".utf8))
    }

    /// Reads what is available and serves every complete request. False: drop the connection.
    private func readAndServe(_ c: Connection) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(c.socket.fd, &chunk, chunk.count, 0)
            if n > 0 { c.buffer += chunk[0..<n]; continue }
            if n == 0 { return false }
            if errno == EAGAIN || errno == EINTR { break }
            return false
        }
        while c.buffer.count >= WireFormat.headerSize {
            let header: WireFormat.Header
            do {
                header = try WireFormat.parseHeader(Array(c.buffer[0..<WireFormat.headerSize]), token: token, peer: c.socket.peerName)
            } catch {
                reply(c, .failure, failure(.rejected, "\(error)"))
                _ = flush(c)
                warn("rejected a connection: \(error)")
                return false
            }
            guard c.buffer.count >= WireFormat.headerSize + header.payloadLength else { break }
            let payload = Array(c.buffer[WireFormat.headerSize..<WireFormat.headerSize + header.payloadLength])
            c.buffer.removeFirst(WireFormat.headerSize + header.payloadLength)
            do {
                if try !serve(c, header.type, payload) { _ = flush(c); return false }
            } catch {
                reply(c, .failure, failure(.rejected, "\(error)"))
                _ = flush(c)
                warn("\(error)")
                return false
            }
        }
        return true
    }

    enum FailureCode: UInt16 { case timeout = 1, aborted, rejected }

    private func failure(_ code: FailureCode, _ text: String) -> [UInt8] {
        var w = ByteWriter()
        w.u16(code.rawValue)
        w.string(text)
        return w.bytes
    }

    private func serve(_ c: Connection, _ type: WireFormat.MessageType, _ payload: [UInt8]) throws -> Bool {
        var r = ByteReader(payload, peer: c.socket.peerName, what: "rendezvous \(type)")
        if c.rank == nil && type != .hello {
            throw FabricError.protocolViolation(peer: c.socket.peerName, detail: "sent \(type) before hello")
        }
        switch type {
        case .hello:
            let rank = Int(try r.u32()), world = Int(try r.u32())
            try r.expectEnd()
            guard world == worldSize else {
                reply(c, .failure, failure(.rejected, "world size mismatch: rank \(rank) says \(world) ranks, the rendezvous was started for \(worldSize); every rank must be given the same world size"))
                return false
            }
            guard rank >= 0 && rank < worldSize else {
                reply(c, .failure, failure(.rejected, "rank \(rank) is out of range for world size \(worldSize)"))
                return false
            }
            if let other = joined[rank] {
                reply(c, .failure, failure(.rejected, "rank \(rank) already joined from \(other.socket.peerName): two processes claim the same rank"))
                return false
            }
            c.rank = rank
            c.socket.peerName = "rank \(rank) (\(c.socket.peerName))"
            joined[rank] = c
            reply(c, .reply, [])
        case .set:
            let key = try r.string(), value = try r.blob()
            try r.expectEnd()
            store[key] = value
            reply(c, .reply, [])
            wake(key)
        case .get:
            let key = try r.string(), timeoutMs = try r.u32()
            try r.expectEnd()
            if let value = store[key] {
                reply(c, .reply, value)
            } else if let reason = abortReason {
                reply(c, .failure, failure(.aborted, reason))
            } else if timeoutMs == 0 {
                reply(c, .failure, failure(.timeout, "'\(key)' is not set"))
            } else {
                waiters.append(Waiter(connection: c, key: key, deadline: Deadline(seconds: Double(timeoutMs) / 1000)))
            }
        case .add:
            let key = try r.string(), delta = Int64(bitPattern: try r.u64())
            try r.expectEnd()
            let old = store[key].map { value -> Int64 in
                var rr = ByteReader(value, peer: "store", what: "counter")
                return Int64(bitPattern: (try? rr.u64()) ?? 0)
            } ?? 0
            let (sum, overflow) = old.addingReportingOverflow(delta)
            guard !overflow else {
                reply(c, .failure, failure(.rejected, "adding \(delta) to counter '\(key)' (\(old)) overflows"))
                return true
            }
            var w = ByteWriter()
            w.u64(UInt64(bitPattern: sum))
            store[key] = w.bytes
            reply(c, .reply, w.bytes)
            wake(key)
        case .bye:
            if let rank = c.rank { _ = lock.withLock { _leftCleanly.insert(rank) } }
            reply(c, .reply, [])
        default:
            throw FabricError.protocolViolation(peer: c.socket.peerName, detail: "unexpected \(type) request")
        }
        return true
    }

    private func wake(_ key: String) {
        guard let value = store[key] else { return }
        waiters.removeAll { w in
            guard w.key == key else { return false }
            reply(w.connection, .reply, value)
            return true
        }
    }

    private func expireWaiters() {
        waiters.removeAll { w in
            guard w.deadline.expired else { return false }
            reply(w.connection, .failure, failure(.timeout, "nobody set '\(w.key)' within \(formatSeconds(w.deadline.seconds))"))
            return true
        }
    }

    private func drop(_ c: Connection) {
        connections.removeAll { $0 === c }
        waiters.removeAll { $0.connection === c }
        guard let rank = c.rank else { return }
        joined[rank] = nil
        let clean = lock.withLock { _leftCleanly.contains(rank) }
        if !clean {
            let reason = "\(c.socket.peerName) left the job without finishing (it exited, crashed or lost its connection)"
            lock.withLock { if _abortReason == nil { _abortReason = reason } }
            for w in waiters { reply(w.connection, .failure, failure(.aborted, abortReason ?? reason)) }
            waiters.removeAll()
        }
        c.socket.close()
    }

    /// Queues a reply; the event loop sends it as the client reads. Never blocks the store.
    private func reply(_ c: Connection, _ type: WireFormat.MessageType, _ payload: [UInt8]) {
        c.outbox += WireFormat.frame(type, token: token, payload: payload)
        _ = flush(c)
    }

    /// Sends what the socket takes now. False: the client is gone, or does not read its replies.
    private func flush(_ c: Connection) -> Bool {
        var sent = 0
        while sent < c.outbox.count {
            let n = c.outbox.withUnsafeBytes { Glibc.send(c.socket.fd, $0.baseAddress! + sent, $0.count - sent, fab_send_flags(1)) }
            if n > 0 { sent += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { break }
            c.outbox.removeAll()
            return false
        }
        c.outbox.removeFirst(sent)
        if c.outbox.count > limits.maxOutbox {
            warn("dropped \(c.socket.peerName): \(c.outbox.count) bytes of replies it does not read")
            return false
        }
        return true
    }
}
