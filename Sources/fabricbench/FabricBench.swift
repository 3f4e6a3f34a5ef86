import ArgumentParser
import FabricCore
import FabricEngine
import FabricResults
import Foundation

@main
struct FabricBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fabricbench",
        abstract: "Fabric latency, jitter and bandwidth benchmarks over TCP (and RDMA verbs where present).",
        discussion: """
        Run ranks locally with --np N, under mpirun/srun/torchrun (rank and size come from their \
        environment), or by hand with --rank/--world-size/--master.

        Examples:
          fabricbench latency --np 2 -b 8 -e 1M -f 4 --json out.json
          fabricbench bandwidth --np 2 -b 64K -e 16M --bidir
          fabricbench allreduce --np 4 -b 8 -e 64M -f 4
          mpirun -np 2 fabricbench latency --master node1:29500
          fabricbench smoke --junit fabricbench-smoke.xml          # the CI gate (under 30 s)
          fabricbench --version                                     # version and git commit
        """,
        version: "fabricbench \(FabricBenchVersion.description)",
        subcommands: [LatencyCommand.self, BandwidthCommand.self, MatrixCommand.self, CompareCommand.self, ReportCommand.self, CalibrateCommand.self, ModelCommand.self, AllReduceCommand.self, ReduceScatterCommand.self,
                      AllGatherCommand.self, BroadcastCommand.self, BarrierCommand.self, TuneCommand.self, DevicesCommand.self, SmokeCommand.self])

    /// Exit status 2 for bad input (flags, environment, addresses), 1 for failures at run time.
    static func main() {
        signal(SIGPIPE, SIG_IGN)
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch let error as FabricError {
            if case .configuration = error { fail("\(error)", code: 2) }
            fail("\(error)", code: 1)
        } catch let error as RankFailure {
            fail(error.description, code: error.code)
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }  // --help, --version
            if code == .validationFailure {
                let message = FabricBench.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
                let sub = arguments.first { !$0.hasPrefix("-") } ?? ""
                fail("\(message) (see 'fabricbench \(sub.isEmpty ? "" : sub + " ")--help')", code: 2)
            }
            if error is ExitCode { Glibc.exit(code.rawValue) }
            fail("\(error)", code: 1)
        }
    }

    static func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("fabricbench: error: \(message)\n".utf8))
        Glibc.exit(code)
    }
}

/// A command that measures and writes a result document. Its shape tells compare and report
/// how to read its files, so adding a command never means listing it again elsewhere.
protocol MeasuringCommand: ParsableCommand {
    static var resultShape: AnyRunDocument.Shape { get }
}

extension FabricBench {
    /// Command name to result shape, from the subcommands themselves.
    static var resultShapes: [String: AnyRunDocument.Shape] {
        var shapes: [String: AnyRunDocument.Shape] = [:]
        for case let command as any MeasuringCommand.Type in configuration.subcommands {
            shapes[command.configuration.commandName ?? "\(command)"] = command.resultShape
        }
        return shapes
    }
}

/// A run that already reported its failure; carries the exit status to use.
struct RankFailure: Error, CustomStringConvertible {
    let description: String
    let code: Int32
}
