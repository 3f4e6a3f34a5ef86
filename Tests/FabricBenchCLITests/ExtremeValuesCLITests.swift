import Foundation
import Synchronization
import XCTest

/// Every numeric flag and launcher variable at the values that trap careless conversions:
/// each must be refused with exit 2 and one line, never a crash or a run.
final class ExtremeValuesCLITests: XCTestCase {
    static let extremes = ["inf", "nan", "1e20", "4294967296", "9223372036854775807", "-1"]

    /// (command, flag) for every numeric flag; the prefix makes the rest of the line valid.
    static let numericFlags: [(String, String)] = [
        ("latency", "--timeout"), ("latency", "--np"), ("latency", "--world-size"), ("latency", "--port"),
        ("latency", "--gid-index"), ("latency", "--mtu"), ("latency", "--tc"), ("latency", "--sl"), ("latency", "--inline"),
        ("latency", "--qps"), ("latency", "--numa"), ("latency", "--sock-buf"), ("latency", "--cpus"),
        ("latency", "-b"), ("latency", "-e"), ("latency", "-f"), ("latency", "-w"), ("latency", "-D"), ("latency", "-n"), ("latency", "-c"),
        ("bandwidth", "-n"), ("bandwidth", "--window"),
        ("matrix", "--lat-size"), ("matrix", "-n"), ("matrix", "--bw-size"), ("matrix", "--bw-messages"), ("matrix", "--window"),
        ("matrix", "-w"), ("matrix", "--outlier-k"), ("matrix", "--outlier-ratio"),
        ("allreduce", "-n"), ("allreduce", "-c"), ("allreduce", "--chunk"), ("allreduce", "--slots"), ("allreduce", "--min-busbw"),
        ("allreduce", "--max-time-us"), ("allreduce", "--straggler-k"), ("broadcast", "--root"), ("barrier", "-w"),
    ]

    func testEveryNumericFlagRefusesExtremeValues() throws {
        // Sizes and time ceilings of 2^32 (4 GiB, 71 minutes) are real requests, not extremes.
        let legitAtTwoToThe32: Set<String> = ["-b", "-e", "--lat-size", "--bw-size", "--max-time-us"]
        var list: [[String]] = []
        for (command, flag) in Self.numericFlags {
            for value in Self.extremes where !(value == "4294967296" && legitAtTwoToThe32.contains(flag)) {
                var arguments = [command, "\(flag)=\(value)"]
                if flag == "--world-size" { arguments += ["--rank", "0", "--master", "127.0.0.1:1"] }
                list.append(arguments)
            }
        }
        // Each case is a process refused at once: run them side by side.
        let cases = list
        let runs = Mutex([Int: CLIRun]())
        DispatchQueue.concurrentPerform(iterations: cases.count) { i in
            let r = (try? CLI.run(cases[i], limit: 20)) ?? CLIRun(status: -1, stdout: "", stderr: "could not start", seconds: 0)
            runs.withLock { $0[i] = r }
        }
        for (i, arguments) in cases.enumerated() {
            let r = runs.withLock { $0[i]! }
            XCTAssertEqual(r.status, 2, "\(arguments): exit \(r.status): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(arguments): \(r.stderr)")
            XCTAssertTrue(lines.first?.hasPrefix("fabricbench: error: ") ?? false, "\(arguments): \(r.stderr)")
        }
        // The inject-delay pair, and a CPU list with one bad entry.
        for value in ["0:inf", "0:5000000000", "4294967296:1", "-1:5", "0:-1"] {
            let r = try CLI.run(["allreduce", "--inject-delay", value], limit: 20)
            XCTAssertEqual(r.status, 2, "--inject-delay \(value): \(r.stderr)")
        }
    }

    func testLauncherVariablesRefuseExtremeValues() throws {
        for variable in ["WORLD_SIZE", "RANK", "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS", "FABRICBENCH_WORLD_SIZE"] {
            for value in Self.extremes + ["0"] where !(value == "0" && variable.hasSuffix("RANK")) {
                var environment = ["RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"]
                if variable.hasPrefix("OMPI") { environment = ["OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "2", "FABRICBENCH_MASTER": "127.0.0.1:1"] }
                if variable.hasPrefix("SLURM") { environment = ["SLURM_PROCID": "0", "SLURM_NTASKS": "2", "FABRICBENCH_MASTER": "127.0.0.1:1"] }
                if variable.hasPrefix("FABRICBENCH") { environment = ["FABRICBENCH_RANK": "0", "FABRICBENCH_WORLD_SIZE": "2", "FABRICBENCH_MASTER": "127.0.0.1:1"] }
                environment[variable] = value
                let r = try CLI.run(["latency", "--timeout", "2"], environment: environment, limit: 20)
                XCTAssertEqual(r.status, 2, "\(variable)=\(value): exit \(r.status): \(r.stderr)")
                XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(variable)=\(value): \(r.stderr)")
            }
        }
    }
}
