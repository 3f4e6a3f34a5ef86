import Histogram

/// A fixed-memory distribution of durations in nanoseconds (HdrHistogram, 3 significant
/// digits, 1 ns to 10 minutes: about 240 KiB whatever the number of samples).
/// Histograms from several ranks or runs merge exactly with `add`.
public struct LatencyHistogram: Sendable, Equatable {
    public static let highestTrackableNanoseconds: UInt64 = 600_000_000_000

    public internal(set) var storage: Histogram<UInt64>
    /// Samples above the trackable range, recorded at the top of the range.
    public private(set) var clampedCount: UInt64 = 0

    public init() {
        storage = Histogram(lowestDiscernibleValue: 1, highestTrackableValue: Self.highestTrackableNanoseconds,
                            numberOfSignificantValueDigits: .three)
    }

    init(storage: Histogram<UInt64>) { self.storage = storage }

    @inline(__always)
    public mutating func record(nanoseconds value: UInt64) {
        if _slowPath(value > Self.highestTrackableNanoseconds) {
            clampedCount += 1
            storage.record(Self.highestTrackableNanoseconds)
        } else {
            storage.record(value)
        }
    }

    public mutating func add(_ other: LatencyHistogram) {
        storage.add(other.storage)
        clampedCount += other.clampedCount
    }

    public mutating func reset() { storage.reset(); clampedCount = 0 }

    public var count: UInt64 { storage.totalCount }
    public var isEmpty: Bool { storage.totalCount == 0 }

    /// Value at a percentile (0...100) in nanoseconds.
    public func value(atPercentile p: Double) -> UInt64 { storage.valueAtPercentile(p) }

    /// One non-empty bucket: `value` is its midpoint (what mean and stdev use), `highest` its
    /// top (what percentiles report), both in nanoseconds.
    public struct RecordedBucket: Sendable, Equatable {
        public var value: UInt64
        public var highest: UInt64
        public var count: UInt64
    }

    /// Every recorded bucket, ascending, from one walk over the counts.
    public var recordedBuckets: [RecordedBucket] {
        storage.recordedValues().map { RecordedBucket(value: storage.medianEquivalentForValue($0.value), highest: $0.value, count: UInt64($0.count)) }
    }
}
