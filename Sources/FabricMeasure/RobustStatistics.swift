import Foundation

/// Median and MAD over plain samples, and the outlier rule built on them. Robust because a
/// few extreme values (the ones we are looking for) cannot drag the reference with them,
/// as they would a mean and standard deviation.
public enum RobustStatistics {
    /// By selection, not sorting: linear, and without the generic sort's per-element
    /// overhead in debug builds (the fault attribution takes thousands of medians).
    public static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        var copy = values
        return copy.withUnsafeMutableBufferPointer { b in
            let k = b.count / 2
            let upper = select(b, k)
            guard b.count % 2 == 0 else { return upper }
            // Selection leaves everything before k at or below it: the lower middle is their largest.
            var lower = b[0]
            for i in 1..<k where b[i] > lower { lower = b[i] }
            return (lower + upper) / 2
        }
    }

    /// Quickselect (Hoare partition, middle pivot): puts the k-th smallest value at index k,
    /// with no larger value before it and no smaller one after it.
    static func select(_ b: UnsafeMutableBufferPointer<Double>, _ k: Int) -> Double {
        var lo = 0, hi = b.count - 1
        while lo < hi {
            let pivot = b[lo + (hi - lo) / 2]
            var i = lo, j = hi
            while i <= j {
                while i <= hi && b[i] < pivot { i += 1 }
                while j >= lo && b[j] > pivot { j -= 1 }
                if i <= j { b.swapAt(i, j); i += 1; j -= 1 }
            }
            if k <= j { hi = j } else if k >= i { lo = i } else { break }
        }
        return b[k]
    }

    /// Median absolute deviation from the median (unscaled).
    public static func mad(_ values: [Double]) -> Double {
        let m = median(values)
        return median(values.map { abs($0 - m) })
    }
}

/// Flags values worse than the group by a robust margin. Figures of a link are ratios
/// (3× the latency, a tenth of the bandwidth), so the rule works on their logarithms: a
/// value is flagged when it lies more than k robust standard deviations (1.4826·MAD of the
/// logs) from the median link on the bad side, and is at least `minimumRatio` times worse
/// than the median. On a linear scale a bandwidth could never fall k·MAD below a median
/// when the MAD is large; the ratio floor matters on a uniform fabric, where the MAD is
/// nearly zero and any noise would otherwise exceed it.
public struct OutlierRule: Sendable, Equatable {
    public var k: Double
    public var minimumRatio: Double

    public init(k: Double = 5, minimumRatio: Double = 1.5) {
        self.k = k
        self.minimumRatio = minimumRatio
    }

    public struct Flag: Sendable, Equatable {
        public let index: Int
        public let value: Double
        public let median: Double
        /// value / median: above 1 for "higher is worse", below 1 for "lower is worse".
        public let ratio: Double
    }

    /// `higherIsWorse`: latency; otherwise (bandwidth) low values are flagged.
    public func flag(_ values: [Double], higherIsWorse: Bool) -> [Flag] {
        guard values.count >= 3, values.allSatisfy({ $0 > 0 }) else { return [] }  // no majority, or no ratio
        let logs = values.map { Foundation.log($0) }
        let center = RobustStatistics.median(logs)
        let spread = 1.4826 * RobustStatistics.mad(logs)
        let floor = Foundation.log(minimumRatio)
        let median = RobustStatistics.median(values)
        return logs.enumerated().compactMap { i, l in
            let worse = higherIsWorse ? l - center : center - l
            return worse > k * spread && worse >= floor ? Flag(index: i, value: values[i], median: median, ratio: values[i] / median) : nil
        }
    }

    public var description: String {
        "more than \(Self.format(k)) robust standard deviations (1.4826·MAD, log scale) from the median link and at least \(Self.format(minimumRatio))× worse than it"
    }

    private static func format(_ v: Double) -> String {
        v == v.rounded() ? String(Int(v)) : String(format: "%g", v)
    }
}
