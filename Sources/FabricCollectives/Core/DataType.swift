/// Element types the collectives reduce, named as nccl-tests names them.
public enum DataType: String, CaseIterable, Sendable, Codable {
    case float32 = "float"
    case float64 = "double"
    case float16 = "half"
    case int32
    case int64

    public var size: Int {
        switch self {
        case .float16: return 2
        case .float32, .int32: return 4
        case .float64, .int64: return 8
        }
    }

    /// Accepts nccl-tests' names and the common aliases (float32, fp16, ...).
    public init?(name: String) {
        switch name.lowercased() {
        case "float", "float32", "f32", "fp32": self = .float32
        case "double", "float64", "f64", "fp64": self = .float64
        case "half", "float16", "f16", "fp16": self = .float16
        case "int32", "int", "i32": self = .int32
        case "int64", "i64": self = .int64
        default: return nil
        }
    }
}

public enum ReduceOp: String, CaseIterable, Sendable, Codable {
    case sum, prod, min, max
}
