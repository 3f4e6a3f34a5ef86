/// Small messages on the write path skip the clear-to-send: each rank keeps, per peer, a ring
/// of registered slots that the peer writes them into with immediate, and copies each out into
/// the matching receive. A clear-to-send in front of a small message doubles the packets
/// of a ping-pong; the ring's slots are told once, at connect, and freed slots flow back in
/// one credit message per half ring, which neither side waits for while slots are left.
///
/// Which way a message goes is decided by its length alone, so both ends agree when the
/// lengths agree; when they do not, the receiver sees the wrong kind arrive (or the sender's
/// announcement, `ControlMessage.Kind.sendRequest`) and reports a protocol violation.
enum EagerRing {
    /// Messages of at most this many bytes go through the ring (one page: copying it costs
    /// less than a round trip on any fabric).
    static let messageLimit = 4096
    static let slots = 16
    static let bytes = slots * messageLimit
    /// Set in a write's immediate when the message is in the ring, not in the receive's buffer.
    static let immediateFlag: UInt32 = 1 << 31
}

/// The ring slots of one link, counted both ways with running 32-bit counters. Sender: slot
/// `sent % slots` is next, free while fewer than `slots` written messages are unconsumed.
/// Receiver: messages arrive in slot order (all on the first queue pair, in order), are
/// consumed in the same order, and every `slots / 2` consumed are reported back as credit.
struct EagerCredits {
    private(set) var sent: UInt32 = 0
    private(set) var consumedByPeer: UInt32 = 0
    private(set) var arrived: UInt32 = 0
    private(set) var consumed: UInt32 = 0
    private(set) var reported: UInt32 = 0

    var canSend: Bool { sent &- consumedByPeer < UInt32(EagerRing.slots) }

    /// The peer's slot for the next message; only when `canSend`.
    mutating func takeSendSlot() -> Int {
        precondition(canSend, "eager slot taken without credit")
        defer { sent &+= 1 }
        return Int(sent % UInt32(EagerRing.slots))
    }

    /// The peer's running count of consumed messages, from its credit message. A count that
    /// goes backwards or past what was sent is a peer out of step, reported by the caller.
    mutating func peerConsumed(_ count: UInt32) -> Bool {
        guard count &- consumedByPeer <= sent &- consumedByPeer else { return false }
        consumedByPeer = count
        return true
    }

    /// This rank's slot the next arriving message is in.
    mutating func takeArrivalSlot() -> Int {
        defer { arrived &+= 1 }
        return Int(arrived % UInt32(EagerRing.slots))
    }

    /// One arrived message copied out; returns the count to report when half a ring is
    /// unreported.
    mutating func consumeOne() -> UInt32? {
        consumed &+= 1
        guard consumed &- reported >= UInt32(EagerRing.slots / 2) else { return nil }
        reported = consumed
        return consumed
    }
}

/// A small message in this rank's ring, not yet copied into its receive.
struct EagerArrival {
    var index: UInt32
    var length: Int
    var slot: Int
}
