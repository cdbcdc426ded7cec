/// The thread-pool workloads W1–W5 of BENCHMARKS.md: their names and sizes, for the same-run
/// comparison (`ThreadPoolComparison`) and the regression tracker (`ThreadPoolBenchmarks`).
package enum PoolWorkload: String, CaseIterable, Sendable {
    case tinyTasks = "W1"
    case latency = "W2"
    case cpuBound = "W3"
    case parallelFor = "W4"
    case blocking = "W5"

    /// What the workload measures, as BENCHMARKS.md names it.
    package var title: String {
        switch self {
        case .tinyTasks: "tiny tasks"
        case .latency: "submit→done latency"
        case .cpuBound: "CPU-bound"
        case .parallelFor: "parallel-for"
        case .blocking: "blocking"
        }
    }

    /// The pools' worker threads.
    package static let threads = 2
    /// W1: tiny tasks (each increments a counter) per run; the tracker runs a tenth.
    package static let tinyTaskCount = 1_000_000
    package static let trackedTinyTaskCount = 100_000
    /// W1 batched: tasks per `execute(contentsOf:)` call in the comparison, and in the tracker
    /// (a divisor of its task count, so every call is a whole batch).
    package static let batchSize = 1024
    package static let trackedBatchSize = 1000
    /// W2: timed submit→wait iterations, after untimed ones that wake the workers; stopped
    /// after the cap. The tracker runs `trackedLatencyIterations` per measurement.
    package static let latencyIterations = 100_000
    package static let latencyWarmup = 1000
    package static let latencyCapNanoseconds: UInt64 = 2_000_000_000
    package static let trackedLatencyIterations = 10_000
    /// W3: tasks of `cpuTaskRounds` rounds of integer arithmetic each (~5 ms).
    package static let cpuBoundTasks = 64
    package static let cpuTaskRounds = 2_700_000
    /// W4: square roots summed in chunks, one task per chunk.
    package static let parallelForValues = 10_000_000
    package static let parallelForChunks = 100
    /// W5: tasks of one kernel sleep each.
    package static let blockingTasks = 200
    package static let blockingSleepNanoseconds = 10_000_000
}
