import Foundation

/// `fabricbench smoke`: a fixed, fast suite for CI. Each check is one run of an existing
/// command (so it measures exactly what that command measures, with its own data checks),
/// started as a child process of this same binary with `--json` into the output folder.
/// Child processes, not calls in this process: the matrix needs a different number of ranks
/// than the others, and each command already owns its launch, failure and cleanup rules.
public enum SmokeSuite {
    public struct Check: Sendable {
        public let name: String
        /// The command line after the binary's name, without --json/--transport/--timeout.
        public let arguments: [String]
        public let what: String
    }

    /// Sizes are "small" (latency-bound) and "medium" (bandwidth-bound) for a loopback run on
    /// a small shared host: the whole suite stays well under 30 s on 2 cores.
    public static func checks(ranks: Int, matrixRanks: Int) -> [Check] {
        let np = ["--np", "\(ranks)"]
        return [
            Check(name: "latency", arguments: ["latency"] + np + ["-b", "8", "-e", "32K", "-f", "8", "-n", "1000", "-w", "100", "-c", "1"],
                  what: "ping-pong latency 8 B to 32 KiB, every echoed byte checked"),
            Check(name: "bandwidth", arguments: ["bandwidth"] + np + ["-b", "64K", "-e", "4M", "-f", "8", "-n", "200", "--window", "16"],
                  what: "streaming bandwidth 64 KiB to 4 MiB"),
            Check(name: "allreduce-ring", arguments: ["allreduce"] + np + ["--algo", "ring", "-b", "1K", "-e", "1M", "-f", "32", "-n", "20", "-w", "3", "-c", "1"],
                  what: "all-reduce, ring, 1 KiB to 1 MiB, results checked exactly"),
            Check(name: "allreduce-tree", arguments: ["allreduce"] + np + ["--algo", "tree", "-b", "1K", "-e", "1M", "-f", "32", "-n", "20", "-w", "3", "-c", "1"],
                  what: "all-reduce, double binary tree, 1 KiB to 1 MiB, results checked exactly"),
            Check(name: "matrix", arguments: ["matrix", "--np", "\(matrixRanks)", "-n", "300", "-w", "30", "--bw-size", "256K", "--bw-messages", "32", "--window", "8"],
                  what: "all-pairs matrix of \(matrixRanks) ranks, verdicts re-tested"),
        ]
    }

    public struct Outcome: Sendable {
        public let exitStatus: Int32
        public let seconds: Double
        /// The child's standard output (its table) and standard error.
        public let output: String
        public let errors: String
    }

    /// Runs one check to completion; SIGINT/SIGTERM reach the child through the process
    /// group, and the child saves what it measured as any run does.
    public static func run(_ arguments: [String], outputFolder: URL, name: String, executable: String = "/proc/self/exe") throws -> Outcome {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable).resolvingSymlinksInPath()
        p.arguments = arguments
        // A rank of this suite's children must not mistake smoke's own launcher for theirs.
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("FABRICBENCH_RANK") || key.hasPrefix("FABRICBENCH_WORLD") || key == "FABRICBENCH_MASTER" { env[key] = nil }
        p.environment = env
        let out = outputFolder.appendingPathComponent("\(name).out"), err = outputFolder.appendingPathComponent("\(name).err")
        guard FileManager.default.createFile(atPath: out.path, contents: nil), FileManager.default.createFile(atPath: err.path, contents: nil) else {
            throw SmokeError("cannot write into \(outputFolder.path)")
        }
        let outHandle = try FileHandle(forWritingTo: out), errHandle = try FileHandle(forWritingTo: err)
        defer { try? outHandle.close(); try? errHandle.close() }
        p.standardOutput = outHandle
        p.standardError = errHandle
        let started = Date()
        try p.run()
        p.waitUntilExit()
        let text = { (u: URL) in String(decoding: FileManager.default.contents(atPath: u.path) ?? Data(), as: UTF8.self) }
        let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
        return Outcome(exitStatus: status, seconds: Date().timeIntervalSince(started), output: text(out), errors: text(err))
    }

    /// "10%" or "0.1" → 0.1.
    public static func fraction(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.hasSuffix("%") { return Double(t.dropLast()).map { $0 / 100 } }
        return Double(t)
    }
}

public struct SmokeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
