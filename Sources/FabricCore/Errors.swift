import CFabricSystem
import Foundation

/// A failed system call, with errno and what it was for.
public struct SystemCallError: Error, CustomStringConvertible {
    public let call: String
    public let errno: Int32
    public let context: String

    public init(_ call: String, errno: Int32 = Glibc.errno, _ context: String) {
        self.call = call
        self.errno = errno
        self.context = context
    }

    public var description: String { "\(context): \(call) failed: \(String(cString: strerror(errno)))" }
}

/// Failures of the transport and bootstrap that a user can act on. Every message names the
/// peer rank and address involved and, where there is one, what to check.
public enum FabricError: Error, CustomStringConvertible {
    /// A blocking step did not finish in time.
    case timeout(rank: Int, waitingFor: String, peer: String, seconds: Double)
    /// The peer closed its end or reset the connection: it exited or crashed.
    case peerGone(rank: Int, peer: String, during: String)
    /// A peer sent bytes that are not a valid message of our protocol.
    case protocolViolation(peer: String, detail: String)
    /// Bad configuration: flags, environment or addresses.
    case configuration(String)
    /// The job was aborted because another rank failed.
    case aborted(String)

    public var description: String {
        switch self {
        case let .timeout(rank, what, peer, seconds):
            return "rank \(rank): timed out after \(formatSeconds(seconds)) waiting for \(what) from \(peer) (is that rank alive and reachable? raise --timeout for slow starts)"
        case let .peerGone(rank, peer, during):
            return "rank \(rank): \(peer) closed the connection during \(during): that rank exited or crashed"
        case let .protocolViolation(peer, detail):
            return "invalid message from \(peer): \(detail)"
        case let .configuration(text):
            return text
        case let .aborted(text):
            return text
        }
    }
}

public func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? "\(Int(s)) s" : String(format: "%.1f s", s)
}

/// A point in time for timeouts, on the monotonic clock.
public struct Deadline: Sendable {
    public let nanoseconds: UInt64
    public let seconds: Double

    public init(seconds: Double) { self.init(seconds: seconds, from: monotonicNow()) }

    /// `seconds` after `now` (a `monotonicNow()` the caller has already read).
    public init(seconds: Double, from now: UInt64) {
        self.seconds = seconds
        // Clamped (a century; NaN counts as 0): no input can trap the conversion.
        let bounded = seconds.isNaN ? 0 : min(max(seconds, 0), 3.2e9)
        nanoseconds = now &+ UInt64(bounded * 1e9)
    }

    public var expired: Bool { monotonicNow() >= nanoseconds }

    /// Seconds left; 0 when expired.
    public var remainingSeconds: Double {
        let now = monotonicNow()
        return now >= nanoseconds ? 0 : Double(nanoseconds - now) / 1e9
    }

    /// Milliseconds left, for poll(2); 0 when expired.
    public var remainingMilliseconds: Int32 {
        let now = monotonicNow()
        return now >= nanoseconds ? 0 : Int32(clamping: (nanoseconds - now + 999_999) / 1_000_000)
    }
}

@inline(__always)
public func monotonicNow() -> UInt64 { fab_clock_monotonic_raw_ns() }
