import FabricCore
import CFabricRDMA
import Foundation

/// The chosen device, opened: its context, one protection domain, the completion queue every
/// queue pair reports to and, with `--events`, the channel that CQ signals. What connection
/// setup and the data paths are given to work with.
final class VerbsDevice {
    /// Work requests each queue of a queue pair holds (send and receive alike).
    static let queueDepth = 512

    let api: fab_rdma_api
    let name: String
    let context: UnsafeMutablePointer<ibv_context>
    let pd: UnsafeMutablePointer<ibv_pd>
    let cq: UnsafeMutablePointer<ibv_cq>
    let channel: UnsafeMutablePointer<ibv_comp_channel>?
    /// --cm: librdmacm's own device list, which owns `context` (its ids take only a PD of one
    /// of these); freed at close instead of closing the context.
    private let cmDevices: UnsafeMutablePointer<UnsafeMutablePointer<ibv_context>?>?

    /// Opens `name` (through librdmacm's device list with --cm) and sizes the CQ for
    /// `queuePairs` queue pairs to each of `peers` peers. A failure at any step releases what
    /// the steps before it acquired, newest first, before it throws.
    init(_ name: String, api: fab_rdma_api, rank: Int, throughConnectionManager: Bool, events: Bool, queuePairs: Int, peers: Int) throws {
        self.api = api
        self.name = name
        // Each acquisition pushes its release; success disarms them all. One list, so a step
        // added later cannot be missed by a hand-written catch.
        var release: [() -> Void] = []
        var opened = false
        defer { if !opened { for step in release.reversed() { step() } } }
        if throughConnectionManager {
            let (list, context) = try Self.openThroughConnectionManager(name, api: api, rank: rank)
            release.append { api.free_devices(list) }
            (cmDevices, self.context) = (list, context)
        } else {
            let context = try Self.open(name, api: api, rank: rank)
            release.append { _ = api.close_device(context) }
            (cmDevices, self.context) = (nil, context)
        }
        guard let pd = api.alloc_pd(context) else { throw SystemCallError("ibv_alloc_pd", "rank \(rank): \(name)") }
        release.append { _ = api.dealloc_pd(pd) }
        var channel: UnsafeMutablePointer<ibv_comp_channel>?
        if events {
            guard let c = api.create_comp_channel(context) else { throw SystemCallError("ibv_create_comp_channel", "rank \(rank): \(name)") }
            release.append { _ = api.destroy_comp_channel(c) }
            channel = c
        }
        // Room for every completion that can be outstanding: each queue pair's send and
        // receive queues, to every peer (bounded by what the device allows).
        let depth = Self.queueDepth
        var attributes = ibv_device_attr()
        let deviceLimit = api.query_device(context, &attributes) == 0 && attributes.max_cqe > 0 ? Int(attributes.max_cqe) : 4 * depth
        let entries = min(deviceLimit, max(4 * depth, 2 * depth * queuePairs * max(peers, 1) + 64))
        guard let cq = api.create_cq(context, Int32(entries), nil, channel, 0) else {
            throw SystemCallError("ibv_create_cq", "rank \(rank): \(name), \(entries) entries")
        }
        self.pd = pd
        self.channel = channel
        self.cq = cq
        opened = true
    }

    /// What every queue pair is created with: RC, both queues on the one CQ, `queueDepth` deep.
    func queuePairAttributes(inlineBytes: Int) -> ibv_qp_init_attr {
        var attr = ibv_qp_init_attr()
        attr.send_cq = cq
        attr.recv_cq = cq
        attr.qp_type = IBV_QPT_RC
        attr.cap.max_send_wr = UInt32(Self.queueDepth)
        attr.cap.max_recv_wr = UInt32(Self.queueDepth)
        attr.cap.max_send_sge = 1
        attr.cap.max_recv_sge = 1
        attr.cap.max_inline_data = UInt32(max(inlineBytes, 0))
        return attr
    }

    /// After every queue pair and memory region on it is gone.
    func close() {
        _ = api.destroy_cq(cq)
        if let channel { _ = api.destroy_comp_channel(channel) }
        _ = api.dealloc_pd(pd)
        if let cmDevices { api.free_devices(cmDevices) } else { _ = api.close_device(context) }
    }

    private static func open(_ device: String, api: fab_rdma_api, rank: Int) throws -> UnsafeMutablePointer<ibv_context> {
        var count: Int32 = 0
        guard let list = api.get_device_list(&count) else { throw FabricError.configuration("ibv_get_device_list failed") }
        defer { api.free_device_list(list) }
        for i in 0..<Int(count) where api.get_device_name(list[i]).map({ String(cString: $0) }) == device {
            if let context = api.open_device(list[i]) { return context }
        }
        throw SystemCallError("ibv_open_device", "rank \(rank): opening \(device)")
    }

    private static func openThroughConnectionManager(_ device: String, api: fab_rdma_api, rank: Int) throws
        -> (UnsafeMutablePointer<UnsafeMutablePointer<ibv_context>?>, UnsafeMutablePointer<ibv_context>) {
        var count: Int32 = 0
        guard let list = api.get_devices(&count) else {
            throw SystemCallError("rdma_get_devices", "rank \(rank): --cm (is the rdma_ucm module loaded?)")
        }
        for i in 0..<Int(count) {
            if let context = list[i], context.pointee.device.flatMap({ api.get_device_name($0) }).map({ String(cString: $0) }) == device {
                return (list, context)
            }
        }
        api.free_devices(list)
        throw FabricError.configuration("rank \(rank): --cm: librdmacm does not list \(device) (is rdma_ucm loaded, and does the device have an IP interface?)")
    }
}
