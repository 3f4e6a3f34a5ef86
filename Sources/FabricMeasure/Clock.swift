import CFabricSystem
import Foundation

/// Which counter timestamps come from. Both are monotonic; the TSC is cheaper to read
/// (~7 ns against ~20 ns for the vDSO) and is used only when the CPU says it is invariant.
public enum ClockSource: String, Codable, Sendable, CaseIterable {
    case tsc
    case monotonicRaw = "monotonic_raw"
}

/// A timestamp source with its conversion to nanoseconds.
/// `now()` returns raw ticks so the timed loop does no arithmetic; convert outside it.
public struct Clock: Sendable {
    public let source: ClockSource
    /// Nanoseconds per tick (1 for CLOCK_MONOTONIC_RAW).
    public let nanosecondsPerTick: Double

    @inline(__always)
    public func now() -> UInt64 {
        source == .tsc ? fab_rdtsc() : fab_clock_monotonic_raw_ns()
    }

    @inline(__always)
    public func nanoseconds(_ ticks: UInt64) -> UInt64 {
        source == .tsc ? UInt64(Double(ticks) * nanosecondsPerTick) : ticks
    }

    public static let monotonicRaw = Clock(source: .monotonicRaw, nanosecondsPerTick: 1)

    public static var tscIsInvariant: Bool { fab_tsc_is_invariant() != 0 }

    /// The TSC calibrated against CLOCK_MONOTONIC_RAW over `window` nanoseconds.
    public static func calibratedTSC(window: UInt64 = 20_000_000) -> Clock {
        let ns0 = fab_clock_monotonic_raw_ns(), t0 = fab_rdtsc()
        var ns1 = ns0
        while ns1 - ns0 < window { ns1 = fab_clock_monotonic_raw_ns() }
        let t1 = fab_rdtsc()
        return Clock(source: .tsc, nanosecondsPerTick: Double(ns1 - ns0) / Double(max(t1 &- t0, 1)))
    }

    /// `auto` takes the TSC when it is invariant, else CLOCK_MONOTONIC_RAW.
    public static func make(_ requested: ClockSource?) -> Clock {
        switch requested {
        case .monotonicRaw: return .monotonicRaw
        case .tsc: return calibratedTSC()
        case nil: return tscIsInvariant ? calibratedTSC() : .monotonicRaw
        }
    }

    /// One line for headers and the JSON environment.
    public var description: String {
        switch source {
        case .monotonicRaw: return "CLOCK_MONOTONIC_RAW"
        case .tsc: return String(format: "invariant TSC at %.3f GHz (calibrated against CLOCK_MONOTONIC_RAW)", 1 / nanosecondsPerTick)
        }
    }
}

/// Wall time since an arbitrary start, for deadlines and durations outside timed loops.
@inline(__always)
public func monotonicNanoseconds() -> UInt64 { fab_clock_monotonic_raw_ns() }
