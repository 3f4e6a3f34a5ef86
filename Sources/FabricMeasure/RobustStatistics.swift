import Foundation

/// Median and MAD over plain samples, and the outlier rule built on them. Robust because a
/// few extreme values (the ones we are looking for) cannot drag the reference with them,
/// as they would a mean and standard deviation.
public enum RobustStatistics {
    public static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
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
