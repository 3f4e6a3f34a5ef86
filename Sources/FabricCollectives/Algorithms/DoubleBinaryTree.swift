/// Two binary trees over the same ranks such that (nearly) every rank that is a leaf in one
/// is an inner node in the other, so both halves of the data keep every link busy (NCCL's
/// double binary tree). Depth is O(log n), which is what small messages pay.
///
/// Tree 0 over positions 0..<n: position 0 is the root and has one child, the largest power
/// of two below n; an inner position p with lowest set bit b has children p - b/2 and
/// p + b/2 (or p + b/4, p + b/8, ... when that is past the end); odd positions are leaves.
/// Tree 1 is tree 0 mirrored (even n) or moved by one position (odd n): either way odd
/// positions land on even ranks, so tree 0's leaves (odd ranks) are tree 1's inner nodes.
public struct DoubleBinaryTree {
    struct Node: Equatable {
        var parent: Int?
        var children: [Int]
    }

    /// This rank's place in each tree.
    let trees: [Node]

    init(rank: Int, size n: Int) {
        trees = (0..<2).map { t in
            let position = Self.position(ofRank: rank, tree: t, size: n)
            let node = Self.positionNode(position, size: n)
            return Node(parent: node.parent.map { Self.rank(atPosition: $0, tree: t, size: n) },
                        children: node.children.map { Self.rank(atPosition: $0, tree: t, size: n) })
        }
    }

    var peers: [Int] { Array(Set(trees.flatMap { $0.children + ($0.parent.map { [$0] } ?? []) })).sorted() }

    public static func rank(atPosition p: Int, tree: Int, size n: Int) -> Int {
        guard tree == 1 else { return p }
        return n % 2 == 0 ? n - 1 - p : (p + 1) % n
    }

    static func position(ofRank r: Int, tree: Int, size n: Int) -> Int {
        guard tree == 1 else { return r }
        return n % 2 == 0 ? n - 1 - r : (r - 1 + n) % n
    }

    /// Public for the cost model, which walks the same trees without building every node.
    public static func children(ofPosition p: Int, size n: Int) -> [Int] {
        if p == 0 {
            guard n > 1 else { return [] }
            var top = 1
            while top * 2 < n { top *= 2 }
            return [top]
        }
        let low = p & -p
        guard low > 1 else { return [] }
        var result = [p - low / 2]
        var offset = low / 2
        while offset > 0 && p + offset >= n { offset /= 2 }
        if offset > 0 { result.append(p + offset) }
        return result
    }

    /// Parent by search: trees are small (n nodes) and built once per communicator.
    static func positionNode(_ p: Int, size n: Int) -> Node {
        let parent = (0..<n).first { children(ofPosition: $0, size: n).contains(p) }
        return Node(parent: parent, children: children(ofPosition: p, size: n))
    }
}
