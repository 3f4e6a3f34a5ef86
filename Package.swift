// swift-tools-version: 6.1
import PackageDescription

// The dependency lists below are the architecture (docs/ARCHITECTURE.md draws them):
// a small core of protocols; the rendezvous and each transport in a module of its own,
// depending only on the core and the C shim it needs; one registry line per transport;
// collectives on the core only; results apart from their renderers; the engines on top;
// the CLI last.
let package = Package(
    name: "FabricBench",
    products: [
        .executable(name: "fabricbench", targets: ["fabricbench"]),
        .library(name: "FabricCore", targets: ["FabricCore"]),
        .library(name: "FabricCollectives", targets: ["FabricCollectives"]),
        .library(name: "FabricEngine", targets: ["FabricEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        // C shims, no logic. System: clocks, pinning, sockets. RDMA: verbs, rdma_cm and
        // numa opened at run time (dlopen), so one binary serves every host.
        .target(name: "CFabricSystem"),
        .target(name: "CFabricRDMA", linkerSettings: [.linkedLibrary("dl")]),
        // zlib for HdrHistogram's compressed encoding.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),

        // The core: Transport, MemoryRegion, Completion, errors, the Store protocol, the
        // transport registry's types, the typed control plane, framing and sockets.
        .target(name: "FabricCore", dependencies: ["CFabricSystem"]),
        // The rendezvous store (server, client, launcher detection): implements Store.
        .target(name: "FabricRendezvous", dependencies: ["FabricCore", "CFabricSystem"]),

        // Transports: one module each, on the core and the shim it needs.
        .target(name: "FabricTCP", dependencies: ["FabricCore", "CFabricSystem", "FabricPlacement"]),
        .target(name: "FabricVerbs", dependencies: ["FabricCore", "CFabricSystem", "CFabricRDMA", "FabricPlacement"]),
        .target(name: "FabricSHM", dependencies: ["FabricCore", "CFabricSystem"]),
        // The registry: one line per transport.
        .target(name: "FabricTransports", dependencies: ["FabricCore", "FabricTCP", "FabricVerbs", "FabricSHM"]),

        // Collective algorithms, written only against the core's Transport.
        .target(name: "FabricCollectives", dependencies: ["FabricCore"]),
        // Where a rank runs: CPU pinning and NUMA placement. Verbs places itself next to the NIC
        // it picked (only it knows the device, and it must bind before allocating its queues).
        .target(name: "FabricPlacement", dependencies: ["FabricCore", "CFabricSystem", "CFabricRDMA"]),
        // Clocks, HDR histograms, statistics.
        .target(
            name: "FabricMeasure",
            dependencies: [
                "CFabricSystem", "CZlib",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // The result model: run documents and result types, what JSON files hold.
        .target(name: "FabricResults", dependencies: ["FabricMeasure"]),
        // Renderers of the result model: text tables, CSV, HTML, and the sink that writes them.
        .target(name: "FabricReport", dependencies: ["FabricResults", "FabricMeasure"]),
        // Predictions at scale from measured distributions: closed forms and a simulation over
        // the collectives' own step structure.
        .target(name: "FabricModel", dependencies: ["FabricMeasure", "FabricCollectives", "FabricResults"]),
        // The measuring engines and job setup; they never see a renderer or a concrete transport.
        .target(
            name: "FabricEngine",
            dependencies: ["CFabricSystem", "FabricCore", "FabricRendezvous", "FabricTransports", "FabricCollectives",
                           "FabricPlacement", "FabricMeasure", "FabricResults"]
        ),
        .executableTarget(
            name: "fabricbench",
            dependencies: [
                "FabricCore", "FabricRendezvous", "FabricTransports", "FabricTCP", "FabricVerbs", "FabricCollectives",
                "FabricMeasure", "FabricResults", "FabricReport", "FabricEngine", "FabricModel", "FabricPlacement",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "FabricCoreTests", dependencies: ["FabricCore"]),
        .testTarget(name: "FabricRendezvousTests", dependencies: ["FabricRendezvous", "FabricCore"]),
        .testTarget(name: "FabricTCPTests", dependencies: ["FabricTCP", "FabricRendezvous", "FabricCore"]),
        .testTarget(name: "FabricSHMTests", dependencies: ["FabricSHM", "FabricCore", "FabricRendezvous"]),
        .testTarget(name: "FabricVerbsTests", dependencies: ["FabricVerbs", "FabricCore", "FabricPlacement", "CFabricRDMA", "FabricMeasure", "FabricTestSupport", "FabricRendezvous"]),
        // What several test targets share: ranks as threads of one test process over any
        // transport plugin, and the collectives' exact-result check. No XCTest in it.
        .target(
            name: "FabricTestSupport",
            dependencies: ["FabricCore", "FabricRendezvous", "FabricCollectives"],
            path: "Tests/FabricTestSupport"
        ),
        // Every transport passes the same suite (one line per transport instantiates it).
        .testTarget(
            name: "FabricConformanceTests",
            dependencies: ["FabricCore", "FabricRendezvous", "FabricTransports", "FabricTCP", "FabricVerbs", "FabricSHM",
                           "FabricCollectives", "FabricTestSupport"]
        ),
        .testTarget(name: "FabricMeasureTests", dependencies: ["FabricMeasure"]),
        .testTarget(name: "FabricModelTests", dependencies: ["FabricModel", "FabricMeasure", "FabricResults"]),
        .testTarget(name: "FabricReportTests", dependencies: ["FabricReport", "FabricResults", "FabricMeasure"]),
        .testTarget(name: "FabricEngineTests", dependencies: ["FabricEngine", "FabricCore", "FabricVerbs", "FabricTransports", "FabricResults", "FabricMeasure"]),
        // Test-only malloc interposition: counts a thread's allocations (the timed-loop tests).
        .target(name: "CAllocationCounter", path: "Tests/CAllocationCounter"),
        .testTarget(name: "FabricCollectivesTests", dependencies: ["FabricCollectives", "FabricCore", "FabricRendezvous", "FabricTCP", "FabricTestSupport", "CAllocationCounter"]),
        .testTarget(name: "FabricBenchCLITests", dependencies: ["fabricbench", "FabricMeasure", "FabricCore", "FabricRendezvous", "FabricResults", "FabricReport"]),
        .target(name: "CReference", path: "Benchmarks/CReference"),
        .executableTarget(
            name: "FabricBenchmarks",
            dependencies: [
                "FabricMeasure", "CFabricSystem", "FabricCollectives", "CReference",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/FabricBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
