import FabricCore
import CFabricRDMA
import CFabricSystem
import Foundation

/// `--cm`: queue pairs connected through librdmacm, as RoCE users expect (rping, ib_write_lat
/// -R): address resolution, route resolution, then the CM handshake, which also moves the
/// queue pairs to RTR and RTS with the GID, MTU and path the kernel chose for the address.
///
/// Every rank listens on its RDMA address (port chosen by the kernel) and publishes it in the
/// rendezvous store. For each pair the higher rank connects, `--qps` times, and the lower
/// rank accepts; a request says who sends it in its private data, so a request that arrives
/// early (from a peer this rank has not asked for yet) is accepted and kept.
///
/// The private data carries the job token (`ConnectionRequest`), as every TCP frame does. A
/// request without it, or claiming a rank, addressee or queue pair this rank does not wait
/// for, is rejected (rdma_reject) with a rate-limited line, and the wait for the real peers
/// goes on until the deadline: a stranger on the RDMA port cannot end a job.
final class ConnectionManager {
    struct LinkKey: Hashable {
        var peer: Int
        var queuePair: Int
    }

    /// What the creator of a queue pair gets: the id to create it on, the peer and its index.
    typealias QueuePairFactory = (UnsafeMutablePointer<rdma_cm_id>, LinkKey) throws -> Void

    private let api: fab_rdma_api
    private let rank: Int
    private let worldSize: Int
    private let queuePairsPerPeer: Int
    private let trafficClass: Int
    /// The job's secret (`Store.token`): requests without it are refused.
    private let token: UInt64
    private var strangers: StrangerLog
    private let channel: UnsafeMutablePointer<rdma_event_channel>
    private let listener: UnsafeMutablePointer<rdma_cm_id>
    private let sourceHost: String
    /// Where this rank listens, "host:port", published for the peers that connect to it.
    let listenAddress: String
    private var keys: [UInt: LinkKey] = [:]
    private var ids: [UnsafeMutablePointer<rdma_cm_id>] = []
    /// Per link not yet established: what it waits for, for the timeout message.
    private var stage: [LinkKey: String] = [:]
    private var established: Set<LinkKey> = []
    private var peerAddress: [Int: String] = [:]
    private static let resolveMilliseconds: Int32 = 5000

    /// Listens on `host` (an address of the RDMA device `context` belongs to).
    init(api: fab_rdma_api, rank: Int, worldSize: Int, token: UInt64, host: String, context: UnsafeMutablePointer<ibv_context>, device: String,
         queuePairsPerPeer: Int, trafficClass: Int) throws {
        self.api = api
        self.rank = rank
        self.token = token
        strangers = StrangerLog(rank: rank)
        self.worldSize = worldSize
        self.queuePairsPerPeer = queuePairsPerPeer
        self.trafficClass = trafficClass
        sourceHost = host
        guard let channel = api.create_event_channel() else {
            throw SystemCallError("rdma_create_event_channel", "rank \(rank): --cm (is the rdma_ucm module loaded? /dev/infiniband/rdma_cm must exist)")
        }
        self.channel = channel
        _ = fab_set_nonblocking(channel.pointee.fd)
        var created: UnsafeMutablePointer<rdma_cm_id>?
        guard api.create_id(channel, &created, nil, RDMA_PS_TCP) == 0, let listener = created else {
            let error = SystemCallError("rdma_create_id", "rank \(rank): --cm listener")
            api.destroy_event_channel(channel)
            throw error
        }
        self.listener = listener
        do {
            var (address, _) = try Socket.resolve(host: host, port: 0)
            let rc = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { api.bind_addr(listener, $0) } }
            guard rc == 0 else {
                throw SystemCallError("rdma_bind_addr", "rank \(rank): --cm cannot listen on \(host): that address must be on an RDMA interface (see 'fabricbench devices'; choose it with --iface or --bind)")
            }
            guard let bound = listener.pointee.verbs else {
                throw FabricError.configuration("rank \(rank): --cm: \(host) is not an address of an RDMA device: pass --iface or --bind with the address of \(device)'s interface")
            }
            guard bound == context else {
                let other = bound.pointee.device.flatMap { api.get_device_name($0) }.map { String(cString: $0) } ?? "another device"
                throw FabricError.configuration("rank \(rank): --cm: \(host) belongs to \(other), not \(device): pass --device \(other), or --iface/--bind with \(device)'s address")
            }
            guard api.listen(listener, 1024) == 0 else { throw SystemCallError("rdma_listen", "rank \(rank): --cm on \(host)") }
            let port = UInt16(bigEndian: listener.pointee.route.addr.src_sin.sin_port)
            listenAddress = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        } catch {
            _ = api.destroy_id(listener)
            api.destroy_event_channel(channel)
            throw error
        }
    }

    /// Returns once every queue pair to `peers` is established. `addressOf` gives a peer's
    /// listen address (it may block on the rendezvous store); `createQueuePair` creates the
    /// queue pair on an id and posts its first receives, before the handshake lets data in.
    func establish(peers: [Int], addressOf: (Int) throws -> String, createQueuePair: QueuePairFactory,
                   checkJobIsAlive: () throws -> Void, timeout: Double) throws {
        let deadline = Deadline(seconds: timeout)
        let wanted = peers.flatMap { peer in (0..<queuePairsPerPeer).map { LinkKey(peer: peer, queuePair: $0) } }
        for key in wanted where key.peer < rank && stage[key] == nil && !established.contains(key) {
            if peerAddress[key.peer] == nil { peerAddress[key.peer] = try addressOf(key.peer) }
            try startConnecting(key)
        }
        for key in wanted where key.peer > rank && stage[key] == nil && !established.contains(key) {
            stage[key] = "rank \(key.peer)'s connection request"
        }
        var lastCheck = monotonicNow()
        while let pending = wanted.first(where: { !established.contains($0) }) {
            if deadline.expired {
                let waiting = wanted.filter { !established.contains($0) }
                    .map { "queue pair \($0.queuePair) to rank \($0.peer): \(stage[$0] ?? "not started")" }.joined(separator: "; ")
                throw FabricError.timeout(rank: rank, waitingFor: "the rdma_cm connection (\(waiting))", peer: "rank \(pending.peer)", seconds: timeout)
            }
            if try !handleNextEvent(waitingMilliseconds: min(deadline.remainingMilliseconds, 100), createQueuePair: createQueuePair) {
                // A rank that died before connecting shows up only in the job's state.
                if monotonicNow() - lastCheck > 500_000_000 {
                    try checkJobIsAlive()
                    lastCheck = monotonicNow()
                }
            }
        }
    }

    private func startConnecting(_ key: LinkKey) throws {
        var created: UnsafeMutablePointer<rdma_cm_id>?
        guard api.create_id(channel, &created, nil, RDMA_PS_TCP) == 0, let id = created else {
            throw SystemCallError("rdma_create_id", "rank \(rank): --cm connection to rank \(key.peer)")
        }
        ids.append(id)
        keys[UInt(bitPattern: id)] = key
        if trafficClass != 0 {
            var tos = UInt8(trafficClass)
            guard api.set_option(id, Int32(RDMA_OPTION_ID), Int32(RDMA_OPTION_ID_TOS), &tos, 1) == 0 else {
                throw SystemCallError("rdma_set_option(TOS)", "rank \(rank): --tc \(trafficClass) for rank \(key.peer)")
            }
        }
        let target = peerAddress[key.peer]!
        let (host, port) = try Socket.parseHostPort(target, what: "rank \(key.peer)'s --cm address")
        var (source, _) = try Socket.resolve(host: sourceHost, port: 0)
        var (destination, _) = try Socket.resolve(host: host, port: port)
        let rc = withUnsafeMutablePointer(to: &source) { s in
            withUnsafeMutablePointer(to: &destination) { d in
                s.withMemoryRebound(to: sockaddr.self, capacity: 1) { s in
                    d.withMemoryRebound(to: sockaddr.self, capacity: 1) { d in api.resolve_addr(id, s, d, Self.resolveMilliseconds) }
                }
            }
        }
        guard rc == 0 else { throw SystemCallError("rdma_resolve_addr", "rank \(rank): --cm from \(sourceHost) to rank \(key.peer) at \(target)") }
        stage[key] = "resolving the address \(target)"
    }

    /// Handles one event, if one comes within the time given; false when none came.
    private func handleNextEvent(waitingMilliseconds: Int32, createQueuePair: QueuePairFactory) throws -> Bool {
        var event: UnsafeMutablePointer<rdma_cm_event>?
        if api.get_cm_event(channel, &event) != 0 {
            guard errno == EAGAIN || errno == EWOULDBLOCK else { throw SystemCallError("rdma_get_cm_event", "rank \(rank): --cm") }
            var descriptor = pollfd(fd: channel.pointee.fd, events: Int16(POLLIN), revents: 0)
            _ = Glibc.poll(&descriptor, 1, waitingMilliseconds)
            guard api.get_cm_event(channel, &event) == 0 else { return false }
        }
        guard let event else { return false }
        defer { _ = api.ack_cm_event(event) }
        let type = event.pointee.event, status = event.pointee.status
        let name = api.event_str(type).map { String(cString: $0) } ?? "event \(type.rawValue)"
        if type == RDMA_CM_EVENT_CONNECT_REQUEST {
            try accept(event.pointee.id, conn: event.pointee.param.conn, createQueuePair: createQueuePair)
            return true
        }
        guard let id = event.pointee.id, let key = keys[UInt(bitPattern: id)] else { return true }  // the listener's own events
        let peer = "rank \(key.peer)" + (peerAddress[key.peer].map { " at \($0)" } ?? "")
        switch type {
        case RDMA_CM_EVENT_ADDR_RESOLVED:
            guard id.pointee.verbs == listener.pointee.verbs else {
                throw FabricError.configuration("rank \(rank): --cm: the route to \(peer) leaves through another RDMA device than the one listening on \(sourceHost): pass --iface/--bind with an address on the same network as the peers")
            }
            guard api.resolve_route(id, Self.resolveMilliseconds) == 0 else { throw SystemCallError("rdma_resolve_route", "rank \(rank): --cm to \(peer)") }
            stage[key] = "resolving the route"
        case RDMA_CM_EVENT_ROUTE_RESOLVED:
            try createQueuePair(id, key)
            let hello = ConnectionRequest(rank: rank, target: key.peer, queuePair: key.queuePair, queuePairs: queuePairsPerPeer).encoded(token: token)
            var parameters = Self.connectionParameters()
            let rc = hello.withUnsafeBytes { bytes in
                parameters.private_data = bytes.baseAddress
                parameters.private_data_len = UInt8(bytes.count)
                return api.connect(id, &parameters)
            }
            guard rc == 0 else { throw SystemCallError("rdma_connect", "rank \(rank): --cm to \(peer)") }
            stage[key] = "the connection reply"
        case RDMA_CM_EVENT_ESTABLISHED:
            established.insert(key)
            stage[key] = nil
        case RDMA_CM_EVENT_ADDR_ERROR:
            throw FabricError.configuration("rank \(rank): --cm could not resolve \(peer) from \(sourceHost) (\(name), status \(status)): is that address on an RDMA interface and reachable (ping it)? choose the interface with --iface")
        case RDMA_CM_EVENT_ROUTE_ERROR:
            throw FabricError.configuration("rank \(rank): --cm found no route to \(peer) (\(name), status \(status)): check the routing table and the RoCE/IPoIB interface")
        // Only ids of requests this rank sent or accepted get here: a refused request's id is
        // destroyed at once. An accepted one carried the job token, so its sender is a rank of
        // this job, and one whose handshake fails is gone: as fatal as on the connecting side.
        case RDMA_CM_EVENT_UNREACHABLE, RDMA_CM_EVENT_CONNECT_ERROR:
            throw FabricError.aborted("rank \(rank): --cm connection to \(peer) failed (\(name), status \(status)): the peer does not answer on that path; check the link, and that every rank runs with --cm")
        // No retry: every reason a rank of this job rejects for (another job's token, a rank,
        // addressee or --qps that does not match) stays true for the whole job, and so does a
        // reject from the kernel (nobody listens at that address any more). Retrying would only
        // turn a clear error into a timeout.
        case RDMA_CM_EVENT_REJECTED:
            throw FabricError.aborted("rank \(rank): \(peer) rejected the connection request (status \(status)): that address is not this job's rank \(key.peer) any more, or it refused this rank's claim (see its log); every rank must run with --cm, the same job token and the same --qps")
        case RDMA_CM_EVENT_DISCONNECTED where !established.contains(key), RDMA_CM_EVENT_DEVICE_REMOVAL:
            throw FabricError.aborted("rank \(rank): \(name) on the connection to \(peer) during setup: that rank exited or its device went away")
        default:
            break
        }
        return true
    }

    /// Accepts a request of this job for a queue pair it waits for; rejects anything else.
    private func accept(_ id: UnsafeMutablePointer<rdma_cm_id>?, conn: rdma_conn_param, createQueuePair: QueuePairFactory) throws {
        guard let id else { return }
        let bytes = conn.private_data.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(conn.private_data_len))) } ?? []
        let source = withUnsafePointer(to: id.pointee.route.addr.dst_addr) { Socket.format($0) }
        let request: ConnectionRequest
        do {
            request = try ConnectionRequest(decoding: bytes, token: token, peer: source)
        } catch {
            reject(id)
            strangers.ignored("an rdma_cm connection request", because: "\(error)")
            return
        }
        let taken = Set(keys.values)
        if let (problem, fatal) = request.refusal(at: rank, worldSize: worldSize, queuePairs: queuePairsPerPeer,
                                                  isTaken: { taken.contains(LinkKey(peer: $0, queuePair: $1)) }) {
            reject(id)
            if fatal { throw FabricError.configuration("rank \(rank): --cm: \(problem)") }
            strangers.ignored("an rdma_cm connection request from \(source)", because: problem)
            return
        }
        let key = LinkKey(peer: request.rank, queuePair: request.queuePair)
        ids.append(id)
        keys[UInt(bitPattern: id)] = key
        try createQueuePair(id, key)
        var parameters = Self.connectionParameters()
        guard api.accept(id, &parameters) == 0 else { throw SystemCallError("rdma_accept", "rank \(rank): --cm from rank \(key.peer)") }
        stage[key] = "the connection to be established"
    }

    /// The requester sees REJECTED; the id the request came on is this rank's to destroy.
    private func reject(_ id: UnsafeMutablePointer<rdma_cm_id>) {
        _ = api.reject(id, nil, 0)
        _ = api.destroy_id(id)
    }

    /// RC settings as the bootstrap path uses them: one outstanding read, retries without end
    /// for a receiver not ready, the usual 7 for transport errors.
    private static func connectionParameters() -> rdma_conn_param {
        var parameters = rdma_conn_param()
        parameters.responder_resources = 1
        parameters.initiator_depth = 1
        parameters.retry_count = 7
        parameters.rnr_retry_count = 7
        return parameters
    }

    /// Destroys the queue pairs created on the ids, the ids, and the channel.
    func close() {
        for id in ids {
            if id.pointee.qp != nil { api.cm_destroy_qp(id) }
            _ = api.destroy_id(id)
        }
        ids.removeAll()
        keys.removeAll()
        _ = api.destroy_id(listener)
        api.destroy_event_channel(channel)
    }
}

/// The private data of a connection request: WireFormat's frame (magic, version, job token,
/// type, length: the TCP data handshake's framing and its token check), then who calls, whom,
/// for which of its queue pairs, and how many it has. 32 bytes, within the 56 a request over
/// IB or RoCE carries.
struct ConnectionRequest: Equatable {
    var rank: Int
    var target: Int
    var queuePair: Int
    var queuePairs: Int

    static let payloadBytes = 12
    static let encodedBytes = WireFormat.headerSize + payloadBytes
    /// The most an rdma_cm event can hand over (its length is one byte).
    static let maximumBytes = Int(UInt8.max)

    init(rank: Int, target: Int, queuePair: Int, queuePairs: Int) {
        self.rank = rank
        self.target = target
        self.queuePair = queuePair
        self.queuePairs = queuePairs
    }

    /// Total: any bytes give a request of this job or a protocol violation naming `peer` with
    /// the reason, never a trap. The CM pads private data with zeros, so zeros may follow.
    init(decoding bytes: [UInt8], token: UInt64, peer: String) throws {
        func refuse(_ why: String) -> FabricError { .protocolViolation(peer: peer, detail: why) }
        guard bytes.count <= Self.maximumBytes else {
            throw refuse("\(bytes.count) bytes of private data, more than an rdma_cm request carries (\(Self.maximumBytes))")
        }
        guard bytes.count >= Self.encodedBytes else {
            throw refuse("not a fabricbench --cm request: \(bytes.count) bytes of private data, \(Self.encodedBytes) expected")
        }
        let header = try WireFormat.parseHeader(Array(bytes[0..<WireFormat.headerSize]), token: token, peer: peer)
        guard header.type == .cmConnectRequest, header.payloadLength == Self.payloadBytes else {
            throw refuse("a \(header.type) message of \(header.payloadLength) bytes where a --cm connection request belongs")
        }
        guard bytes[Self.encodedBytes...].allSatisfy({ $0 == 0 }) else {
            throw refuse("bytes other than padding after the --cm connection request")
        }
        var reader = ByteReader(Array(bytes[WireFormat.headerSize..<Self.encodedBytes]), peer: peer, what: "--cm connection request")
        rank = Int(try reader.u32())
        target = Int(try reader.u32())
        queuePair = Int(try reader.u16())
        queuePairs = Int(try reader.u16())
    }

    /// Why `rank` (of `worldSize`, with `queuePairs` per peer) cannot accept this request, or
    /// nil. A stranger's claim is refused and the wait goes on; `fatal` marks the one thing
    /// only a rank of this job can get wrong, and never right later: another --qps.
    func refusal(at rank: Int, worldSize: Int, queuePairs ours: Int, isTaken: (_ peer: Int, _ queuePair: Int) -> Bool) -> (problem: String, fatal: Bool)? {
        if target != rank {
            return ("a connection request for rank \(target), sent to rank \(rank)", false)
        }
        if self.rank <= rank || self.rank >= worldSize {
            return ("a connection request from rank \(self.rank), which is not one of the ranks \(rank + 1)..<\(worldSize) that connect to rank \(rank)", false)
        }
        if queuePairs != ours {
            return ("rank \(self.rank) runs with --qps \(queuePairs), this rank with --qps \(ours): give every rank the same --qps", true)
        }
        if queuePair >= ours {
            return ("rank \(self.rank) asked for queue pair \(queuePair) of \(ours)", false)
        }
        if isTaken(self.rank, queuePair) {
            return ("rank \(self.rank) asked again for queue pair \(queuePair), which is taken", false)
        }
        return nil
    }

    func encoded(token: UInt64) -> [UInt8] {
        var w = ByteWriter()
        w.u32(UInt32(truncatingIfNeeded: rank))
        w.u32(UInt32(truncatingIfNeeded: target))
        w.u16(UInt16(truncatingIfNeeded: queuePair))
        w.u16(UInt16(truncatingIfNeeded: queuePairs))
        return WireFormat.frame(.cmConnectRequest, token: token, payload: w.bytes)
    }
}

/// `--cm` as a connection setup: a ConnectionManager listening on this rank's RDMA address
/// (made at the first connect, its address published in the rendezvous store), queue pairs
/// created on its ids and handed to the links.
final class ConnectionManagerSetup: ConnectionSetup {
    private let device: VerbsDevice
    private let store: any Store
    private let port: RDMAPort
    private let gid: GIDEntry
    private let options: VerbsOptions
    /// The address rdma_cm listens and connects from (see `host(options:gid:device:rank:)`).
    private let host: String
    private var manager: ConnectionManager?

    init(device: VerbsDevice, selection: DeviceSelection, host: String, store: any Store, options: VerbsOptions) {
        self.device = device
        self.store = store
        port = selection.port
        gid = selection.gid
        self.host = host
        self.options = options
    }

    var settings: [String: String] {
        let source = options.cmBindAddress != nil ? "--bind" : options.cmInterface != nil ? "--iface" : "the IP in GID \(gid.index)"
        return [
            "connection_setup": "rdma_cm (--cm)",
            "gid_choice": "rdma_cm picks the GID for \(host) (\(source))",
            "mtu": "from the rdma_cm route (port \(port.activeMTU))",
        ]
    }

    func connect(_ wanted: [Int], into links: any QueuePairSink) throws {
        let rank = store.rank
        if manager == nil {
            let manager = try ConnectionManager(api: device.api, rank: rank, worldSize: store.worldSize, token: store.token, host: host, context: device.context,
                                                device: port.device, queuePairsPerPeer: options.queuePairs, trafficClass: options.trafficClass)
            self.manager = manager
            try store.set("verbs/cm/\(rank)", Array(manager.listenAddress.utf8))
        }
        let store = self.store, device = self.device, inlineBytes = options.inlineBytes
        try manager!.establish(
            peers: wanted,
            addressOf: { peer in
                String(decoding: try store.get("verbs/cm/\(peer)", description: "rank \(peer)'s rdma_cm address"), as: UTF8.self)
            },
            createQueuePair: { id, key in
                let link = try links.link(to: key.peer)
                var attr = device.queuePairAttributes(inlineBytes: inlineBytes)
                guard device.api.cm_create_qp(id, device.pd, &attr) == 0, let qp = id.pointee.qp else {
                    throw SystemCallError("rdma_create_qp", "rank \(rank): queue pair \(key.queuePair) to rank \(key.peer) on \(device.name) (fewer --qps, or check ulimit -l)")
                }
                try links.adopt(qp, granted: attr, link: link, queuePair: key.queuePair)
            },
            checkJobIsAlive: { try store.checkJobIsAlive() },
            timeout: options.timeout)
    }

    /// Destroys the queue pairs created on the manager's ids, the ids and its channel.
    func close() {
        manager?.close()
        manager = nil
    }

    /// The address rdma_cm listens and connects from: --bind, else --iface's address, else
    /// the IP address a RoCE GID is made of (IPv4-mapped, or a global IPv6 address).
    static func host(options: VerbsOptions, gid: GIDEntry, device: String, rank: Int) throws -> String {
        if let bind = options.cmBindAddress { return bind }
        if let iface = options.cmInterface { return try Socket.address(ofInterface: iface) }
        if gid.isIPv4Mapped { return gid.raw[12...].map(String.init).joined(separator: ".") }
        if gid.type != "IB" && !gid.isLinkLocal { return gid.gid }
        throw FabricError.configuration("rank \(rank): --cm needs an IP address on \(device), and GID \(gid.index) (\(gid.type) \(gid.gid)) holds none: pass --iface with the device's IP interface (e.g. ib0), or --bind ADDRESS")
    }
}
