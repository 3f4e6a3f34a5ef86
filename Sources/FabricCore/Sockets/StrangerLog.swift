import Foundation

/// What connection setup does with a stranger (a port scan, another job, a bad request): one
/// line on stderr, rate-limited so a flood cannot fill the log or slow the wait for the real
/// peers: the first three, then at each power of two, each with the count so far. TCP's data
/// setup and rdma_cm (`--cm`) share it.
public struct StrangerLog {
    public private(set) var count = 0
    private let rank: Int

    public init(rank: Int) { self.rank = rank }

    public mutating func ignored(_ what: String, because why: String) {
        count += 1
        if count <= 3 || count.nonzeroBitCount == 1 {
            FileHandle.standardError.write(Data("fabricbench: rank \(rank): ignored \(what) (\(count) so far): \(why)\n".utf8))
        }
    }
}
