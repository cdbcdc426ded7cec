// The thread-pool workloads W1–W5 of BENCHMARKS.md, written once and run against every peer.
import BenchmarkScenarios
import Dispatch
import Glibc
import Synchronization

/// The counter every task increments as its last action.
public let completedTasks = Atomic<Int>(0)
/// Keeps the optimiser from deleting W3's arithmetic.
public let arithmeticSink = Atomic<UInt64>(0)

@inline(__always)
public func tinyTask() {
    completedTasks.add(1, ordering: .relaxed)
}

/// W3's ~5 ms of integer arithmetic, starting from the task's index.
@inline(never)
public func cpuTask(index: UInt64) {
    var x = index &+ 1
    for _ in 0..<PoolWorkload.cpuTaskRounds {
        x = x &* 6364136223846793005 &+ 1442695040888963407
        x ^= x >> 33
    }
    arithmeticSink.add(x & 1, ordering: .relaxed)
    tinyTask()
}

/// W5's 10 ms kernel sleep.
public func sleepTask() {
    var request = timespec(tv_sec: 0, tv_nsec: PoolWorkload.blockingSleepNanoseconds)
    var remaining = timespec()
    while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
    tinyTask()
}

/// W4's data: 10 000 000 doubles and one partial sum per chunk.
public final class SqrtData: @unchecked Sendable {
    public static let count = PoolWorkload.parallelForValues
    public static let chunks = PoolWorkload.parallelForChunks
    public let values: UnsafeMutableBufferPointer<Double>
    public let partials: UnsafeMutableBufferPointer<Double>

    public init() {
        values = .allocate(capacity: Self.count)
        for i in 0..<Self.count { values[i] = Double(i % 1000) + 0.5 }
        partials = .allocate(capacity: Self.chunks)
        partials.initialize(repeating: 0)
    }

    public func chunkRange(_ chunk: Int) -> Range<Int> {
        (Self.count * chunk / Self.chunks)..<(Self.count * (chunk + 1) / Self.chunks)
    }

    @inline(never)
    public func sum(_ range: Range<Int>) -> Double {
        var s = 0.0
        for i in range { s += values[i].squareRoot() }
        return s
    }

    public func chunkTask(_ chunk: Int) {
        partials[chunk] = sum(chunkRange(chunk))
        tinyTask()
    }

    public var total: Double { partials.reduce(0, +) }
}

/// Monotonic nanoseconds.
@inline(__always)
public func nowNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Checks the counter after a workload's wait-all returned.
public func expectCompleted(_ expected: Int, _ what: String) {
    let got = completedTasks.exchange(0, ordering: .acquiringAndReleasing)
    if got != expected {
        fatalError("\(what): \(got) tasks completed after wait-all, expected \(expected)")
    }
}

/// What one peer does for each workload. Each call builds a fresh pool (untimed), runs the
/// workload timed, checks the counter, and tears the pool down (untimed).
public protocol PoolPeer {
    var name: String { get }
    /// W1: seconds for `tasks` tiny tasks plus the wait-all.
    func tinyTasks(_ tasks: Int) -> Double
    /// W2: per-iteration submit→done latencies in ns (one clock read per iteration).
    func latency(iterations: Int, cap: UInt64) -> [UInt64]
    /// W3: seconds for 64 CPU-bound tasks.
    func cpuBound() -> Double
    /// W4: seconds for the parallel sqrt sum in 100 chunks.
    func parallelFor(_ data: SqrtData) -> Double
    /// W5: seconds for 200 × 10 ms sleeps.
    func blocking() -> Double
}

/// Runs the timed part of a workload and returns its seconds.
@inline(__always)
public func timed(_ body: () -> Void) -> Double {
    let start = nowNanoseconds()
    body()
    return Double(nowNanoseconds() - start) / 1e9
}

/// W2's loop: `once` submits one tiny task and waits for it.
@inline(__always)
public func latencyLoop(iterations: Int, cap: UInt64, _ once: () -> Void) -> [UInt64] {
    var samples: [UInt64] = []
    samples.reserveCapacity(iterations)
    let start = nowNanoseconds()
    var previous = start
    for _ in 0..<iterations {
        once()
        let now = nowNanoseconds()
        samples.append(now - previous)
        previous = now
        if now - start > cap { break }
    }
    return samples
}

/// Nearest-rank percentile: `sorted[ceil(p·n) − 1]`.
public func percentile(_ sorted: [UInt64], _ p: Double) -> UInt64 {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((p * Double(sorted.count)).rounded(.up))
    return sorted[max(0, min(sorted.count - 1, rank - 1))]
}
