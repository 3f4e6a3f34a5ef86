import FabricCore
import Foundation

extension TransportKind {
    public static let shm = TransportKind("shm")
}

extension SharedMemoryTransport {
    /// Never chosen by `auto`: a fabric benchmark must not quietly bypass the NIC. Asked for
    /// by name, it measures the host's own floor.
    public static let plugin = TransportPlugin(
        kind: .shm, displayName: "shared memory", needs: "one host",
        summary: "shared memory between ranks of one host", autoPreference: nil,
        probe: { _ in probe() },
        make: { store, context in
            var options = context[SharedMemoryOptions.self]
            options.timeout = context.timeout
            if context.ranksOutnumberCores { options.spinBeforeSleep = .sleepAtOnce }
            return try SharedMemoryTransport(store: store, options: options)
        })

    /// Usable when a shared-memory object can be created (/dev/shm mounted and writable).
    static func probe() -> TransportAvailability {
        let name = "/fabricbench-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0o600)
        guard fd >= 0 else {
            return TransportAvailability(usable: false, reason: "shm_open failed: \(String(cString: strerror(errno))) (is /dev/shm mounted and writable?)")
        }
        Glibc.close(fd)
        shm_unlink(name)
        return TransportAvailability(usable: true, reason: "/dev/shm is writable")
    }
}
