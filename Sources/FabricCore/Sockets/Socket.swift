import CFabricSystem
import Foundation

/// An owned TCP socket file descriptor with the few operations the control and data
/// planes need. Blocking steps take a deadline and a description of the peer, so a
/// timeout says who was awaited.
public final class Socket {
    public private(set) var fd: Int32
    /// "rank 3 (10.0.0.4:41233)" or an address: used in error messages.
    public var peerName: String
    /// The rank that owns this process, for error messages.
    public let localRank: Int

    public init(fd: Int32, peerName: String, localRank: Int) {
        self.fd = fd
        self.peerName = peerName
        self.localRank = localRank
    }

    deinit { close() }

    public func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    // MARK: creation

    public static func resolve(host: String, port: Int, passive: Bool = false) throws -> (sockaddr_storage, socklen_t) {
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        let rc = host.isEmpty
            ? fab_resolve(nil, Int32(port), passive ? 1 : 0, &storage, &length)
            : fab_resolve(host, Int32(port), passive ? 1 : 0, &storage, &length)
        guard rc == 0 else {
            throw FabricError.configuration("cannot resolve address '\(host)': \(String(cString: fab_gai_strerror(rc)))")
        }
        return (storage, length)
    }

    /// The IPv4 address of a named interface (e.g. eth1, ib0), else its IPv6 address.
    public static func address(ofInterface iface: String) throws -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        for family in [AF_INET, AF_INET6] where fab_interface_address(iface, family, &buffer, buffer.count) == 0 {
            return String(cString: buffer)
        }
        throw FabricError.configuration("--iface \(iface): no such interface with an IP address on this host (see 'ip -br addr')")
    }

    /// The interface that owns a local address (nil: none does, or the address is a name).
    public static func interface(ofAddress address: String) -> String? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard let sa = entry.pointee.ifa_addr, [AF_INET, AF_INET6].contains(Int32(sa.pointee.sa_family)) else { continue }
            let length = socklen_t(sa.pointee.sa_family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
            guard getnameinfo(sa, length, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else { continue }
            let text = String(cString: buffer)
            if text == address || text.split(separator: "%").first.map(String.init) == address {
                return String(cString: entry.pointee.ifa_name)
            }
        }
        return nil
    }

    /// A listening socket on host:port (port 0 picks a free one).
    public static func listen(host: String, port: Int, localRank: Int, backlog: Int32 = 1024) throws -> Socket {
        var (address, length) = try resolve(host: host, port: port, passive: true)
        let fd = Glibc.socket(Int32(address.ss_family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError("socket", "listening on \(host):\(port)") }
        let socket = Socket(fd: fd, peerName: "\(host):\(port)", localRank: localRank)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
        }
        guard bound == 0 else {
            throw SystemCallError("bind", "listening on \(host.isEmpty ? "*" : host):\(port) (is the port in use, or the address not on this host?)")
        }
        guard Glibc.listen(fd, backlog) == 0 else { throw SystemCallError("listen", "listening on \(host):\(port)") }
        return socket
    }

    /// Connects to host:port, retrying refused connections (the peer may not listen yet)
    /// until the deadline. With `retryRefused` false a refusal fails at once: for a peer
    /// that published its address only after it started listening, a refusal means it died.
    public static func connect(host: String, port: Int, peerName: String, localRank: Int,
                               deadline: Deadline, what: String, retryRefused: Bool = true) throws -> Socket {
        var (address, length) = try resolve(host: host, port: port)
        var lastError: Int32 = 0
        var backoffMicroseconds: UInt32 = 1_000
        while true {
            let fd = Glibc.socket(Int32(address.ss_family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw SystemCallError("socket", "connecting to \(peerName)") }
            let socket = Socket(fd: fd, peerName: peerName, localRank: localRank)
            _ = fab_set_nonblocking(fd)
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
            }
            if rc == 0 { return socket }
            lastError = errno
            if lastError == EINPROGRESS {
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let ready = Glibc.poll(&pfd, 1, deadline.remainingMilliseconds)
                if ready > 0 {
                    var soError: Int32 = 0
                    var size = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &size)
                    if soError == 0 { return socket }
                    lastError = soError
                }
            }
            socket.close()
            if lastError == ECONNREFUSED && !retryRefused {
                throw FabricError.peerGone(rank: localRank, peer: peerName, during: "\(what) (connection refused)")
            }
            let retryable = [ECONNREFUSED, EINPROGRESS, ETIMEDOUT, ENETUNREACH, EHOSTUNREACH, ECONNRESET, EAGAIN].contains(lastError)
            guard retryable else { throw SystemCallError("connect", errno: lastError, "rank \(localRank): connecting to \(peerName) for \(what)") }
            if deadline.expired {
                throw FabricError.timeout(rank: localRank, waitingFor: "\(what) (last error: \(String(cString: strerror(lastError))))",
                                          peer: peerName, seconds: deadline.seconds)
            }
            usleep(backoffMicroseconds)
            backoffMicroseconds = min(backoffMicroseconds * 2, 100_000)
        }
    }

    /// Accepts one connection before the deadline.
    /// One connection waiting on this listener, if any, without blocking (non-blocking itself).
    public func acceptNow() throws -> Socket? {
        _ = fab_set_nonblocking(fd)
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let client = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { fab_accept(fd, $0, &length, 1) }
        }
        guard client >= 0 else {
            if errno == EAGAIN || errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE { return nil }
            throw SystemCallError("accept", "rank \(localRank): accepting a connection")
        }
        let name = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Socket.format($0) } }
        return Socket(fd: client, peerName: name, localRank: localRank)
    }

    // MARK: options

    /// Whether the peer has closed or reset the connection: one poll(2) that waits for
    /// nothing and reads nothing, so it costs no round trip.
    public var peerHasClosed: Bool {
        let readHangUp: Int16 = 0x2000  // POLLRDHUP: the peer sent FIN (Glibc's module omits the GNU constant)
        var p = pollfd(fd: fd, events: readHangUp, revents: 0)
        return Glibc.poll(&p, 1, 0) == 1 && p.revents & (readHangUp | Int16(POLLHUP | POLLERR)) != 0
    }

    public func setNoDelay() {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    public func setNonBlocking() throws {
        let rc = fab_set_nonblocking(fd)
        if rc != 0 { throw SystemCallError("fcntl(O_NONBLOCK)", errno: rc, "socket to \(peerName)") }
    }

    /// Sets send and receive buffers; as root the *FORCE variants go past net.core.[rw]mem_max.
    /// Returns the sizes the kernel granted (it doubles the request for bookkeeping).
    @discardableResult
    public func setBufferSizes(_ bytes: Int) -> (send: Int, receive: Int) {
        var size = Int32(clamping: bytes)
        let len = socklen_t(MemoryLayout<Int32>.size)
        if setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, len) != 0 { setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, len) }
        if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, len) != 0 { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, len) }
        return (option(SO_SNDBUF), option(SO_RCVBUF))
    }

    public func option(_ name: Int32) -> Int {
        var value: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, name, &value, &len)
        return Int(value)
    }

    public var localAddress: String {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Socket.format($0) } }
    }

    public var localPort: Int {
        let text = localAddress
        return Int(text[text.index(after: text.lastIndex(of: ":")!)...]) ?? 0
    }

    public static func format(_ address: UnsafePointer<sockaddr>) -> String {
        var buffer = [CChar](repeating: 0, count: 80)
        fab_format_sockaddr(address, &buffer, buffer.count)
        return String(cString: buffer)
    }

    // MARK: whole-message I/O for the control plane (non-blocking fd + poll with deadline)

    public func sendAll(_ bytes: UnsafeRawBufferPointer, deadline: Deadline, what: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.send(fd, bytes.baseAddress! + offset, bytes.count - offset, fab_send_flags(0))
            if n > 0 { offset += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EINTR) {
                try waitReady(events: POLLOUT, deadline: deadline, what: what)
                continue
            }
            if errno == EPIPE || errno == ECONNRESET { throw FabricError.peerGone(rank: localRank, peer: peerName, during: what) }
            throw SystemCallError("send", "rank \(localRank): sending \(what) to \(peerName)")
        }
    }

    public func sendAll(_ bytes: [UInt8], deadline: Deadline, what: String) throws {
        try bytes.withUnsafeBytes { try sendAll($0, deadline: deadline, what: what) }
    }

    public func receiveAll(_ buffer: UnsafeMutableRawBufferPointer, deadline: Deadline, what: String) throws {
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.recv(fd, buffer.baseAddress! + offset, buffer.count - offset, 0)
            if n > 0 { offset += n; continue }
            if n == 0 { throw FabricError.peerGone(rank: localRank, peer: peerName, during: what) }
            if errno == EAGAIN || errno == EINTR {
                try waitReady(events: POLLIN, deadline: deadline, what: what)
                continue
            }
            if errno == ECONNRESET { throw FabricError.peerGone(rank: localRank, peer: peerName, during: what) }
            throw SystemCallError("recv", "rank \(localRank): receiving \(what) from \(peerName)")
        }
    }

    public func receiveAll(count: Int, deadline: Deadline, what: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { try receiveAll($0, deadline: deadline, what: what) }
        return out
    }

    func waitReady(events: Int32, deadline: Deadline, what: String) throws {
        var pfd = pollfd(fd: fd, events: Int16(events), revents: 0)
        let ready = Glibc.poll(&pfd, 1, deadline.remainingMilliseconds)
        if ready == 0 || deadline.expired && ready <= 0 {
            throw FabricError.timeout(rank: localRank, waitingFor: what, peer: peerName, seconds: deadline.seconds)
        }
    }
}

extension Socket {
    /// "host:port", "[v6]:port". Throws a message naming the flag.
    public static func parseHostPort(_ text: String, what: String) throws -> (String, Int) {
        let bad = FabricError.configuration("\(what) '\(text)' is not HOST:PORT (e.g. 10.0.0.1:29500 or [fe80::1]:29500)")
        guard let colon = text.lastIndex(of: ":") else { throw bad }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { throw bad }
        return (host, port)
    }
}

extension Socket {
    /// Raises this process's open-file limit to its hard limit (a large job needs a socket
    /// per peer) and returns the limit now in force.
    @discardableResult
    public static func raiseDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur > rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
    }

    /// The open-file limit in force.
    public static var descriptorLimit: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return limit.rlim_cur > rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
    }
}

extension Socket {
    /// Where a store or listener for `host` should bind: `host` itself when it is an address
    /// of this machine other than loopback, or loopback itself; nil when `host` names this
    /// machine only through a loopback alias (Debian maps its hostname to 127.0.1.1) or is
    /// not local: then only the wildcard reaches remote peers.
    public static func bindableAddress(for host: String) -> String? {
        guard let (address, length) = try? resolve(host: host, port: 0) else { return nil }
        var a = address
        let isLoopback: Bool = withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Socket.format($0) }
        }.hasPrefix("127.") || host == "::1" || host == "localhost"
        let literal = host.hasPrefix("127.") || host == "::1" || host == "localhost"
        if isLoopback && !literal { return nil }
        let fd = Glibc.socket(Int32(a.ss_family), Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        let bound = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) } }
        return bound == 0 ? host : nil
    }
}
