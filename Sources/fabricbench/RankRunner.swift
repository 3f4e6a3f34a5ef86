import FabricEngine
import FabricMeasure
import FabricReport
import CFabricSystem
import FabricCore
import FabricRendezvous
import FabricResults
import Foundation

/// The part every command shares: decide whether this process is a launcher or a rank,
/// start the job, hand results to rank 0's report sink, and on failure keep what was
/// measured and exit non-zero with the reason.
enum RankRunner {
    /// `body` is called on each rank with the started job; rank 0 gets a sink, others nil.
    static func run<R>(command: String, flags: JobFlags, arguments: [String: String],
                       makeSink: (RunDocument<R>) throws -> ReportSink<R>,
                       body: (_ job: Job, _ clock: Clock, _ sink: ReportSink<R>?) throws -> Void) throws {
        let environment = ProcessInfo.processInfo.environment
        let jobToken = try flags.resolvedJobToken(environment: environment)
        let detected = try launch(flags: flags, jobToken: jobToken)

        if detected == nil || flags.localRanks != nil {
            if let spec = detected, spec.launcher != .flags {
                throw FabricError.configuration("--np spawns its own ranks, but this process was already started by \(spec.launcher.rawValue) as rank \(spec.rank) of \(spec.worldSize): drop --np")
            }
            // Checked once here, so an unusable RDMA setup is one line, not one per rank.
            if flags.transport != .auto {
                let selection = TransportSelection.select(flags.transport, context: flags.jobOptions.transportContext)
                guard selection.available else { throw FabricError.configuration("--transport \(flags.transport): \(selection.reason)") }
            }
            let n = flags.localRanks ?? 2
            if flags.localRanks == nil {
                FileHandle.standardError.write(Data("# fabricbench: no launcher detected: running 2 local ranks over loopback (--np N to change)\n".utf8))
            }
            try launchLocally(ranks: n, timeout: flags.timeout, jobToken: jobToken)
            return
        }
        try runRank(spec: detected!, command: command, flags: flags, arguments: arguments, makeSink: makeSink, body: body)
    }

    /// This process's place in a job, when a launcher (or --rank flags) started it; nil when
    /// it is to launch the ranks itself.
    private static func launch(flags: JobFlags, jobToken: String?) throws -> LaunchSpec? {
        let manual = ManualLaunch(rank: flags.rank, worldSize: flags.worldSize, master: flags.master, jobToken: jobToken)
        var detected = try LaunchEnvironment.detect(manual, environment: ProcessInfo.processInfo.environment)
        if let localRank = flags.localRank { detected?.localRank = localRank }
        return detected
    }

    /// How many ranks this process will start on this host with `--np` (or its default of 2),
    /// or nil when it is itself a rank: what a command may check before the ranks exist.
    static func localLaunchSize(flags: JobFlags) throws -> Int? {
        let detected = try launch(flags: flags, jobToken: try flags.resolvedJobToken(environment: ProcessInfo.processInfo.environment))
        return detected == nil || flags.localRanks != nil ? flags.localRanks ?? 2 : nil
    }

    /// Re-runs this command line in N child processes, without --np.
    private static func launchLocally(ranks: Int, timeout: Double, jobToken: String?) throws {
        var argv = Array(CommandLine.arguments.dropFirst())
        if let i = argv.firstIndex(of: "--np") {
            argv.removeSubrange(i...min(i + 1, argv.count - 1))
        }
        argv.removeAll { $0.hasPrefix("--np=") }
        let outcome = try LocalLauncher.run(ranks: ranks, arguments: argv, timeout: timeout, jobToken: jobToken)
        if outcome.exitCode != 0 {
            throw RankFailure(description: outcome.failures.joined(separator: "; "), code: outcome.exitCode)
        }
    }

    private static func runRank<R>(spec: LaunchSpec, command: String, flags: JobFlags, arguments: [String: String],
                                   makeSink: (RunDocument<R>) throws -> ReportSink<R>,
                                   body: (Job, Clock, ReportSink<R>?) throws -> Void) throws {
        let clock = Clock.make(flags.clock.source)
        if spec.launcher == .fabricbench {
            // A rank of `--np` dies with its launcher, whatever killed the launcher.
            _ = fab_set_parent_death_signal(SIGTERM)
            if getppid() == 1 { throw FabricError.aborted("rank \(spec.rank): the --np launcher is gone") }
        }
        let job: Job
        do {
            var options = flags.jobOptions
            options.measurement = RecordedArguments.measurement(command: command, arguments)
            job = try Job(spec: spec, options: options)
        } catch {
            throw prefixed(error, rank: spec.rank)
        }
        var sink: ReportSink<R>?
        do {
            if job.rank == 0 {
                let environment = try EnvironmentProbe.collect(job: job, clock: clock)
                let document = RunDocument<R>(command: command, arguments: arguments, argv: RecordedArguments.redacted(CommandLine.arguments), environment: environment)
                sink = try makeSink(document)
            }
            let interrupts = Interrupts(sink: sink)
            defer { interrupts.cancel() }
            try body(job, clock, sink)
            sink?.updateTransportSettings(job.transport.settings)
            try sink?.complete()
            job.finish()
        } catch {
            sink?.updateTransportSettings(job.transport.settings)
            sink?.fail(error)
            job.abandon()
            throw prefixed(error, rank: spec.rank)
        }
    }

    /// Errors that do not already say which rank they happened on get the rank in front.
    private static func prefixed(_ error: Error, rank: Int) -> Error {
        let text = "\(error)"
        if text.hasPrefix("rank ") { return error }
        if case FabricError.configuration = error { return FabricError.configuration("rank \(rank): \(text)") }
        return FabricError.aborted("rank \(rank): \(text)")
    }
}

/// SIGINT and SIGTERM on a rank: rank 0's file says "interrupted" with every result measured
/// so far, and the rank exits 130 or 143 (128 + the signal), as a shell expects.
private final class Interrupts {
    private let sources: [DispatchSourceSignal]

    init(sink: (any InterruptibleSink)?) {
        sources = [SIGINT, SIGTERM].map { signalNumber in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                sink?.interrupt(signal: signalNumber)
                FileHandle.standardError.write(Data("fabricbench: interrupted by \(signalNumber == SIGINT ? "SIGINT" : "SIGTERM")\n".utf8))
                Glibc.exit(128 + signalNumber)
            }
            source.resume()
            return source
        }
    }

    /// Back to the default action, once the results are saved.
    func cancel() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

protocol InterruptibleSink: Sendable {
    func interrupt(signal: Int32)
}

extension ReportSink: InterruptibleSink {}
