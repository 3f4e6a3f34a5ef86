import FabricCore
import CFabricRDMA
import CFabricSystem
import Foundation

/// The default connection setup: each rank creates its queue pairs, publishes their numbers
/// and PSNs with its LID, MTU and GID in the rendezvous store, reads the peer's, and moves
/// the queue pairs to RTR and RTS itself (as perftest and NCCL do over their own sockets).
final class QueuePairExchange: ConnectionSetup {
    struct Endpoint {
        var queuePairs: [(qpn: UInt32, psn: UInt32)]
        var lid: UInt16
        var mtu: Int
        var gid: [UInt8]
    }

    private let device: VerbsDevice
    private let store: any Store
    private let rank: Int
    private let port: RDMAPort
    private let gid: GIDEntry
    private let gidChoice: String
    private let options: VerbsOptions
    /// Every queue pair created here, destroyed at close.
    private var created: [UnsafeMutablePointer<ibv_qp>] = []

    init(device: VerbsDevice, selection: DeviceSelection, store: any Store, options: VerbsOptions) {
        self.device = device
        self.store = store
        rank = store.rank
        port = selection.port
        gid = selection.gid
        gidChoice = selection.gidChoice
        self.options = options
    }

    var settings: [String: String] {
        [
            "connection_setup": "rendezvous exchange of QP numbers, PSNs, LIDs and GIDs",
            "gid_choice": gidChoice,
            "mtu": "\(options.mtu.map { min($0, port.activeMTU) } ?? port.activeMTU)",
        ]
    }

    func close() {
        for qp in created { _ = device.api.destroy_qp(qp) }
        created.removeAll()
    }

    func connect(_ wanted: [Int], into links: any QueuePairSink) throws {
        // Publish every queue pair before reading any peer's, so no rank waits on another.
        var localPSNs: [Int: [UInt32]] = [:]
        var wantedLinks: [Int: PeerLink] = [:]
        for peer in wanted {
            let link = try links.link(to: peer)
            wantedLinks[peer] = link
            var w = ByteWriter()
            w.u16(UInt16(options.queuePairs))
            for q in 0..<options.queuePairs {
                let qp = try createQueuePair(link, queuePair: q, into: links)
                let psn = UInt32.random(in: 0..<(1 << 24))
                localPSNs[peer, default: []].append(psn)
                w.u32(qp.pointee.qp_num)
                w.u32(psn)
            }
            w.u16(port.lid == 0 ? 0 : UInt16(port.lid))
            w.u16(UInt16(port.activeMTU))
            w.blob(gid.raw)
            try store.set("verbs/qp/\(rank)/\(peer)", w.bytes)
        }
        for peer in wanted {
            let raw = try store.get("verbs/qp/\(peer)/\(rank)", description: "rank \(peer)'s queue pairs for rank \(rank)")
            var r = ByteReader(raw, peer: "rank \(peer)", what: "queue pair exchange")
            let count = Int(try r.u16())
            guard count == options.queuePairs else {
                throw FabricError.configuration("rank \(peer) runs with --qps \(count), rank \(rank) with --qps \(options.queuePairs): give every rank the same --qps")
            }
            var queuePairs: [(UInt32, UInt32)] = []
            for _ in 0..<count { queuePairs.append((try r.u32(), try r.u32())) }
            let remote = Endpoint(queuePairs: queuePairs, lid: try r.u16(), mtu: Int(try r.u16()), gid: try r.blob(limit: 16))
            try r.expectEnd()
            guard remote.gid.count == 16 else { throw FabricError.protocolViolation(peer: "rank \(peer)", detail: "GID of \(remote.gid.count) bytes") }
            let link = wantedLinks[peer]!
            for q in 0..<count {
                try moveToReady(link.queuePairs[q]!, peer: peer, localPSN: localPSNs[peer]![q], remote: remote, queuePair: q)
            }
            try store.set("verbs/ready/\(rank)/\(peer)", [1])
        }
        for peer in wanted {
            _ = try store.get("verbs/ready/\(peer)/\(rank)", description: "rank \(peer)'s queue pairs to become ready")
        }
    }

    private func createQueuePair(_ link: PeerLink, queuePair: Int, into links: any QueuePairSink) throws -> UnsafeMutablePointer<ibv_qp> {
        let api = device.api
        var attr = device.queuePairAttributes(inlineBytes: options.inlineBytes)
        guard let qp = api.create_qp(device.pd, &attr) else {
            throw SystemCallError("ibv_create_qp", "rank \(rank): queue pair to rank \(link.peer) on \(port.device) (fewer --qps, or check ulimit -l)")
        }
        var a = ibv_qp_attr()
        a.qp_state = IBV_QPS_INIT
        a.pkey_index = 0
        a.port_num = UInt8(port.port)
        a.qp_access_flags = IBV_ACCESS_LOCAL_WRITE.rawValue | IBV_ACCESS_REMOTE_WRITE.rawValue | IBV_ACCESS_REMOTE_READ.rawValue
        let mask = IBV_QP_STATE.rawValue | IBV_QP_PKEY_INDEX.rawValue | IBV_QP_PORT.rawValue | IBV_QP_ACCESS_FLAGS.rawValue
        let rc = api.modify_qp(qp, &a, Int32(mask))
        guard rc == 0 else {
            _ = api.destroy_qp(qp)
            throw SystemCallError("ibv_modify_qp(INIT)", errno: rc, "rank \(rank): queue pair to rank \(link.peer) on \(port.device) port \(port.port)")
        }
        created.append(qp)
        try links.adopt(qp, granted: attr, link: link, queuePair: queuePair)
        return qp
    }

    /// Connects `qp` to the peer's queue pair number `queuePair` in `remote`.
    private func moveToReady(_ qp: UnsafeMutablePointer<ibv_qp>, peer: Int, localPSN: UInt32, remote: Endpoint, queuePair: Int) throws {
        let mtuBytes = [port.activeMTU, remote.mtu, options.mtu ?? Int.max].min()!
        guard let mtu = RDMADevices.mtuEnum(mtuBytes) else {
            throw FabricError.configuration("rank \(rank): no valid path MTU for rank \(peer) (local \(port.activeMTU), remote \(remote.mtu), --mtu \(options.mtu.map(String.init) ?? "-"))")
        }
        var a = ibv_qp_attr()
        a.qp_state = IBV_QPS_RTR
        a.path_mtu = mtu
        a.dest_qp_num = remote.queuePairs[queuePair].qpn
        a.rq_psn = remote.queuePairs[queuePair].psn
        a.max_dest_rd_atomic = 1
        a.min_rnr_timer = 12
        a.ah_attr.port_num = UInt8(port.port)
        a.ah_attr.sl = UInt8(options.serviceLevel)
        a.ah_attr.dlid = remote.lid
        if port.linkLayer == "Ethernet" || remote.lid == 0 {
            a.ah_attr.is_global = 1
            withUnsafeMutableBytes(of: &a.ah_attr.grh.dgid.raw) { dst in remote.gid.withUnsafeBytes { dst.copyMemory(from: $0) } }
            a.ah_attr.grh.sgid_index = UInt8(gid.index)
            a.ah_attr.grh.hop_limit = 64
            a.ah_attr.grh.traffic_class = UInt8(options.trafficClass)
        }
        var mask = IBV_QP_STATE.rawValue | IBV_QP_AV.rawValue | IBV_QP_PATH_MTU.rawValue | IBV_QP_DEST_QPN.rawValue
        mask |= IBV_QP_RQ_PSN.rawValue | IBV_QP_MAX_DEST_RD_ATOMIC.rawValue | IBV_QP_MIN_RNR_TIMER.rawValue
        var rc = device.api.modify_qp(qp, &a, Int32(mask))
        guard rc == 0 else {
            throw FabricError.configuration("rank \(rank): failed to move the queue pair to rank \(peer) to RTR on \(port.device) port \(port.port), GID index \(gid.index) (\(String(cString: strerror(rc)))): check MTU (\(mtuBytes)), the GID index and the peer's LID/GID (\(RDMADevices.formatGID(remote.gid)), LID \(remote.lid))")
        }
        a.qp_state = IBV_QPS_RTS
        a.timeout = 14
        a.retry_cnt = 7
        a.rnr_retry = 7
        a.sq_psn = localPSN
        a.max_rd_atomic = 1
        let rtsMask = IBV_QP_STATE.rawValue | IBV_QP_TIMEOUT.rawValue | IBV_QP_RETRY_CNT.rawValue | IBV_QP_RNR_RETRY.rawValue
            | IBV_QP_SQ_PSN.rawValue | IBV_QP_MAX_QP_RD_ATOMIC.rawValue
        rc = device.api.modify_qp(qp, &a, Int32(rtsMask))
        guard rc == 0 else {
            throw FabricError.configuration("rank \(rank): failed to move the queue pair to rank \(peer) to RTS on \(port.device) (\(String(cString: strerror(rc))))")
        }
    }
}
