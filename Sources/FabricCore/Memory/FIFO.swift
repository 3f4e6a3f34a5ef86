/// A first-in first-out queue that allocates only when it grows (its storage is reused
/// once drained): the transports keep posted operations in these on their hot paths.
public struct FIFO<Element> {
    @usableFromInline var storage: [Element] = []
    @usableFromInline var head = 0

    @inlinable public init() {}

    @inlinable public var isEmpty: Bool { head == storage.count }
    @inlinable public var count: Int { storage.count - head }

    /// The oldest element; assigning replaces it in place.
    @inlinable public var first: Element? {
        get { head < storage.count ? storage[head] : nil }
        set { if let v = newValue { storage[head] = v } }
    }

    /// The element `offset` places behind the oldest.
    @inlinable public subscript(offset: Int) -> Element {
        get { storage[head + offset] }
        set { storage[head + offset] = newValue }
    }

    @inlinable public mutating func append(_ element: Element) {
        if head == storage.count && head > 0 {
            storage.removeAll(keepingCapacity: true)
            head = 0
        }
        storage.append(element)
    }

    @discardableResult
    @inlinable public mutating func removeFirst() -> Element {
        let element = storage[head]
        head += 1
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        }
        return element
    }
}
