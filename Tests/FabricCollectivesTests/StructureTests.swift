import XCTest
@testable import FabricCollectives

final class StructureTests: XCTestCase {
    func testDoubleBinaryTreesAreTreesForEverySize() {
        for n in 1...70 {
            for t in 0..<2 {
                var parents = [Int: Int]()
                for r in 0..<n {
                    let node = DoubleBinaryTree(rank: r, size: n).trees[t]
                    XCTAssertLessThanOrEqual(node.children.count, 2)
                    for c in node.children {
                        XCTAssertNil(parents[c], "n=\(n) tree \(t): rank \(c) has two parents")
                        parents[c] = r
                        XCTAssertEqual(DoubleBinaryTree(rank: c, size: n).trees[t].parent, r, "n=\(n) tree \(t): link \(r)->\(c) not mutual")
                    }
                }
                XCTAssertEqual(parents.count, n - 1, "n=\(n) tree \(t): every rank but the root has a parent")
                // Every rank reaches the root without a cycle.
                for r in 0..<n {
                    var at = r, steps = 0
                    while let p = parents[at] { at = p; steps += 1; XCTAssertLessThan(steps, n) }
                }
            }
        }
    }

    func testTheTwoTreesShareFewLeaves() {
        for n in [4, 5, 8, 16, 17, 64] {
            let leaves = (0..<2).map { t in Set((0..<n).filter { DoubleBinaryTree(rank: $0, size: n).trees[t].children.isEmpty }) }
            XCTAssertLessThanOrEqual(leaves[0].intersection(leaves[1]).count, 1, "n=\(n): \(leaves[0].intersection(leaves[1]).sorted())")
        }
    }

    func testPartitionCoversEveryElementOnce() {
        for count in [0, 1, 5, 17, 1000] {
            for parts in [1, 2, 3, 7] {
                let p = Partition(count: count, parts: parts)
                let ranges = (0..<parts).map(p.range)
                XCTAssertEqual(ranges.first?.lowerBound, 0)
                XCTAssertEqual(ranges.last?.upperBound, count)
                for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
                XCTAssertLessThanOrEqual((ranges.map(\.count).max() ?? 0) - (ranges.map(\.count).min() ?? 0), 1)
                XCTAssertEqual(p.range(-1), p.range(parts - 1))
            }
        }
    }

    func testReducerMatchesScalarArithmetic() {
        for type in DataType.allCases {
            for op in ReduceOp.allCases {
                let n = 37
                let a = UnsafeMutableRawPointer.allocate(byteCount: n * 8, alignment: 64)
                let b = UnsafeMutableRawPointer.allocate(byteCount: n * 8, alignment: 64)
                defer { a.deallocate(); b.deallocate() }
                for i in 0..<n { type.store(Double(i % 9 + 1), a, i); type.store(Double((i * 5) % 7 + 1), b, i) }
                Reducer(type: type, op: op)(a, a, b, count: n)
                for i in 0..<n {
                    XCTAssertEqual(type.load(a, i), op.combine(Double(i % 9 + 1), Double((i * 5) % 7 + 1)), "\(type) \(op) [\(i)]")
                }
            }
        }
    }

    func testBusBandwidthFactorsAreNcclTests() {
        XCTAssertEqual(CollectiveKind.allreduce.busBandwidthFactor(ranks: 4), 1.5)
        XCTAssertEqual(CollectiveKind.reducescatter.busBandwidthFactor(ranks: 4), 0.75)
        XCTAssertEqual(CollectiveKind.allgather.busBandwidthFactor(ranks: 4), 0.75)
        XCTAssertEqual(CollectiveKind.broadcast.busBandwidthFactor(ranks: 4), 1)
    }
}
