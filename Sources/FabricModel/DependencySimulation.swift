import FabricCollectives
import FabricMeasure
import Foundation

/// A seeded Monte Carlo over the algorithms' real step dependencies: each rank's step starts
/// when its own previous step is done and the data it waits for has arrived; every message
/// takes a fresh draw from the measured latency plus bytes·β (with `Topology.delaySite`
/// .sender the draw holds the sending rank first), and a rank's link sends one message at a
/// time. A late rank delays only those who wait on it, and only by as much as
/// they have not already waited: that is why the synchronous bound overshoots the ring.
public struct DependencySimulation: Sendable {
    public var topology: Topology
    public var chunkBytes: Int
    /// A ring over N ranks costs N² per run: above this many ranks (of one group, fewer when
    /// R groups run at once) it is extrapolated.
    public var ringLimit = 4096
    /// Bytes of one element: a ring on fewer elements than ranks sends only the pieces that
    /// hold some.
    public var elementBytes = 4

    public init(topology: Topology, chunkBytes: Int = PipelineTuning().chunkBytes) {
        self.topology = topology
        self.chunkBytes = chunkBytes
    }
    public init(link: LinkCosts, chunkBytes: Int = PipelineTuning().chunkBytes) { self.init(topology: .flat(link), chunkBytes: chunkBytes) }

    public struct Outcome: Sendable, Equatable {
        public var mean: Double
        public var p50: Double
        public var p99: Double
        public var runs: Int
        /// Scaled from a simulation at this many ranks (the ring above its limit).
        public var extrapolatedFrom: Int?
    }

    /// The most hosts a ring across hosts is simulated over: R rings of H hosts cost R·H² a
    /// run, held to what one flat ring of `ringLimit` ranks costs.
    public var ringHostLimit: Int { max(2, Int(Double(ringLimit) / Double(topology.ranksPerHost).squareRoot())) }

    /// Rank-steps of one run: what a run costs, for choosing how many runs fit.
    public func work(_ algorithm: ModelAlgorithm, ranks: Int) -> Double {
        let hosts = min(topology.hosts(ranks), algorithm == .ring ? ringHostLimit : .max)
        let simulated = min(ranks, hosts * topology.ranksPerHost)
        let steps = topology.phases(algorithm, bytes: 0, ranks: simulated, chunkBytes: chunkBytes).reduce(0) { $0 + max(1, $1.steps.count) }
        return Double(simulated) * Double(max(steps, 1))
    }

    /// `runs` seeded runs; the time of a run is when its last rank finishes.
    public func simulate(_ algorithm: ModelAlgorithm, bytes: Double, ranks: Int, runs: Int, seed: UInt64) -> Outcome {
        let r = topology.ranksPerHost, hosts = topology.hosts(ranks), limit = ringHostLimit
        let model = CollectiveModel(topology: topology, chunkBytes: chunkBytes)
        if algorithm == .ring && hosts > limit {
            // The delay a step adds beyond its mean, per step, taken from the largest ring
            // simulated (on a piece of the same size), times the steps at N: jitter absorbed
            // along a ring does not grow with N once the ring is long (each step waits on one
            // neighbour).
            let smallBytes = bytes * Double(limit) / Double(hosts), smallRanks = r * limit
            let base = simulate(.ring, bytes: smallBytes, ranks: smallRanks, runs: runs, seed: seed)
            let smallMean = model.mean(.ring, bytes: smallBytes, ranks: smallRanks)
            let scale = Double(2 * (r - 1) + 2 * (hosts - 1)) / Double(2 * (r - 1) + 2 * (limit - 1))
            let mean = model.mean(.ring, bytes: bytes, ranks: ranks)
            return Outcome(mean: mean + (base.mean - smallMean) * scale, p50: mean + (base.p50 - smallMean) * scale,
                           p99: mean + (base.p99 - smallMean) * scale, runs: base.runs, extrapolatedFrom: smallRanks)
        }
        var rng = SplitMix64(seed: seed)
        let intra = Sampler(topology.intra.latency), inter = Sampler(topology.inter.latency)
        var times: [Double] = []
        for _ in 0..<max(1, runs) {
            times.append(run(algorithm, bytes: bytes, ranks: ranks) { $0 == .intra ? intra.draw(&rng) : inter.draw(&rng) })
        }
        times.sort()
        let p = { (q: Double) in times[min(times.count - 1, Int((q * Double(times.count)).rounded(.down)))] }
        return Outcome(mean: times.reduce(0, +) / Double(times.count), p50: p(0.5), p99: p(0.99), runs: times.count, extrapolatedFrom: nil)
    }

    /// One run with every message's latency from `draw` (by link level); with a constant draw
    /// this is the step structure's own time, the α–β–γ mean. Rank host·R + i is local rank i
    /// of that host; a rank starts each phase when it finished the one before.
    public func run(_ algorithm: ModelAlgorithm, bytes: Double, ranks: Int, draw: (Topology.Level) -> Double) -> Double {
        guard ranks > 1 else { return 0 }
        var t = [Double](repeating: 0, count: ranks)
        for phase in topology.phases(algorithm, bytes: bytes, ranks: ranks, chunkBytes: chunkBytes) {
            let link = topology.link(phase.level)
            if phase.level == .intra {
                let r = phase.group
                for host in 0..<(ranks / r) {
                    var group = Array(t[(host * r)..<(host * r + r)])
                    Self.advance(phase, link: link, chunkBytes: chunkBytes, elementBytes: elementBytes, delaySite: topology.delaySite, times: &group) { draw(.intra) }
                    t.replaceSubrange((host * r)..<(host * r + r), with: group)
                }
            } else {
                let h = phase.group, r = ranks / h
                for local in 0..<r {
                    var group = (0..<h).map { t[$0 * r + local] }
                    Self.advance(phase, link: link, chunkBytes: chunkBytes, elementBytes: elementBytes, delaySite: topology.delaySite, times: &group) { draw(.inter) }
                    for host in 0..<h { t[host * r + local] = group[host] }
                }
            }
        }
        return t.max() ?? 0
    }

    /// One phase over one group: `times` holds when each member may start, and on return when
    /// it has its part of the result. With `delaySite` .sender a message's draw holds its sender
    /// before the message leaves (the rank sleeps, then sends), so a rank's own next step waits
    /// for its sends' delays too; with .network only the arrival waits.
    static func advance(_ phase: Topology.Phase, link: LinkCosts, chunkBytes: Int, elementBytes: Int = 4, delaySite: Topology.DelaySite,
                        times t: inout [Double], draw: () -> Double) {
        let ranks = t.count
        guard ranks > 1 else { return }
        let n = phase.bytes, beta = link.beta, gamma = link.gamma, held = delaySite == .sender
        switch phase.algorithm {
        case .ring:
            // Rank r sends piece r−s at step s and receives piece r−s−1. With fewer elements than
            // ranks only the first `occupied` pieces hold any; the code sends no message for an
            // empty piece, so nobody waits for (or sleeps before) one.
            let occupied = min(ranks, max(1, Int(n / Double(max(1, elementBytes)))))
            let nonEmpty = { (piece: Int) in occupied == ranks || ((piece % ranks) + ranks) % ranks < occupied }
            let first = phase.ringHalf == .allGather ? ranks - 1 : 0
            var next = t, delay = [Double](repeating: 0, count: held ? ranks : 0)
            for (i, step) in phase.steps.enumerated() {
                let s = first + i
                // Held, a piece goes in pipeline chunks, each its own send: the sender sleeps
                // before every one (a rank with nothing to send this step, not at all).
                if held {
                    let sends = step.sends(chunkBytes: chunkBytes)
                    for r in 0..<ranks {
                        delay[r] = 0
                        if nonEmpty(r - s) { for _ in 0..<sends { delay[r] += draw() } }
                    }
                }
                for r in 0..<ranks {
                    let left = r == 0 ? ranks - 1 : r - 1
                    let own = held ? t[r] + delay[r] : t[r]
                    guard nonEmpty(r - s - 1) else { next[r] = own; continue }
                    let arrival = t[left] + (held ? delay[left] : draw()) + step.bytes * beta
                    next[r] = max(own, arrival) + step.reduced * gamma
                }
                swap(&t, &next)
            }
        case .rd:
            var p = 1
            while p * 2 <= ranks { p *= 2 }
            let extra = ranks - p
            // Virtual rank v is real rank 2v+1 for v < extra (it took its even neighbour's
            // data first), else v + extra.
            var v = [Double](repeating: 0, count: p)
            for i in 0..<p {
                guard i < extra else { v[i] = t[i + extra]; continue }
                let d = draw()
                if held { t[2 * i] += d }
                v[i] = max(t[2 * i + 1], (held ? t[2 * i] : t[2 * i] + d) + n * beta) + n * gamma
            }
            var mask = 1, delay = [Double](repeating: 0, count: held ? p : 0)
            while mask < p {
                var next = v
                if held { for i in 0..<p { delay[i] = draw() } }
                for i in 0..<p {
                    let j = i ^ mask
                    next[i] = held ? max(v[i] + delay[i], v[j] + delay[j] + n * beta) + n * gamma
                        : max(v[i], v[j] + draw() + n * beta) + n * gamma
                }
                v = next
                mask *= 2
            }
            for i in 0..<p {
                guard i < extra else { t[i + extra] = v[i]; continue }
                let d = draw()
                t[2 * i + 1] = held ? v[i] + d : v[i]
                t[2 * i] = max(t[2 * i], v[i] + d + n * beta)
            }
        case .tree:
            let half = n / 2
            let chunks = max(1, Int((half / Double(chunkBytes)).rounded(.up)))
            let chunk = half / Double(chunks)
            let shape = TreeShape(size: ranks)
            // The two trees carry one half each, at the same time; a rank's sends in both hold
            // the same rank when the sender holds the delay.
            var trees = (0..<2).map { tree in
                TreeRun(rankAt: (0..<ranks).map { DoubleBinaryTree.rank(atPosition: $0, tree: tree, size: ranks) }, starts: t)
            }
            var sender = TreeSender(holds: held, free: t, wire: chunk * beta)
            for _ in 0..<chunks {
                for level in shape.byHeight {
                    for k in 0..<2 { trees[k].up(level, shape, chunk: chunk, gamma: gamma, sender: &sender, draw: draw) }
                }
                for level in shape.byHeight.reversed() {
                    for k in 0..<2 { trees[k].down(level, shape, sender: &sender, draw: draw) }
                }
            }
            for tree in trees { for (position, rank) in tree.rankAt.enumerated() { t[rank] = max(t[rank], tree.have[position]) } }
        }
    }
}

/// How a tree node's message leaves: on a network it goes when its data is ready and its link
/// is free, and arrives a draw later; when the sender holds the delay, the rank's thread
/// (shared by both trees) sleeps the draw first, and the message arrives once on the wire.
private struct TreeSender {
    let holds: Bool
    /// When each rank's thread is free (tracked only when it holds the delays).
    var free: [Double]
    /// µs a chunk takes on the wire.
    let wire: Double

    /// The thread of `rank` taking up work whose inputs are in at `ready`.
    mutating func start(_ rank: Int, at ready: Double) -> Double {
        guard holds else { return ready }
        return max(ready, free[rank])
    }

    mutating func finished(_ rank: Int, at time: Double) { if holds { free[rank] = time } }

    /// A chunk from `rank`, ready at `ready`, over the link whose clock is `link`: its arrival.
    mutating func send(_ rank: Int, ready: Double, link: inout Double, draw: () -> Double) -> Double {
        if holds {
            let leaves = max(ready, free[rank]) + draw()
            free[rank] = leaves
            link = max(leaves, link) + wire
            return link
        }
        link = max(ready, link) + wire
        return link + draw()
    }
}

/// One of the double binary tree's two trees, chunk by chunk, by position. Up: a node's chunk
/// is ready when its own previous chunk is and its children's copies have arrived and been
/// reduced; it then goes to the parent over the node's one link. Down: the root's result goes
/// to each child in turn, and on down the tree; `have` is when each position has the result.
private struct TreeRun {
    let rankAt: [Int]
    var upReady: [Double], arrival: [Double], upLink: [Double], have: [Double], downLink: [Double]

    init(rankAt: [Int], starts: [Double]) {
        self.rankAt = rankAt
        upReady = rankAt.map { starts[$0] }
        arrival = [Double](repeating: 0, count: rankAt.count)
        (upLink, have, downLink) = (arrival, arrival, arrival)
    }

    /// The up step of `positions` (none a child of another).
    mutating func up(_ positions: [Int], _ shape: TreeShape, chunk: Double, gamma: Double, sender: inout TreeSender, draw: () -> Double) {
        for x in positions {
            var ready = upReady[x]
            for c in shape.children[x] { ready = max(ready, arrival[c]) }
            ready = sender.start(rankAt[x], at: ready) + Double(shape.children[x].count) * chunk * gamma
            sender.finished(rankAt[x], at: ready)
            upReady[x] = ready
            if shape.parent[x] >= 0 { arrival[x] = sender.send(rankAt[x], ready: ready, link: &upLink[x], draw: draw) }
        }
    }

    mutating func down(_ positions: [Int], _ shape: TreeShape, sender: inout TreeSender, draw: () -> Double) {
        for x in positions {
            if shape.parent[x] < 0 { have[x] = max(have[x], upReady[x]) }
            for c in shape.children[x] { have[c] = max(have[c], sender.send(rankAt[x], ready: have[x], link: &downLink[x], draw: draw)) }
        }
    }
}

/// A tree of FabricCollectives' double binary tree, as parent and children arrays (by
/// position; the two trees have the same shape), built in O(N).
struct TreeShape {
    var parent: [Int]
    var children: [[Int]]
    /// Positions by height (leaves, then their parents, …, the root): children come before
    /// parents, and a rank's sends in the two trees are taken roughly in the order they become
    /// ready (a leaf's at once, an inner node's once its children's data is in).
    var byHeight: [[Int]]

    init(size n: Int) {
        parent = [Int](repeating: -1, count: n)
        children = (0..<n).map { DoubleBinaryTree.children(ofPosition: $0, size: n) }
        for p in 0..<n { for c in children[p] { parent[c] = p } }
        var order: [Int] = []
        var stack = [0]
        while let x = stack.popLast() {
            order.append(x)
            stack += children[x]
        }
        var height = [Int](repeating: 0, count: n)
        for x in order.reversed() { for c in children[x] { height[x] = max(height[x], height[c] + 1) } }
        byHeight = Array(repeating: [], count: (height.max() ?? 0) + 1)
        for x in order.reversed() { byHeight[height[x]].append(x) }
    }
}

/// Inverse-CDF draws from an empirical distribution, through a guide table (Chen's): the
/// first value of each of K equal slices of (0, 1), then a short scan; a few comparisons a
/// draw at any size, where a binary search over a fine histogram would take twenty.
struct Sampler {
    let values: [Double]
    let cumulative: [Double]
    let guide: [Int]

    init(_ d: EmpiricalDistribution) {
        values = d.values
        var sum = 0.0
        var cumulative = d.probabilities.map { sum += $0; return sum }
        if !cumulative.isEmpty { cumulative[cumulative.count - 1] = 1 }  // no rounding gap at the top
        self.cumulative = cumulative
        let k = max(1, values.count)
        var guide = [Int](repeating: 0, count: k)
        var j = 0
        for i in 0..<k {
            while j < cumulative.count - 1 && cumulative[j] <= Double(i) / Double(k) { j += 1 }
            guide[i] = j
        }
        self.guide = guide
    }

    func draw(_ rng: inout SplitMix64) -> Double {
        guard values.count > 1 else { return values.first ?? 0 }
        let u = Double(rng.next() >> 11) * 0x1p-53  // uniform in [0, 1), without the generic path
        var j = guide[min(guide.count - 1, Int(u * Double(guide.count)))]
        while cumulative[j] <= u && j < cumulative.count - 1 { j += 1 }
        return values[j]
    }
}
