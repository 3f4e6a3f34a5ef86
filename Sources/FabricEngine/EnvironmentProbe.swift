import CFabricSystem
import CZlib
import FabricMeasure
import FabricResults
import FabricCore
import FabricTransports
import Foundation

public enum FabricBenchVersion {
    public static let current = "0.1.0"
    /// Compiled in by scripts/package.sh; "unknown" in a plain `swift build`.
    public static let commit = String(cString: fab_build_commit())
    /// What `fabricbench --version` prints.
    public static var description: String { "\(current) (commit \(commit))" }
}

/// What the JSON's `environment` records: enough to tell two runs' conditions apart.
public enum EnvironmentProbe {
    public static func collect(job: Job, clock: Clock) throws -> RunEnvironment {
        let placements = try job.placements()
        var settings = job.transport.settings
        if let cpu = job.pinnedCPU { settings["rank0_cpu"] = "\(cpu)" }
        var environment = RunEnvironment(
            hostname: ProcessInfo.processInfo.hostName,
            kernel: kernelRelease(),
            cpuModel: cpuModel(),
            cores: ProcessInfo.processInfo.activeProcessorCount,
            clockSource: clock.description,
            transport: TransportInfo(kind: job.transport.kind.rawValue, selection: job.selection.reason, settings: settings),
            launcher: job.spec.launcher.rawValue,
            worldSize: job.worldSize,
            rankHosts: placements.map(\.host),
            fabricbenchVersion: FabricBenchVersion.current,
            fabricbenchCommit: FabricBenchVersion.commit,
            libraries: libraries())
        environment.ranks = placements
        return environment
    }

    public static func kernelRelease() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: u.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    }

    public static func cpuModel() -> String {
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix("model name") || line.hasPrefix("Model") {
            if let colon = line.firstIndex(of: ":") { return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        return "unknown"
    }

    /// Versions read at run time from the libraries actually loaded.
    public static func libraries() -> [String: String] {
        var out = [
            "glibc": String(cString: fab_libc_version()),
            "zlib": String(cString: zlibVersion()),
            "hdrhistogram_encoding": "V2 compressed",
        ]
        for plugin in TransportRegistry.all { out.merge(plugin.libraries()) { a, _ in a } }
        return out
    }
}
