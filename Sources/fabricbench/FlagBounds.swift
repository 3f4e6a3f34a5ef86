import ArgumentParser

/// The one rule for numeric flags: finite and inside a stated range, else exit 2 with the
/// flag, the value and the range. Values outside these ranges would trap in a conversion
/// (seconds to nanoseconds, a CPU number to Int32) or exhaust memory long before they
/// measured anything useful.
enum FlagBounds {
    static func check<T: Comparable>(_ value: T?, _ flag: String, _ range: ClosedRange<T>, unit: String = "") throws {
        guard let value else { return }
        if let d = value as? Double, !d.isFinite {
            throw ValidationError("\(flag) must be a finite number (got \(d))")
        }
        guard range.contains(value) else {
            throw ValidationError("\(flag) \(value) is out of range: give \(range.lowerBound)...\(range.upperBound)\(unit)")
        }
    }

    /// `--cpus 0,2`: CPU numbers, local rank i on entry i mod count; nil or `none`: no list.
    static func cpuList(_ text: String?) throws -> [Int] {
        guard let text, text != "none" else { return [] }
        let list = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !list.isEmpty, list.allSatisfy({ $0 != nil && (0...65535).contains($0!) }) else {
            throw ValidationError("--cpus '\(text)' is not a comma-separated list of CPU numbers 0...65535 (e.g. 0,1) or none")
        }
        return list.map { $0! }
    }

    static let seconds: ClosedRange<Double> = 0.001...1_000_000  // 11.5 days
    static let iterations: ClosedRange<Int> = 1...1_000_000_000
    static let bytes: ClosedRange<Int> = 1...(1 << 40)
    static let factor: ClosedRange<Double> = 0.000_001...1_000_000
}
