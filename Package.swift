// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "FabricBench",
    products: [
        .executable(name: "fabricbench", targets: ["fabricbench"]),
        .library(name: "FabricTransport", targets: ["FabricTransport"]),
        .library(name: "FabricMeasure", targets: ["FabricMeasure"]),
        .library(name: "FabricReport", targets: ["FabricReport"]),
        .library(name: "FabricEngine", targets: ["FabricEngine"]),
        .library(name: "FabricCollectives", targets: ["FabricCollectives"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Thin C shim: clocks, pinning, socket helpers, and the run-time (dlopen) RDMA loader.
        .target(name: "CFabric", linkerSettings: [.linkedLibrary("dl")]),
        // zlib for HdrHistogram's compressed encoding.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .target(
            name: "FabricMeasure",
            dependencies: [
                "CFabric", "CZlib",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .target(
            name: "FabricTransport",
            dependencies: [
                "CFabric",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "FabricReport",
            dependencies: ["FabricMeasure"]
        ),
        // Collective algorithms, written only against the Transport protocol.
        .target(name: "FabricCollectives", dependencies: ["FabricTransport"]),
        // Benchmark engines (latency, bandwidth) and job setup; the CLI is a thin front end.
        .target(
            name: "FabricEngine",
            dependencies: ["CFabric", "CZlib", "FabricTransport", "FabricMeasure", "FabricReport", "FabricCollectives"]
        ),
        .executableTarget(
            name: "fabricbench",
            dependencies: [
                "CFabric", "FabricTransport", "FabricMeasure", "FabricReport", "FabricEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "FabricMeasureTests", dependencies: ["FabricMeasure"]),
        .testTarget(name: "FabricTransportTests", dependencies: ["FabricTransport", "CFabric"]),
        .testTarget(name: "FabricReportTests", dependencies: ["FabricReport", "FabricMeasure"]),
        .testTarget(name: "FabricEngineTests", dependencies: ["FabricEngine", "FabricTransport", "FabricReport", "FabricMeasure"]),
        .testTarget(name: "FabricCollectivesTests", dependencies: ["FabricCollectives", "FabricTransport"]),
        .testTarget(name: "FabricBenchCLITests", dependencies: ["fabricbench", "FabricMeasure", "FabricTransport"]),
        .target(name: "CReference", path: "Benchmarks/CReference"),
        .executableTarget(
            name: "FabricBenchmarks",
            dependencies: [
                "FabricMeasure", "CFabric", "FabricCollectives", "CReference",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/FabricBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
