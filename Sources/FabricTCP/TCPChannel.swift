import FabricCore
import CFabricSystem
import Foundation

/// One TCP connection to a peer rank with its queues of posted sends and receives.
/// Both directions advance in every `progress` call, so two ranks streaming large
/// messages at each other never deadlock on full socket buffers.
final class TCPChannel {
    struct Operation {
        var base: UnsafeMutableRawPointer
        var length: Int
        var done: Int
        var id: UInt64
    }

    static let sendFlags = fab_send_flags(1)
    let peer: Int
    let socket: Socket
    private(set) var sends = FIFO<Operation>()
    private(set) var receives = FIFO<Operation>()
    var isIdle: Bool { sends.isEmpty && receives.isEmpty }

    init(peer: Int, socket: Socket) {
        self.peer = peer
        self.socket = socket
    }

    func postSend(_ op: Operation) { sends.append(op) }
    func postReceive(_ op: Operation) { receives.append(op) }

    /// Moves bytes in both directions until the socket would block.
    @inline(__always)
    func progress(_ completions: inout [Completion]) throws {
        while var op = sends.first {
            let n = Glibc.send(socket.fd, op.base + op.done, op.length - op.done, TCPChannel.sendFlags)
            if n > 0 {
                op.done += n
                if op.done == op.length {
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
            let n = Glibc.recv(socket.fd, op.base + op.done, op.length - op.done, Int32(MSG_DONTWAIT))
            if n > 0 {
                op.done += n
                if op.done == op.length {
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

    private func failure(_ call: String, _ code: Int32) -> Error {
        if code == EPIPE || code == ECONNRESET {
            return FabricError.peerGone(rank: socket.localRank, peer: socket.peerName, during: call == "send" ? "a send" : "a receive")
        }
        return SystemCallError(call, errno: code, "rank \(socket.localRank): data exchange with \(socket.peerName)")
    }
}

