import XCTest
import FabricCore
import FabricSHM
import FabricTCP
import FabricVerbs

// Every transport passes the same suite (TransportConformance): one line per transport.
//
// Why a class per transport, each with its own test method: on Linux, SwiftPM finds tests by
// reading the index for test methods declared in each class's body. A subclass that only
// inherits its test methods (a base class with the checks, each subclass overriding the
// plugin) is never found, and would silently check nothing (`swift test list` with Swift
// 6.3.1 lists a subclass only when it declares a test method of its own). So each line is a
// class of its own, named for its transport: `swift test --filter VerbsConformance` runs one
// transport, `--skip` leaves one out, and a transport that cannot run here is reported as
// skipped with its probe's reason. Inside, every check runs and fails by name.

final class TCPConformance: XCTestCase { func testConformance() throws { try TransportConformance(TCPTransport.plugin).run() } }
// Verbs in CI runs in the Soft-RoCE VM under emulation (scripts/softroce-checks.sh): smaller counts, every check.
final class VerbsConformance: XCTestCase { func testConformance() throws { try TransportConformance(VerbsTransport.plugin, scale: .emulated).run() } }
final class VerbsSendPathConformance: XCTestCase { func testConformance() throws { try TransportConformance(VerbsTransport.plugin, named: "verbs --verb send", scale: .emulated) { $0[VerbsOptions.self].dataPath = .send }.run() } }
// One rank over two NICs (StripedTransport), here two TCP connections per peer on loopback.
final class StripedTCPConformance: XCTestCase { func testConformance() throws { try TransportConformance(TCPTransport.plugin, named: "tcp striped over lo+lo") { $0[TCPOptions.self].interface = "lo+lo" }.run() } }
final class SharedMemoryConformance: XCTestCase { func testConformance() throws { try TransportConformance(SharedMemoryTransport.plugin).run() } }
// Every wait sleeping at once, as when ranks outnumber cores: each message is a wake-up (the
// default spins 1 ms first, so the checks above rarely sleep).
final class TCPSleepingConformance: XCTestCase { func testConformance() throws { try TransportConformance(TCPTransport.plugin, named: "tcp, waits sleep at once") { $0[TCPOptions.self].spinBeforeSleep = .sleepAtOnce }.run() } }
final class SharedMemorySleepingConformance: XCTestCase { func testConformance() throws { try TransportConformance(SharedMemoryTransport.plugin, named: "shm, waits sleep at once") { $0[SharedMemoryOptions.self].spinBeforeSleep = .sleepAtOnce }.run() } }
