import FabricCore
import FabricSHM
import FabricTCP
import FabricVerbs

/// Every transport FabricBench can run over. A new transport is a module plus one line here
/// (and one line instantiating the conformance suite in Tests/FabricConformanceTests).
public enum TransportRegistry {
    public static let all: [TransportPlugin] = [
        TCPTransport.plugin,
        VerbsTransport.plugin,
        SharedMemoryTransport.plugin,
    ]

    public static func plugin(named name: String) -> TransportPlugin? {
        all.first { $0.kind.rawValue == name }
    }

    public static var names: [String] { all.map(\.kind.rawValue) }
}
