import Foundation

/// Which machine and which boot a rank runs on: ranks share memory only when both match.
/// The boot id tells apart two hosts that happen to share a name.
struct HostIdentity: Equatable {
    var hostName: String
    var bootID: String

    static func current() -> HostIdentity {
        var name = [UInt8](repeating: 0, count: 256)
        let host = gethostname(&name, name.count - 1) == 0 ? String(decoding: name.prefix { $0 != 0 }, as: UTF8.self) : "unknown"
        let boot = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
        return HostIdentity(hostName: host, bootID: boot)
    }

    var encoded: [UInt8] { Array("\(hostName)\n\(bootID)".utf8) }

    init(hostName: String, bootID: String) {
        self.hostName = hostName
        self.bootID = bootID
    }

    init?(decoding bytes: [UInt8]) {
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        hostName = String(parts[0])
        bootID = String(parts[1])
    }

    /// How errors name it: the host name, and the boot id when the names alone look alike.
    func name(against other: HostIdentity) -> String {
        hostName == other.hostName ? "\(hostName) (boot id \(bootID))" : hostName
    }
}
