/// Element-wise reduction kernels: `out[i] = a[i] op b[i]`, where `out` may alias `a`.
/// Written as plain loops over typed pointers, which the optimizer turns into SIMD; the
/// benchmark `reduce: float sum 1 MiB` compares them with a plain C loop.
/// Integer arithmetic wraps (repeated timing iterations overflow by design).
public struct Reducer: Sendable {
    public let type: DataType
    public let op: ReduceOp

    public init(type: DataType, op: ReduceOp) {
        self.type = type
        self.op = op
    }

    public func callAsFunction(_ out: UnsafeMutableRawPointer, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int) {
        switch type {
        case .float32: Self.floating(out, a, b, count, op, Float.self)
        case .float64: Self.floating(out, a, b, count, op, Double.self)
        case .float16: Self.half(out, a, b, count, op)
        case .int32: Self.integer(out, a, b, count, op, Int32.self)
        case .int64: Self.integer(out, a, b, count, op, Int64.self)
        }
    }

    @inline(__always)
    static func floating<T: BinaryFloatingPoint>(_ out: UnsafeMutableRawPointer, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer,
                                                 _ n: Int, _ op: ReduceOp, _: T.Type) {
        let o = out.assumingMemoryBound(to: T.self), x = a.assumingMemoryBound(to: T.self), y = b.assumingMemoryBound(to: T.self)
        switch op {
        case .sum: for i in 0..<n { o[i] = x[i] + y[i] }
        case .prod: for i in 0..<n { o[i] = x[i] * y[i] }
        case .min: for i in 0..<n { o[i] = y[i] < x[i] ? y[i] : x[i] }
        case .max: for i in 0..<n { o[i] = y[i] > x[i] ? y[i] : x[i] }
        }
    }

    @inline(__always)
    static func integer<T: FixedWidthInteger>(_ out: UnsafeMutableRawPointer, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer,
                                              _ n: Int, _ op: ReduceOp, _: T.Type) {
        let o = out.assumingMemoryBound(to: T.self), x = a.assumingMemoryBound(to: T.self), y = b.assumingMemoryBound(to: T.self)
        switch op {
        case .sum: for i in 0..<n { o[i] = x[i] &+ y[i] }
        case .prod: for i in 0..<n { o[i] = x[i] &* y[i] }
        case .min: for i in 0..<n { o[i] = y[i] < x[i] ? y[i] : x[i] }
        case .max: for i in 0..<n { o[i] = y[i] > x[i] ? y[i] : x[i] }
        }
    }

    static func half(_ out: UnsafeMutableRawPointer, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int, _ op: ReduceOp) {
        #if arch(x86_64) || arch(arm64)
        floating(out, a, b, n, op, Float16.self)
        #else
        fatalError("float16 is not supported on this architecture")
        #endif
    }
}
