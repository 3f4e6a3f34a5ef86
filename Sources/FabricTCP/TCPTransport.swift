import FabricCore
import FabricPlacement
import CFabricSystem
import Foundation

/// Settings of the TCP transport.
public struct TCPOptions: TransportOptions {
    /// Address to listen on and advertise; nil picks one (see `TCPTransport.advertisedHost`).
    public var bindAddress: String?
    /// `--iface` as given: an interface whose address to use (e.g. "ib0", "eth1"), or a list
    /// local ranks take entry i mod count from (eth0,eth1: one rail each). bindAddress wins.
    public var interface: String?
    /// This rank's index among its host's ranks, which picks its entry of an `interface` list.
    public var localRank = 0
    /// Why `interface` (a striped part's NIC, chosen by its entry): replaces the list's reason.
    public var interfaceReason: String?
    /// Spin on non-blocking sockets instead of sleeping in poll(2): lowest latency, one full
    /// core per rank. Leave off when ranks outnumber cores.
    public var busyPoll: Bool = false
    /// Without busy polling: how long a wait polls before it sleeps in poll(2). Spinning
    /// saves the wake-up on a peer that is only late; with more ranks than cores it only
    /// steals their CPU, so the job setup sleeps at once then.
    public var spinBeforeSleep = SpinBudget.default
    /// SO_SNDBUF/SO_RCVBUF request; 0 leaves the kernel's autotuning alone (faster on the
    /// loopback measurements in docs/PERFORMANCE.md).
    public var socketBufferBytes: Int = 0
    public var timeout: Double = 30

    public init() {}
}

/// TCP implementation of `Transport`: one connection per peer, TCP_NODELAY, non-blocking
/// sockets, large buffers, optional busy polling. Peers find each other through the
/// rendezvous store (key "tcp/address/<rank>"); each connection opens with a validated
/// handshake (magic, version, job token, both ranks).
public final class TCPTransport: Transport {
    public let kind = TransportKind.tcp
    public let rank: Int
    public let worldSize: Int
    public let options: TCPOptions
    public var timeout: Double { options.timeout }
    public var spinBeforeSleep: SpinBudget { options.busyPoll ? .neverSleep : options.spinBeforeSleep }
    public let advertisedAddress: String
    /// The interface that owns the advertised address, and why this one (for the report).
    public let interface: String
    public let interfaceChoice: String
    private let store: any Store
    private let listener: Socket
    // One thread drives a rank's transport: no dynamic exclusivity checks on the hot path
    // (they were 4 % of an 8-byte all-reduce's samples).
    @exclusivity(unchecked) private var channels: [TCPChannel?]
    /// Ranks with a channel, in connection order: the hot path walks only these.
    @exclusivity(unchecked) private var connected: [Int] = []
    @exclusivity(unchecked) private var pollSet: [pollfd] = []
    private var grantedBuffers: (send: Int, receive: Int) = (0, 0)
    @exclusivity(unchecked) private var closed = false
    /// Sends that finished inside `postSend`, for the next poll to report.
    @exclusivity(unchecked) private var started = EarlyCompletions()
    /// TCP needs no registration; the ledger keeps the contract countable (`registrationCount`).
    private var registrations = RegistrationLedger()

    public init(store: any Store, options: TCPOptions, masterHost: String) throws {
        rank = store.rank
        worldSize = store.worldSize
        self.store = store
        self.options = options
        channels = Array(repeating: nil, count: store.worldSize)
        let nic = try NICAssignment(parsing: options.interface, flag: "--iface", allowsAuto: false)
            .choose(localRank: options.localRank, candidates: [], cpuNodes: [])
        var chosen = options
        chosen.interface = nic.name
        let host = try Self.advertisedHost(options: chosen, masterHost: masterHost)
        interface = nic.name ?? Socket.interface(ofAddress: host) ?? "unknown"
        interfaceChoice = options.bindAddress != nil ? "--bind" : nic.name == nil ? "the address routed to the master" : options.interfaceReason ?? nic.reason
        listener = try Socket.listen(host: host, port: 0, localRank: rank)
        advertisedAddress = host.contains(":") ? "[\(host)]:\(listener.localPort)" : "\(host):\(listener.localPort)"
        try store.set("tcp/address/\(rank)", Array(advertisedAddress.utf8))
    }

    public var settings: [String: String] {
        [
            "address": advertisedAddress,
            "interface": interface, "interface_choice": interfaceChoice,
            "busy_poll": options.busyPoll ? "on" : "off",
            "spin_before_sleep": "\(spinBeforeSleep)",
            "tcp_nodelay": "on",
            "socket_buffer_requested_bytes": options.socketBufferBytes == 0 ? "autotune" : "\(options.socketBufferBytes)",
            "socket_buffer_granted_bytes": connected.isEmpty ? "not connected yet" : "send \(grantedBuffers.send), receive \(grantedBuffers.receive)",
        ]
    }

    /// The address to listen on: --bind, else the --iface address, else loopback when the
    /// master is local, else the local address the kernel routes to the master from.
    public static func advertisedHost(options: TCPOptions, masterHost: String) throws -> String {
        if let bind = options.bindAddress { return bind }
        if let iface = options.interface { return try Socket.address(ofInterface: iface) }
        if ["127.0.0.1", "localhost", "::1"].contains(masterHost) || masterHost.hasPrefix("127.") { return "127.0.0.1" }
        // A UDP connect sends nothing; it only asks the kernel which source address it would use.
        var (address, length) = try Socket.resolve(host: masterHost, port: 9)
        let fd = socket(Int32(address.ss_family), Int32(SOCK_DGRAM.rawValue), 0)
        defer { Glibc.close(fd) }
        let rc = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) } }
        guard fd >= 0, rc == 0 else {
            throw FabricError.configuration("no route to the master \(masterHost): pass --bind ADDRESS or --iface NAME")
        }
        let probe = Socket(fd: dup(fd), peerName: masterHost, localRank: 0)
        let local = probe.localAddress
        let host = String(local[..<local.lastIndex(of: ":")!]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return host
    }

    // MARK: connection setup

    public func connect(to peers: [Int]) throws {
        if closed { throw closedError() }
        let wanted = Set(peers).subtracting([rank]).filter { channels[$0] == nil }
        for p in wanted { guard p >= 0 && p < worldSize else { throw FabricError.configuration("rank \(rank): peer rank \(p) is out of range 0..<\(worldSize)") } }
        // Connect down, accept up: rank r's connect to l < r is answered once l has finished
        // its own connects, which depend only on ranks below l, so setup cannot deadlock.
        for p in wanted.filter({ $0 < rank }).sorted() { try connectOut(to: p) }
        var awaited = Set(wanted.filter { $0 > rank })
        let deadline = Deadline(seconds: timeout)
        // Accepted sockets that have not yet said who they are, served side by side: a
        // stranger that connects and sends nothing (a port scan, a stopped process) holds
        // nothing up, and is closed after `handshakeSeconds`.
        var pending: [PendingHandshake] = []
        var strangers = StrangerLog(rank: rank)
        func ignore(_ p: PendingHandshake, _ why: String) {
            strangers.ignored("a connection from \(p.socket.peerName)", because: why)
            p.socket.close()
        }
        while !awaited.isEmpty {
            if deadline.expired {
                let expected = awaited.sorted().map { "rank \($0)" }.joined(separator: ", ")
                throw FabricError.timeout(rank: rank, waitingFor: "a data connection", peer: expected, seconds: timeout)
            }
            var fds = [pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)]
            fds += pending.map { pollfd(fd: $0.socket.fd, events: Int16(POLLIN), revents: 0) }
            let wait = min(deadline.remainingMilliseconds, pending.map(\.deadline.remainingMilliseconds).min() ?? 250, 250)
            if Glibc.poll(&fds, nfds_t(fds.count), wait) < 0 && errno != EINTR {
                throw SystemCallError("poll", "rank \(rank): waiting for data connections")
            }
            if fds[0].revents != 0 {
                while let s = try listener.acceptNow() {
                    pending.append(PendingHandshake(socket: s, deadline: Deadline(seconds: min(Self.handshakeSeconds, deadline.remainingSeconds))))
                }
            }
            var still: [PendingHandshake] = []
            for p in pending {
                do {
                    guard let from = try p.advance(token: store.token, rank: rank, worldSize: worldSize) else {
                        if p.deadline.expired { ignore(p, "it sent no valid handshake within \(formatSeconds(Self.handshakeSeconds))") } else { still.append(p) }
                        continue
                    }
                    guard awaited.remove(from) != nil else {
                        ignore(p, "it says it is rank \(from), but rank \(rank) expects only \(awaited.sorted().map { "rank \($0)" }.joined(separator: ", "))")
                        continue
                    }
                    p.socket.peerName = "rank \(from) (\(p.socket.peerName))"
                    try p.socket.sendAll(WireFormat.frame(.channelAccept, token: store.token, payload: []), deadline: p.deadline, what: "the handshake reply")
                    try adopt(p.socket, peer: from)
                } catch {
                    ignore(p, "\(error)")
                }
            }
            pending = still
        }
    }

    /// Seconds an accepted connection has to identify itself.
    static let handshakeSeconds = 5.0

    private func connectOut(to peer: Int) throws {
        let raw = try store.get("tcp/address/\(peer)", description: "the data address of rank \(peer)")
        guard let text = String(validating: raw, as: UTF8.self), let colon = text.lastIndex(of: ":"),
              let port = Int(text[text.index(after: colon)...]) else {
            throw FabricError.protocolViolation(peer: "the rendezvous", detail: "rank \(peer)'s address is not HOST:PORT")
        }
        let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let deadline = Deadline(seconds: timeout)
        let name = "rank \(peer) (\(text))"
        let s = try Socket.connect(host: host, port: port, peerName: name, localRank: rank, deadline: deadline,
                                   what: "a data connection", retryRefused: false)
        var w = ByteWriter()
        w.u32(UInt32(rank))
        w.u32(UInt32(peer))
        try s.sendAll(WireFormat.frame(.channelHello, token: store.token, payload: w.bytes), deadline: deadline, what: "the connection handshake")
        let header = try WireFormat.parseHeader(try s.receiveAll(count: WireFormat.headerSize, deadline: deadline, what: "the handshake reply"),
                                                token: store.token, peer: name)
        _ = try s.receiveAll(count: header.payloadLength, deadline: deadline, what: "the handshake reply")
        guard header.type == .channelAccept else {
            throw FabricError.protocolViolation(peer: name, detail: "answered the handshake with \(header.type)")
        }
        try adopt(s, peer: peer)
    }

    private func adopt(_ s: Socket, peer: Int) throws {
        s.setNoDelay()
        grantedBuffers = options.socketBufferBytes > 0 ? s.setBufferSizes(options.socketBufferBytes)
            : (s.option(SO_SNDBUF), s.option(SO_RCVBUF))  // autotuning's starting sizes
        try s.setNonBlocking()
        channels[peer] = TCPChannel(peer: peer, socket: s)
        connected.append(peer)
        pollSet.append(pollfd(fd: s.fd, events: 0, revents: 0))
    }

    // MARK: data path

    public func register(_ buffer: UnsafeMutableRawBufferPointer) throws -> MemoryRegion {
        if closed { throw closedError() }
        return registrations.register(buffer)
    }

    public func deregister(_ region: MemoryRegion) { registrations.deregister(region) }

    public var registrationCount: Int { registrations.count }

    @inline(__always)
    private func channel(_ peer: Int) throws -> TCPChannel {
        guard peer >= 0 && peer < worldSize, let c = channels[peer] else {
            if closed { throw closedError() }
            throw FabricError.configuration("rank \(rank): no connection to rank \(peer) (connect(to:) was not called for it)")
        }
        return c
    }

    @inline(__always)
    private func operation(_ region: MemoryRegion, _ offset: Int, _ length: Int, _ id: UInt64) throws -> TCPChannel.Operation {
        guard offset >= 0, length >= 0, offset + length <= region.length else {
            throw FabricError.configuration("rank \(rank): \(length) bytes at offset \(offset) overrun a \(region.length)-byte region")
        }
        return TCPChannel.Operation(base: region.base + offset, length: length, done: 0, id: id)
    }

    /// A send starts at once, as a NIC's does: what the socket takes goes before this returns.
    /// Left for the next poll, it would wait behind whatever the caller does first, such as
    /// the reduction of the next piece a ring received while it was away.
    public func postSend(to peer: Int, from region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        let c = try channel(peer)
        let first = c.sends.isEmpty
        c.postSend(try operation(region, offset, length, id))
        if first { try c.progressSends(&started.list) }
    }

    public func postReceive(from peer: Int, into region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {
        try channel(peer).postReceive(operation(region, offset, length, id))
    }

    @inline(__always)
    public func poll(_ completions: inout [Completion]) throws {
        if closed { throw closedError() }
        started.report(into: &completions)
        for peer in connected {
            let c = channels[peer].unsafelyUnwrapped
            if !c.isIdle { try c.progress(&completions) }
        }
    }

    public func waitForActivity(milliseconds: Int32) throws {
        if options.busyPoll || !started.isEmpty { return }
        var any = false
        for (i, peer) in connected.enumerated() {
            let c = channels[peer]!
            var events: Int32 = 0
            if !c.receives.isEmpty { events |= POLLIN }
            if !c.sends.isEmpty { events |= POLLOUT }
            pollSet[i].events = Int16(events)
            pollSet[i].revents = 0
            any = any || events != 0
        }
        guard any else { return }
        let rc = Glibc.poll(&pollSet, nfds_t(pollSet.count), milliseconds)
        if rc < 0 && errno != EINTR { throw SystemCallError("poll", "rank \(rank): waiting for data") }
    }

    public func checkJobIsAlive() throws { try store.checkJobIsAlive() }

    public func pendingPeers() -> [Int] { connected.filter { !channels[$0]!.isIdle } }

    public func describe(peer: Int) -> String { channels[peer]?.socket.peerName ?? "rank \(peer)" }

    /// Drops every posted operation: a peer still exchanging with this rank sees the
    /// connection close. Every later call throws.
    public func close() {
        closed = true
        started = EarlyCompletions()
        registrations.removeAll()
        for peer in connected { channels[peer]?.socket.close(); channels[peer] = nil }
        connected.removeAll()
        pollSet.removeAll()
        listener.close()
    }

    private func closedError() -> FabricError {
        FabricError.configuration("rank \(rank): the TCP transport was closed; its operations were dropped")
    }
}

/// An accepted connection reading its channel hello without blocking.
private final class PendingHandshake {
    let socket: Socket
    let deadline: Deadline
    private var received: [UInt8] = []

    init(socket: Socket, deadline: Deadline) {
        self.socket = socket
        self.deadline = deadline
    }

    /// The peer's rank once its whole, valid hello is in; nil while it is still arriving.
    /// Throws on anything but a channel hello of this job addressed to this rank.
    func advance(token: UInt64, rank: Int, worldSize: Int) throws -> Int? {
        let size = WireFormat.headerSize + 8
        var chunk = [UInt8](repeating: 0, count: size - received.count)
        let n = Glibc.recv(socket.fd, &chunk, chunk.count, Int32(MSG_DONTWAIT))
        if n == 0 { throw FabricError.peerGone(rank: rank, peer: socket.peerName, during: "a connection handshake") }
        if n < 0 {
            if errno == EAGAIN || errno == EINTR { return nil }
            throw SystemCallError("recv", errno: errno, "rank \(rank): a connection handshake with \(socket.peerName)")
        }
        received += chunk[0..<n]
        if received.count >= WireFormat.headerSize {
            let header = try WireFormat.parseHeader(Array(received[0..<WireFormat.headerSize]), token: token, peer: socket.peerName)
            guard header.type == .channelHello, header.payloadLength == 8 else {
                throw FabricError.protocolViolation(peer: socket.peerName, detail: "expected a channel hello, got \(header.type) of \(header.payloadLength) bytes")
            }
        }
        guard received.count == size else { return nil }
        var r = ByteReader(Array(received[WireFormat.headerSize...]), peer: socket.peerName, what: "channel hello")
        let from = Int(try r.u32()), to = Int(try r.u32())
        guard to == rank, from >= 0, from < worldSize, from != rank else {
            throw FabricError.protocolViolation(peer: socket.peerName, detail: "handshake from rank \(from) to rank \(to) reached rank \(rank) of \(worldSize)")
        }
        return from
    }
}
