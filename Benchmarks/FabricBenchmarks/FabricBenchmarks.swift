import Benchmark
import CFabric
import FabricMeasure

// The per-sample cost of measuring: what a timed loop adds to every latency sample.
// Run: swift package --disable-sandbox benchmark --target FabricBenchmarks
// Compare the TSC and CLOCK_MONOTONIC_RAW reads against each other, and the histogram
// record against a plain array store (the cheapest possible way to keep a sample).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .instructions, .mallocCountTotal], maxDuration: .seconds(2))

    let tsc = Clock.calibratedTSC()
    Benchmark("clock read: TSC", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(tsc.now()) }
    }
    Benchmark("clock read: CLOCK_MONOTONIC_RAW", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(Clock.monotonicRaw.now()) }
    }

    Benchmark("sample: HDR histogram record", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var h = LatencyHistogram()
        var v: UInt64 = 5_000
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            h.record(nanoseconds: v)
            v = (v &* 1_103_515_245 &+ 12_345) % 200_000
        }
        benchmark.stopMeasurement()
        blackHole(h.count)
    }
    Benchmark("sample: reference array store", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var samples = [UInt64](repeating: 0, count: benchmark.scaledIterations.count)
        var v: UInt64 = 5_000
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            samples[i] = v
            v = (v &* 1_103_515_245 &+ 12_345) % 200_000
        }
        benchmark.stopMeasurement()
        blackHole(samples)
    }

    Benchmark("summary + encode of a 1M-sample histogram") { benchmark in
        var h = LatencyHistogram()
        for i in 0..<1_000_000 { h.record(nanoseconds: UInt64(3_000 + (i * 7919) % 50_000)) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(LatencySummary(h))
            blackHole(HistogramEncoding.encode(h))
        }
    }
}
