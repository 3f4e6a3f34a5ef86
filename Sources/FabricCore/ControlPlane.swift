import Foundation

/// The engines' control messages over the store, typed: Codable values in one length-checked
/// encoding (JSON behind the store's own length-prefixed frames). Two shapes cover every
/// engine: "gather from all ranks to rank 0" and "rank 0 decides, everyone learns".
/// A value that does not decode is a protocol violation naming the rank that sent it.
public struct ControlPlane {
    public let store: any Store
    /// Values above this are refused before decoding (a result with every histogram fits).
    public static let maxValueBytes = 32 << 20

    public init(store: any Store) { self.store = store }

    public var rank: Int { store.rank }
    public var worldSize: Int { store.worldSize }

    /// Every rank in `ranks` (default: all) contributes `value` under `key`; rank 0 returns
    /// them in the order of `ranks`, the others nil. A rank not in `ranks` passes nil.
    public func gather<Value: Codable>(_ key: String, _ value: Value?, from ranks: [Int]? = nil,
                                       what: String? = nil) throws -> [Value]? {
        if let value { try store.set("\(key)/\(rank)", try Self.encode(value)) }
        guard rank == 0 else { return nil }
        let from = ranks ?? Array(0..<worldSize)
        var large: [Int] = []
        let values = try from.map { r in
            let raw = try store.get("\(key)/\(r)", description: "rank \(r)'s \(what ?? "'\(key)'")")
            if raw.count > Self.keptValueBytes { large.append(r) }
            return try Self.decode(Value.self, raw, from: "rank \(r)", what: what ?? key)
        }
        // Rank 0 is a gathered value's only reader (a gather key is used once). Large values
        // (every rank's iteration times) are emptied, so the store (in the --np launcher, or
        // in rank 0 under mpirun/srun) does not hold every size's reports for the whole job:
        // 1,000 ranks x 50 placements x 70 KiB would be 3.5 GB. Small ones are left, to spare
        // the round trips.
        for r in large { try store.set("\(key)/\(r)", []) }
        return values
    }

    /// Gathered values above this are emptied in the store once read.
    static let keptValueBytes = 4096

    /// Rank 0 calls `decide` and publishes its answer; every rank returns that answer.
    /// `decide` runs on rank 0 only, so it may gather first.
    public func decide<Value: Codable>(_ key: String, what: String, _ decide: () throws -> Value) throws -> Value {
        if rank == 0 {
            let value = try decide()
            try store.set(key, try Self.encode(value))
            return value
        }
        let raw = try store.get(key, description: "rank 0's \(what)")
        return try Self.decode(Value.self, raw, from: "rank 0", what: what)
    }

    /// Point to point: this rank publishes a value under `key`...
    public func publish<Value: Codable>(_ key: String, _ value: Value) throws {
        try store.set(key, try Self.encode(value))
    }

    /// ...and another reads it, waiting for `rank` to publish.
    public func read<Value: Codable>(_ key: String, from rank: Int, what: String) throws -> Value {
        let raw = try store.get(key, description: "rank \(rank)'s \(what)")
        return try Self.decode(Value.self, raw, from: "rank \(rank)", what: what)
    }

    public func barrier(_ name: String) throws { try store.barrier(name) }

    static func encode<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return [UInt8](try encoder.encode(value))
    }

    static func decode<Value: Decodable>(_ type: Value.Type, _ raw: [UInt8], from peer: String, what: String) throws -> Value {
        guard raw.count <= maxValueBytes else {
            throw FabricError.protocolViolation(peer: peer, detail: "its \(what) is \(raw.count) bytes, above the \(maxValueBytes)-byte limit")
        }
        do {
            return try JSONDecoder().decode(Value.self, from: Data(raw))
        } catch {
            throw FabricError.protocolViolation(peer: peer, detail: "its \(what) does not decode: \(error)")
        }
    }
}
