/// The registrations of a transport whose memory needs no NIC registration (TCP, shared
/// memory): each region gets a key of its own, so `deregister` releases exactly that one, once,
/// and `count` is what a leak check compares (`Transport.registrationCount`).
public struct RegistrationLedger {
    private var nextKey: UInt64 = 1
    private var live: Set<UInt64> = []

    public init() {}

    public var count: Int { live.count }

    public mutating func register(_ buffer: UnsafeMutableRawBufferPointer) -> MemoryRegion {
        let key = nextKey
        nextKey += 1
        live.insert(key)
        return MemoryRegion(base: buffer.baseAddress!, length: buffer.count, key: key)
    }

    /// False for a region not registered here, or released already.
    @discardableResult
    public mutating func deregister(_ region: MemoryRegion) -> Bool { live.remove(region.key) != nil }

    /// Everything released at once (the transport's close).
    public mutating func removeAll() { live.removeAll() }
}
