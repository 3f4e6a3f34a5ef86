import CFabricRDMA

/// How a rank's queue pairs to its peers come to be connected. Two ways: the rendezvous
/// exchange (QueuePairExchange, the default) and librdmacm (ConnectionManagerSetup, `--cm`).
/// Each is given the opened device, the rendezvous store and the options when made, and the
/// links to fill at each `connect`; it destroys the queue pairs it created at `close`.
protocol ConnectionSetup: AnyObject {
    /// Connects `queuePairsPerPeer` queue pairs to each of `peers` (sorted, none connected
    /// yet), handing each new one to `links` before the peer can send on it. Collective: each
    /// of `peers` makes the same call naming this rank.
    func connect(_ peers: [Int], into links: any QueuePairSink) throws
    /// How this setup chose what it reports: `connection_setup`, `gid_choice` and `mtu`.
    var settings: [String: String] { get }
    /// Destroys the queue pairs this setup created, and whatever it holds for them.
    func close()
}

/// Where a connection setup puts what it creates: the link to each peer (made on first use)
/// and each new queue pair, which is readied for the data path (its first receives posted)
/// before the handshake lets the peer send.
protocol QueuePairSink: AnyObject {
    func link(to peer: Int) throws -> PeerLink
    /// Takes `qp` (in INIT or later), created with `granted` capabilities, as queue pair
    /// `queuePair` of `link`.
    func adopt(_ qp: UnsafeMutablePointer<ibv_qp>, granted: ibv_qp_init_attr, link: PeerLink, queuePair: Int) throws
}
