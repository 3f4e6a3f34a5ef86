/// Element-wise reduction kernels: `out[i] = a[i] op b[i]`, where `out` may alias `a`.
/// Explicit SIMD (16 lanes a step, then a scalar tail), not left to the auto-vectorizer:
/// with three pointers its run-time overlap checks kept the loop scalar. Each step loads
/// both inputs before it stores, so `out == a` is safe. The benchmark
/// `reduce: float sum 1 MiB` compares the kernel with a plain C `a[i] += b[i]` loop.
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

    /// Applies `vector` to 16-lane blocks and `scalar` to the tail.
    @inline(__always)
    static func apply<T: SIMDScalar>(_ out: UnsafeMutableRawPointer, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int,
                                     _ vector: (SIMD16<T>, SIMD16<T>) -> SIMD16<T>, _ scalar: (T, T) -> T) {
        let size = MemoryLayout<T>.stride
        var i = 0
        while i + 16 <= n {
            let x = a.loadUnaligned(fromByteOffset: i * size, as: SIMD16<T>.self)
            let y = b.loadUnaligned(fromByteOffset: i * size, as: SIMD16<T>.self)
            (out + i * size).storeBytes(of: vector(x, y), as: SIMD16<T>.self)
            i += 16
        }
        while i < n {
            let x = a.load(fromByteOffset: i * size, as: T.self), y = b.load(fromByteOffset: i * size, as: T.self)
            out.storeBytes(of: scalar(x, y), toByteOffset: i * size, as: T.self)
            i += 1
        }
    }

    @inline(__always)
    static func floating<T: BinaryFloatingPoint & SIMDScalar>(_ out: UnsafeMutableRawPointer, _ a: UnsafeRawPointer,
                                                              _ b: UnsafeRawPointer, _ n: Int, _ op: ReduceOp, _: T.Type) {
        switch op {
        case .sum: apply(out, a, b, n, { $0 + $1 }, { $0 + $1 } as (T, T) -> T)
        case .prod: apply(out, a, b, n, { $0 * $1 }, { $0 * $1 } as (T, T) -> T)
        case .min: apply(out, a, b, n, { $0.replacing(with: $1, where: $1 .< $0) }, { $1 < $0 ? $1 : $0 } as (T, T) -> T)
        case .max: apply(out, a, b, n, { $0.replacing(with: $1, where: $1 .> $0) }, { $1 > $0 ? $1 : $0 } as (T, T) -> T)
        }
    }

    @inline(__always)
    static func integer<T: FixedWidthInteger & SIMDScalar>(_ out: UnsafeMutableRawPointer, _ a: UnsafeRawPointer,
                                                           _ b: UnsafeRawPointer, _ n: Int, _ op: ReduceOp, _: T.Type) {
        switch op {
        case .sum: apply(out, a, b, n, { $0 &+ $1 }, { $0 &+ $1 } as (T, T) -> T)
        case .prod: apply(out, a, b, n, { $0 &* $1 }, { $0 &* $1 } as (T, T) -> T)
        case .min: apply(out, a, b, n, { $0.replacing(with: $1, where: $1 .< $0) }, { $1 < $0 ? $1 : $0 } as (T, T) -> T)
        case .max: apply(out, a, b, n, { $0.replacing(with: $1, where: $1 .> $0) }, { $1 > $0 ? $1 : $0 } as (T, T) -> T)
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
