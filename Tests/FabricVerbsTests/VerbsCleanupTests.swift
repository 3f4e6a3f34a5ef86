import XCTest
@testable import FabricVerbs
import FabricCore
import CFabricRDMA

/// What a VerbsTransport acquires from the verbs library (device context or librdmacm's device
/// list, protection domain, completion channel, CQ, memory registrations) is released exactly
/// once: when its init fails at any step, and at close. The library is a stand-in (`FakeVerbs`)
/// that counts what is live and what is released twice or unknown, so this runs on any host.
final class VerbsCleanupTests: XCTestCase {
    override func setUp() { FakeVerbs.reset() }

    func make(cm: Bool = false, events: Bool = false) throws -> VerbsTransport {
        var options = VerbsOptions()
        options.connectionManager = cm
        options.events = events
        return try VerbsTransport(store: StandInStore(), options: options, api: FakeVerbs.api(), ports: [FakeVerbs.port])
    }

    func testAFailedInitReleasesWhatItAcquiredAtEveryStep() {
        let steps: [(failing: String, cm: Bool, events: Bool)] = [
            ("ibv_open_device", false, false), ("ibv_alloc_pd", false, false), ("ibv_create_comp_channel", false, true),
            ("ibv_create_cq", false, false), ("ibv_create_cq", false, true),
            ("rdma_get_devices", true, false), ("rdma_get_devices:other device", true, false),
            ("ibv_alloc_pd", true, false), ("ibv_create_comp_channel", true, true), ("ibv_create_cq", true, true),
        ]
        for step in steps {
            FakeVerbs.reset()
            FakeVerbs.failing = step.failing
            let name = "\(step.failing)\(step.cm ? " --cm" : "")\(step.events ? " --events" : "")"
            XCTAssertThrowsError(try make(cm: step.cm, events: step.events), "init succeeded with \(name) failing")
            XCTAssertGreaterThan(FakeVerbs.calls, 0, "\(name): the stand-in was never called")
            XCTAssertEqual(FakeVerbs.live, [:], "\(name): left behind")
            XCTAssertEqual(FakeVerbs.unknownReleases, 0, "\(name): released something twice or not its own")
        }
    }

    func testCloseReleasesEverythingOnceAndLaterDeregistersAreNoOps() throws {
        for (cm, events) in [(false, false), (true, true)] {
            FakeVerbs.reset()
            let t = try make(cm: cm, events: events)
            XCTAssertEqual(FakeVerbs.live[cm ? "rdma device list" : "context"], 1)
            XCTAssertEqual(FakeVerbs.live["pd"], 1)
            XCTAssertEqual(FakeVerbs.live["cq"], 1)
            let memory = try (0..<10).map { _ in try RegisteredMemory(count: 4096, transport: t) }
            XCTAssertEqual(FakeVerbs.live["mr"], 10)
            XCTAssertEqual(t.registrationCount, 10)
            t.close()
            XCTAssertEqual(FakeVerbs.live, [:], "cm \(cm): left behind after close")
            XCTAssertEqual(t.registrationCount, 0)
            _ = memory.count  // dropped after close: their deinits must not deregister again
        }
        XCTAssertEqual(FakeVerbs.unknownReleases, 0, "released twice or not its own")
    }

    /// Slots released by deregister are reused, and a region whose slot now holds other memory
    /// is refused rather than sent from with another buffer's keys.
    func testDeregisteredSlotsAreReusedAndAStaleRegionIsRefused() throws {
        let t = try make()
        defer { t.close() }
        let first = try RegisteredMemory(count: 4096, transport: t)
        var stale: MemoryRegion? = try RegisteredMemory(count: 8192, transport: t).region
        XCTAssertEqual(t.registrationCount, 1, "the dropped region is still registered")
        XCTAssertEqual(FakeVerbs.live["mr"], 1)
        let again = try RegisteredMemory(count: 4096, transport: t)
        XCTAssertEqual(again.region.key, stale!.key, "the released slot was not reused")
        XCTAssertNotEqual(t.remoteHandle(for: again.region).key, 0)
        if again.region.base != stale!.base {
            XCTAssertEqual(t.remoteHandle(for: stale!).key, 0, "a stale region got the keys of another buffer")
        }
        t.deregister(stale!)  // another buffer's slot now: must be left alone
        stale = nil
        XCTAssertEqual(t.registrationCount, 2)
        XCTAssertEqual(FakeVerbs.live["mr"], 2)
        _ = (first.region, again.region)
    }
}

/// Just enough of a store for an init that asks nothing of it.
final class StandInStore: Store {
    let rank = 0, worldSize = 2
    let token: UInt64 = 42
    let timeout = 1.0
    func set(_ key: String, _ value: [UInt8]) throws {}
    func get(_ key: String, description: String, timeout: Double?) throws -> [UInt8] {
        throw FabricError.configuration("the stand-in store holds nothing (\(description))")
    }
    func add(_ key: String, _ delta: Int64) throws -> Int64 { delta }
    func checkJobIsAlive() throws {}
}

/// A verbs library that hands out counted dummy objects. `failing` names the call that
/// returns NULL ("rdma_get_devices:other device": librdmacm lists another device only).
/// Tests run one at a time, so plain statics are enough.
enum FakeVerbs {
    nonisolated(unsafe) static var failing: String?
    nonisolated(unsafe) static var live: [String: Int] = [:]
    nonisolated(unsafe) static var handles: [UnsafeMutableRawPointer: String] = [:]
    nonisolated(unsafe) static var unknownReleases = 0
    nonisolated(unsafe) static var calls = 0
    nonisolated(unsafe) static let device: UnsafeMutablePointer<ibv_device> = {
        let d = UnsafeMutablePointer<ibv_device>.allocate(capacity: 1)
        d.initialize(to: ibv_device())
        return d
    }()
    nonisolated(unsafe) static let otherDevice: UnsafeMutablePointer<ibv_device> = {
        let d = UnsafeMutablePointer<ibv_device>.allocate(capacity: 1)
        d.initialize(to: ibv_device())
        return d
    }()
    nonisolated(unsafe) static let deviceName = strdup("fake0")!
    nonisolated(unsafe) static let otherName = strdup("other0")!

    static let port = RDMAPort(device: "fake0", port: 1, state: "ACTIVE", linkLayer: "Ethernet", activeMTU: 1024, lid: 0, speed: "",
                               numaNode: nil, gids: [GIDEntry(index: 1, gid: "::ffff:10.0.2.15", type: "RoCE v2",
                                                              raw: Array(repeating: 0, count: 10) + [0xff, 0xff, 10, 0, 2, 15])],
                               chosenGID: 1, choice: "stand-in")

    static func reset() {
        failing = nil
        live = [:]
        unknownReleases = 0
        calls = 0
        for (pointer, _) in handles { pointer.deallocate() }
        handles = [:]
    }

    /// A new zeroed object of `bytes`, counted as `kind`; nil when `call` is the failing one.
    static func acquire(_ kind: String, _ call: String, bytes: Int = 256) -> UnsafeMutableRawPointer? {
        calls += 1
        guard failing != call else { return nil }
        let p = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 16)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        handles[p] = kind
        live[kind, default: 0] += 1
        return p
    }

    static func release(_ pointer: UnsafeMutableRawPointer?, _ kind: String) -> Int32 {
        calls += 1
        guard let pointer, handles[pointer] == kind else {
            unknownReleases += 1
            return EINVAL
        }
        handles[pointer] = nil
        pointer.deallocate()
        live[kind]! -= 1
        if live[kind] == 0 { live[kind] = nil }
        return 0
    }

    static func api() -> fab_rdma_api {
        var api = fab_rdma_api()
        api.get_device_list = { count in
            let list = FakeVerbs.acquire("device list", "ibv_get_device_list")?.bindMemory(to: UnsafeMutablePointer<ibv_device>?.self, capacity: 2)
            list?[0] = FakeVerbs.device
            count?.pointee = 1
            return list
        }
        api.free_device_list = { list in _ = FakeVerbs.release(UnsafeMutableRawPointer(list), "device list") }
        api.get_device_name = { device in UnsafePointer(device == FakeVerbs.otherDevice ? FakeVerbs.otherName : FakeVerbs.deviceName) }
        api.open_device = { _ in
            let context = FakeVerbs.acquire("context", "ibv_open_device", bytes: MemoryLayout<ibv_context>.size)?.bindMemory(to: ibv_context.self, capacity: 1)
            context?.pointee.device = FakeVerbs.device
            return context
        }
        api.close_device = { context in FakeVerbs.release(UnsafeMutableRawPointer(context), "context") }
        api.get_devices = { count in
            // librdmacm's list owns its contexts: one object for both, freed by free_devices.
            guard let raw = FakeVerbs.acquire("rdma device list", FakeVerbs.failing == "rdma_get_devices:other device" ? "" : "rdma_get_devices",
                                              bytes: 16 + MemoryLayout<ibv_context>.size) else { return nil }
            let list = raw.bindMemory(to: UnsafeMutablePointer<ibv_context>?.self, capacity: 2)
            let context = (raw + 16).bindMemory(to: ibv_context.self, capacity: 1)
            context.pointee.device = FakeVerbs.failing == "rdma_get_devices:other device" ? FakeVerbs.otherDevice : FakeVerbs.device
            list[0] = context
            list[1] = nil
            count?.pointee = 1
            return list
        }
        api.free_devices = { list in _ = FakeVerbs.release(UnsafeMutableRawPointer(list), "rdma device list") }
        api.query_device = { _, attributes in
            attributes?.pointee.max_cqe = 65_536
            return 0
        }
        api.alloc_pd = { _ in FakeVerbs.acquire("pd", "ibv_alloc_pd")?.bindMemory(to: ibv_pd.self, capacity: 1) }
        api.dealloc_pd = { pd in FakeVerbs.release(UnsafeMutableRawPointer(pd), "pd") }
        api.create_comp_channel = { _ in FakeVerbs.acquire("channel", "ibv_create_comp_channel")?.bindMemory(to: ibv_comp_channel.self, capacity: 1) }
        api.destroy_comp_channel = { channel in FakeVerbs.release(UnsafeMutableRawPointer(channel), "channel") }
        api.create_cq = { _, _, _, _, _ in FakeVerbs.acquire("cq", "ibv_create_cq")?.bindMemory(to: ibv_cq.self, capacity: 1) }
        api.destroy_cq = { cq in FakeVerbs.release(UnsafeMutableRawPointer(cq), "cq") }
        api.reg_mr = { _, address, length, _ in
            let mr = FakeVerbs.acquire("mr", "ibv_reg_mr")?.bindMemory(to: ibv_mr.self, capacity: 1)
            mr?.pointee.addr = address
            mr?.pointee.length = length
            mr?.pointee.rkey = 7
            return mr
        }
        api.dereg_mr = { mr in FakeVerbs.release(UnsafeMutableRawPointer(mr), "mr") }
        return api
    }
}
