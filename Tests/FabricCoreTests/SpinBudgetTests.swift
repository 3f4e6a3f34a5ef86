import XCTest
@testable import FabricCore

/// `waitForCompletions` against a transport whose one receive completes at a chosen time,
/// recording every poll and every sleep: when a wait spins, when it sleeps, and what it does
/// once its spin budget is spent. The budgets and waits are far apart (a 1 s budget against
/// a 20 ms wait), so no scheduling noise can change what is asserted.
final class SpinBudgetTests: XCTestCase {
    final class ScriptedTransport: Transport {
        let kind = TransportKind("scripted")
        let rank = 0, worldSize = 2
        let timeout: Double
        let spinBeforeSleep: SpinBudget
        let completesAt: UInt64
        let sleepMilliseconds: UInt32
        /// One entry a call, in order: "p" for a poll that found nothing, "s" for a sleep.
        var calls: [Character] = []
        var done = false
        let created = monotonicNow()
        /// Nanoseconds from creation to the first sleep.
        var firstSleepAfter: UInt64?
        init(budget: SpinBudget, completesAfter seconds: Double, sleepMilliseconds: UInt32 = 2, timeout: Double = 10) {
            spinBeforeSleep = budget
            completesAt = monotonicNow() + UInt64(seconds * 1e9)
            self.sleepMilliseconds = sleepMilliseconds
            self.timeout = timeout
        }
        var settings: [String: String] { [:] }
        func connect(to peers: [Int]) throws {}
        func register(_ buffer: UnsafeMutableRawBufferPointer) throws -> MemoryRegion {
            MemoryRegion(base: buffer.baseAddress!, length: buffer.count, key: 1)
        }
        func deregister(_ region: MemoryRegion) {}
        var registrationCount: Int { 0 }
        func postSend(to peer: Int, from region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {}
        func postReceive(from peer: Int, into region: MemoryRegion, offset: Int, length: Int, id: UInt64) throws {}
        func poll(_ completions: inout [Completion]) throws {
            if !done && monotonicNow() >= completesAt {
                done = true
                completions.append(Completion(peer: 1, operation: .receive, id: 7, bytes: 8))
            } else {
                calls.append("p")
            }
        }
        /// Stands in for poll(2) with nothing arriving: sleeps a little, then returns.
        func waitForActivity(milliseconds: Int32) throws {
            calls.append("s")
            if firstSleepAfter == nil { firstSleepAfter = monotonicNow() - created }
            usleep(sleepMilliseconds * 1000)
        }
        func checkJobIsAlive() throws {}
        func pendingPeers() -> [Int] { done ? [] : [1] }
        func describe(peer: Int) -> String { "rank \(peer) (scripted)" }
        func close() {}

        var sleeps: Int { calls.filter { $0 == "s" }.count }
        /// Polls between one sleep and the next, for every pair of sleeps.
        var pollsBetweenSleeps: [Int] {
            calls.split(separator: "s", omittingEmptySubsequences: false).dropFirst().dropLast().map(\.count)
        }
    }

    func wait(_ t: ScriptedTransport) throws {
        var completions: [Completion] = []
        try t.waitForCompletions(1, into: &completions, doing: "the scripted receive")
        XCTAssertEqual(completions, [Completion(peer: 1, operation: .receive, id: 7, bytes: 8)])
    }

    /// A wait shorter than the budget never sleeps: the wake-up would land on a message that
    /// is only late.
    func testAWaitInsideTheBudgetOnlySpins() throws {
        let t = ScriptedTransport(budget: SpinBudget(nanoseconds: 1_000_000_000), completesAfter: 0.02)
        try wait(t)
        XCTAssertEqual(t.sleeps, 0, "a 20 ms wait slept under a 1 s budget")
    }

    /// Past the budget the wait sleeps, and once spent the budget stays spent: every sleep
    /// that brought nothing is followed by the next after at most one clock check's polls,
    /// not by another budget of spinning.
    func testAWaitPastTheBudgetSleepsAndKeepsSleeping() throws {
        let t = ScriptedTransport(budget: SpinBudget(nanoseconds: 5_000_000), completesAfter: 0.3)
        try wait(t)
        XCTAssertGreaterThanOrEqual(t.sleeps, 5, "a 300 ms wait under a 5 ms budget slept \(t.sleeps) times")
        XCTAssertLessThanOrEqual(t.pollsBetweenSleeps.max() ?? 0, 64, "spun again between sleeps: \(t.pollsBetweenSleeps)")
        XCTAssertGreaterThanOrEqual(t.firstSleepAfter ?? 0, 5_000_000, "slept before the budget was spent")
    }

    func testSleepAtOnceSleepsAfterTheFirstEmptyPoll() throws {
        let t = ScriptedTransport(budget: .sleepAtOnce, completesAfter: 0.5)
        try wait(t)
        XCTAssertEqual(Array(t.calls.prefix(4)), ["p", "p", "s", "p"], "the fast path's poll, then one more, then a sleep")
        XCTAssertEqual(t.pollsBetweenSleeps.max() ?? 1, 1)
    }

    func testNeverSleepSpinsThroughALongWait() throws {
        let t = ScriptedTransport(budget: .neverSleep, completesAfter: 0.1)
        try wait(t)
        XCTAssertEqual(t.sleeps, 0)
    }

    /// The timeout still fires while spinning, naming the peer, and a spinning wait checks
    /// the clock often enough to fire it on time (here within seconds of 0.2 s, not 10).
    func testASpinningWaitStillTimesOutNamingThePeer() {
        let t = ScriptedTransport(budget: .neverSleep, completesAfter: 60, timeout: 0.2)
        let start = monotonicNow()
        XCTAssertThrowsError(try wait(t)) { error in
            XCTAssertTrue("\(error)".contains("rank 1 (scripted)"), "\(error)")
            XCTAssertTrue("\(error)".contains("the scripted receive"), "\(error)")
        }
        XCTAssertLessThan(Double(monotonicNow() - start) / 1e9, 5)
    }

    func testBudgetsDescribeThemselvesForTheReport() {
        XCTAssertEqual("\(SpinBudget.sleepAtOnce)", "0")
        XCTAssertEqual("\(SpinBudget.neverSleep)", "always spin")
        XCTAssertEqual("\(SpinBudget.default)", "1000 us")
    }
}
