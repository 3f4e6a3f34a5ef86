import Foundation
import XCTest

/// A secret job token from a file: refused when others can read the file, never shown in the
/// JSON, and ranks with different secrets never join one job.
final class JobTokenCLITests: XCTestCase {
    func tokenFile(_ dir: URL, _ name: String, mode: Int16, secret: String = UUID().uuidString) throws -> String {
        let path = dir.appendingPathComponent(name).path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data((secret + "\n").utf8)))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    func testATokenFileOthersCanReadIsRefused() throws {
        let dir = CLI.temporaryDirectory()
        let open = try tokenFile(dir, "open", mode: 0o644)
        let r = try CLI.run(["latency", "-n", "5", "--job-token-file", open], limit: 20)
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("chmod 600"), r.stderr)
        let viaEnvironment = try CLI.run(["latency", "-n", "5"], environment: ["FABRICBENCH_JOB_TOKEN_FILE": open], limit: 20)
        XCTAssertEqual(viaEnvironment.status, 2, viaEnvironment.stderr)
    }

    func testRanksSharingTheSecretRunAndTheSecretStaysOutOfTheResults() throws {
        let dir = CLI.temporaryDirectory()
        let secret = "s3cret-\(UUID().uuidString)"
        let file = try tokenFile(dir, "token", mode: 0o600, secret: secret)
        let json = dir.appendingPathComponent("r.json")
        let r = try CLI.run(["latency", "--np", "2", "-n", "50", "--job-token-file", file, "--json", json.path], limit: 60)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(try String(contentsOf: json, encoding: .utf8).contains(secret))
    }

    func testRanksWithDifferentSecretsNeverJoinOneJob() throws {
        let dir = CLI.temporaryDirectory()
        let port = CLI.freePort()
        let files = try (0..<2).map { try tokenFile(dir, "t\($0)", mode: 0o600) }
        let started = try (0..<2).map { rank in
            try CLI.start(["latency", "-n", "20", "--rank", "\(rank)", "--world-size", "2", "--master", "127.0.0.1:\(port)",
                           "--timeout", "5", "--job-token-file", files[rank]], in: dir)
        }
        let runs = started.map { CLI.wait($0, limit: 30) }
        XCTAssertNotEqual(runs[1].status, 0)
        XCTAssertTrue(runs[1].stderr.contains("another job"), runs[1].stderr)
        XCTAssertNotEqual(runs[0].status, 0, "rank 0 waits for a rank 1 of its own job and times out")
    }
}
