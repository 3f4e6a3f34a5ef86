import CFabricSystem
import Foundation

/// CPU placement of the calling thread.
public enum Affinity {
    public struct PinError: Error, CustomStringConvertible {
        public let cpu: Int
        public let errno: Int32
        public var description: String {
            "cannot pin to CPU \(cpu): \(String(cString: strerror(errno))) (online CPUs: 0-\(ProcessInfo.processInfo.activeProcessorCount - 1))"
        }
    }

    public static func pin(toCPU cpu: Int) throws {
        let rc = fab_pin_thread_to_cpu(Int32(cpu))
        if rc != 0 { throw PinError(cpu: cpu, errno: rc) }
    }

    public static var currentCPU: Int { Int(fab_current_cpu()) }
}
