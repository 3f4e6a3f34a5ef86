/// Reading and writing single elements of any `DataType` as Double: used to set inputs and
/// check results, never in a timed loop. All values used are small integers, exact in every type.
extension DataType {
    public func store(_ value: Double, _ base: UnsafeMutableRawPointer, _ index: Int) {
        switch self {
        case .float32: base.storeBytes(of: Float(value), toByteOffset: index * 4, as: Float.self)
        case .float64: base.storeBytes(of: value, toByteOffset: index * 8, as: Double.self)
        case .float16:
            #if arch(x86_64) || arch(arm64)
            base.storeBytes(of: Float16(value), toByteOffset: index * 2, as: Float16.self)
            #endif
        case .int32: base.storeBytes(of: Int32(truncatingIfNeeded: Int64(value)), toByteOffset: index * 4, as: Int32.self)
        case .int64: base.storeBytes(of: Int64(value), toByteOffset: index * 8, as: Int64.self)
        }
    }

    public func load(_ base: UnsafeRawPointer, _ index: Int) -> Double {
        switch self {
        case .float32: return Double(base.load(fromByteOffset: index * 4, as: Float.self))
        case .float64: return base.load(fromByteOffset: index * 8, as: Double.self)
        case .float16:
            #if arch(x86_64) || arch(arm64)
            return Double(base.load(fromByteOffset: index * 2, as: Float16.self))
            #else
            return .nan
            #endif
        case .int32: return Double(base.load(fromByteOffset: index * 4, as: Int32.self))
        case .int64: return Double(base.load(fromByteOffset: index * 8, as: Int64.self))
        }
    }
}

extension ReduceOp {
    /// The input every rank contributes at an element: small integers, so the exact result
    /// is known whatever order the reduction runs in (products stay below 2^11 up to 55 ranks,
    /// exact even in half precision).
    public func input(rank: Int, index: Int) -> Double {
        switch self {
        case .prod: return (rank + index) % 5 == 0 ? 2 : 1
        default: return Double((rank * 7 + index * 3) % 11 + 1)
        }
    }

    public func combine(_ a: Double, _ b: Double) -> Double {
        switch self {
        case .sum: return a + b
        case .prod: return a * b
        case .min: return Swift.min(a, b)
        case .max: return Swift.max(a, b)
        }
    }

    /// The reduction over `ranks` ranks of the inputs at one element.
    public func expected(ranks: Int, index: Int) -> Double {
        (1..<ranks).reduce(input(rank: 0, index: index)) { combine($0, input(rank: $1, index: index)) }
    }
}
