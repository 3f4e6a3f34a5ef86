import Benchmark
import CFabricSystem
import CReference
import FabricCollectives
import FabricMeasure

// The per-sample cost of measuring: what a timed loop adds to every latency sample.
// Run: swift package --disable-sandbox benchmark --target FabricBenchmarks
// Also: the all-reduce reduction kernel against a plain C loop.
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

    // The all-reduce kernel against a plain C `a[i] += b[i]` on 1 MiB (target: >= 90% of its speed).
    let floats = (1 << 20) / 4
    let a = UnsafeMutablePointer<Float>.allocate(capacity: floats), b = UnsafeMutablePointer<Float>.allocate(capacity: floats)
    a.initialize(repeating: 1, count: floats)
    b.initialize(repeating: 2, count: floats)
    let sum = Reducer(type: .float32, op: .sum)
    Benchmark("reduce: float sum 1 MiB, Swift kernel", configuration: .init(metrics: [.wallClock, .throughput])) { benchmark in
        for _ in benchmark.scaledIterations { sum(a, a, b, count: floats) }
        blackHole(a[7])
    }
    Benchmark("reduce: float sum 1 MiB, C reference", configuration: .init(metrics: [.wallClock, .throughput])) { benchmark in
        for _ in benchmark.scaledIterations { reference_add_float(a, b, floats) }
        blackHole(a[7])
    }
    // The ring's usual case: out = input + received, three separate buffers.
    let c = UnsafeMutablePointer<Float>.allocate(capacity: floats)
    c.initialize(repeating: 0, count: floats)
    Benchmark("reduce: float sum 1 MiB, Swift kernel, out-of-place", configuration: .init(metrics: [.wallClock, .throughput])) { benchmark in
        for _ in benchmark.scaledIterations { sum(c, a, b, count: floats) }
        blackHole(c[7])
    }

    // What every reported size costs: its summary, against HdrHistogram's own calls for the
    // same figures (each walks the counts array again); and the encoding written to JSON.
    let million: LatencyHistogram = {
        var h = LatencyHistogram()
        for i in 0..<1_000_000 { h.record(nanoseconds: UInt64(3_000 + (i * 7919) % 50_000)) }
        return h
    }()
    Benchmark("summary: LatencySummary of a 1M-sample histogram") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(LatencySummary(million)) }
    }
    Benchmark("summary: reference, HdrHistogram's own percentiles, mean and stdev") { benchmark in
        let s = million.storage
        for _ in benchmark.scaledIterations {
            for p in [50, 90, 99, 99.9, 99.99] { blackHole(s.valueAtPercentile(p)) }
            blackHole(s.mean)
            blackHole(s.stdDeviation)
        }
    }
    Benchmark("encode: HdrHistogram V2 of a 1M-sample histogram") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(HistogramEncoding.encode(million)) }
    }
}
