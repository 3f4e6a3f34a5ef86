import FabricCore
import CFabricSystem
import Foundation

/// One TCP connection to a peer rank with its queues of posted sends and receives.
/// Both directions advance in every `progress` call, so two ranks streaming large
/// messages at each other never deadlock on full socket buffers.
///
/// Each message travels as an 8-byte header (its length, little-endian) and its bytes, so a
/// message costs the same system calls as an unframed one: up to `stagedBytes`, header and
/// bytes are copied together and move with one plain `send`/`recv` (the cheapest calls: a
/// `sendmsg`/`recvmsg` of two pieces cost 0.25 us more per message on loopback); larger
/// ones move in place, header and bytes by one `sendmsg`/`recvmsg` while the header is not
/// through, then by `send`/`recv`. The header gives TCP the verbs contract: a receive whose
/// posted length differs from the message is a protocol violation naming the peer, not a
/// stream silently cut at the wrong place; and a zero-byte message is a header alone, so it
/// completes on both sides in order with the messages around it, through the same code.
final class TCPChannel {
    struct Operation {
        var base: UnsafeMutableRawPointer
        var length: Int
        /// Bytes moved so far, header included.
        var done: Int
        var id: UInt64
        /// Send: the length as the header carries it; receive: the header as it arrives.
        var header: UInt64
    }

    static let headerBytes = 8
    /// Messages up to this size move through a staging buffer, header and bytes at once.
    static let stagedBytes = 1024
    static let sendFlags = fab_send_flags(1)
    let peer: Int
    let socket: Socket
    private(set) var sends = FIFO<Operation>()
    private(set) var receives = FIFO<Operation>()
    var isIdle: Bool { sends.isEmpty && receives.isEmpty }
    /// The oldest small message each way, as a frame (only the oldest moves).
    private let sendStage: UnsafeMutableRawPointer
    private let receiveStage: UnsafeMutableRawPointer

    init(peer: Int, socket: Socket) {
        self.peer = peer
        self.socket = socket
        sendStage = .allocate(byteCount: Self.headerBytes + Self.stagedBytes, alignment: 64)
        receiveStage = .allocate(byteCount: Self.headerBytes + Self.stagedBytes, alignment: 64)
    }

    deinit {
        sendStage.deallocate()
        receiveStage.deallocate()
    }

    func postSend(_ op: Operation) {
        var op = op
        op.header = UInt64(op.length).littleEndian
        sends.append(op)
    }

    func postReceive(_ op: Operation) { receives.append(op) }

    /// Moves bytes in both directions until the socket would block.
    @inline(__always)
    func progress(_ completions: inout [Completion]) throws {
        while var op = sends.first {
            let total = Self.headerBytes + op.length
            let n: Int
            if op.length <= Self.stagedBytes {
                if op.done == 0 {
                    sendStage.storeBytes(of: op.header, as: UInt64.self)
                    (sendStage + Self.headerBytes).copyMemory(from: op.base, byteCount: op.length)
                }
                n = Glibc.send(socket.fd, sendStage + op.done, total - op.done, TCPChannel.sendFlags)
            } else if op.done < Self.headerBytes {
                n = Self.transfer(&op, socket.fd, send: true)
            } else {
                n = Glibc.send(socket.fd, op.base + (op.done - Self.headerBytes), total - op.done, TCPChannel.sendFlags)
            }
            if n > 0 {
                op.done += n
                if op.done == total {
                    sends.removeFirst()
                    completions.append(Completion(peer: peer, operation: .send, id: op.id, bytes: op.length))
                } else {
                    sends.first = op
                }
                continue
            }
            if errno == EAGAIN || errno == EINTR { break }
            throw failure("send", errno)
        }
        while var op = receives.first {
            let total = Self.headerBytes + op.length
            let staged = op.length <= Self.stagedBytes
            let headerDone = op.done >= Self.headerBytes
            let n: Int
            if staged {
                n = Glibc.recv(socket.fd, receiveStage + op.done, total - op.done, Int32(MSG_DONTWAIT))
            } else if headerDone {
                n = Glibc.recv(socket.fd, op.base + (op.done - Self.headerBytes), total - op.done, Int32(MSG_DONTWAIT))
            } else {
                n = Self.transfer(&op, socket.fd, send: false)
            }
            if n > 0 {
                op.done += n
                if !headerDone && op.done >= Self.headerBytes {
                    let announced = Int(UInt64(littleEndian: staged ? receiveStage.load(as: UInt64.self) : op.header))
                    guard announced == op.length else {
                        throw FabricError.protocolViolation(peer: socket.peerName, detail: "sent a \(announced)-byte message where a \(op.length)-byte receive was posted")
                    }
                }
                if op.done == total {
                    if staged { op.base.copyMemory(from: receiveStage + Self.headerBytes, byteCount: op.length) }
                    receives.removeFirst()
                    completions.append(Completion(peer: peer, operation: .receive, id: op.id, bytes: op.length))
                } else {
                    receives.first = op
                }
                continue
            }
            if n == 0 { throw FabricError.peerGone(rank: socket.localRank, peer: socket.peerName, during: "a receive of \(op.length) bytes") }
            if errno == EAGAIN || errno == EINTR { break }
            throw failure("recv", errno)
        }
    }

    /// One `sendmsg` or `recvmsg` of the rest of the header and the whole message behind it.
    @inline(__always)
    private static func transfer(_ op: inout Operation, _ fd: Int32, send: Bool) -> Int {
        let base = op.base, length = op.length, done = op.done
        return withUnsafeMutableBytes(of: &op.header) { header in
            var parts = (iovec(iov_base: header.baseAddress! + done, iov_len: headerBytes - done),
                         iovec(iov_base: base, iov_len: length))
            return withUnsafeMutablePointer(to: &parts) { pointer in
                var message = msghdr()
                message.msg_iov = UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: iovec.self)
                message.msg_iovlen = length > 0 ? 2 : 1
                return send ? Glibc.sendmsg(fd, &message, TCPChannel.sendFlags) : Glibc.recvmsg(fd, &message, Int32(MSG_DONTWAIT))
            }
        }
    }

    private func failure(_ call: String, _ code: Int32) -> Error {
        if code == EPIPE || code == ECONNRESET {
            return FabricError.peerGone(rank: socket.localRank, peer: socket.peerName, during: call == "send" ? "a send" : "a receive")
        }
        return SystemCallError(call, errno: code, "rank \(socket.localRank): data exchange with \(socket.peerName)")
    }
}
