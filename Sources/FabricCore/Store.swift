/// The job's shared key-value store, as Gloo's Store: what ranks use to find each other
/// before any data channel exists. Every wait has a deadline and fails naming what it waited
/// for. The rendezvous module implements it over TCP; tests may use `InProcessStore`.
///
/// A store also carries the job's identity (rank, size, token) and its health: a rank that
/// vanished without saying goodbye aborts every waiter, so `checkJobIsAlive` lets long data
/// waits notice a dead peer the data path cannot see.
public protocol Store: AnyObject {
    var rank: Int { get }
    var worldSize: Int { get }
    /// The job token every control frame carries, so two jobs on one host never cross.
    var token: UInt64 { get }
    /// Seconds a wait takes by default before it fails.
    var timeout: Double { get }

    func set(_ key: String, _ value: [UInt8]) throws
    /// Waits for `key` to be set by some rank. `description` says who should set it, e.g.
    /// "rank 3's data address"; it goes into the timeout's message. `timeout` 0 polls once.
    func get(_ key: String, description: String, timeout: Double?) throws -> [UInt8]
    /// Adds `delta` to the counter at `key` (0 when unset) and returns the new value.
    func add(_ key: String, _ delta: Int64) throws -> Int64
    /// Throws `FabricError.aborted` naming the rank that left the job, if one did.
    func checkJobIsAlive() throws
}

extension Store {
    public func get(_ key: String, description: String) throws -> [UInt8] {
        try get(key, description: description, timeout: nil)
    }

    /// Waits until every key is set (Gloo's wait), with one deadline for all of them.
    public func wait(_ keys: [String], description: (String) -> String, timeout: Double? = nil) throws {
        let deadline = Deadline(seconds: timeout ?? self.timeout)
        for key in keys {
            _ = try get(key, description: description(key), timeout: max(deadline.remainingSeconds, 0))
        }
    }

    /// All ranks arrive before any leaves.
    public func barrier(_ name: String) throws {
        let arrived = try add("barrier/\(name)/count", 1)
        // The last to arrive knows everyone is here: it leaves at once, not a round trip later.
        if arrived == Int64(worldSize) { return try set("barrier/\(name)/done", []) }
        _ = try get("barrier/\(name)/done", description: "every rank to reach barrier '\(name)'")
    }
}
