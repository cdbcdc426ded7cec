// Regression tracking for the thread pool with ordo-one/benchmark:
//   swift package benchmark --target ThreadPoolBenchmarks
// The same-run comparison with Dispatch, NIOThreadPool and TaskGroup is the
// `ThreadPoolComparison` executable (see BENCHMARKS.md).
import Benchmark
import BenchmarkScenarios
import Dispatch
import Interprocess
import PoolWorkloads

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .throughput, .mallocCountTotal, .threads],
        maxDuration: .seconds(2))

    let tiny = PoolWorkload.trackedTinyTaskCount
    let threads = PoolWorkload.threads
    // W1 (scaled down): 100 000 tiny tasks through `execute`, then `waitUntilIdle`.
    Benchmark("W1 execute \(tiny / 1000)k tiny tasks, \(threads) workers", configuration: .init(scalingFactor: .kilo)) {
        benchmark in
        let pool = try ThreadPool(threadCount: threads)
        benchmark.startMeasurement()
        for _ in 0..<tiny { try pool.execute { tinyTask() } }
        try pool.waitUntilIdle()
        benchmark.stopMeasurement()
        expectCompleted(tiny, "W1")
        pool.shutdown()
        try pool.awaitTermination()
    }

    // W1 batched: the same through `execute(contentsOf:)` in batches of 1000.
    Benchmark(
        "W1 execute(contentsOf:) \(tiny / 1000)k tiny tasks, \(threads) workers",
        configuration: .init(scalingFactor: .kilo)
    ) { benchmark in
        let pool = try ThreadPool(threadCount: threads)
        let batch: [@Sendable () -> Void] = Array(repeating: { tinyTask() }, count: PoolWorkload.trackedBatchSize)
        benchmark.startMeasurement()
        for _ in 0..<(tiny / PoolWorkload.trackedBatchSize) { try pool.execute(contentsOf: batch) }
        try pool.waitUntilIdle()
        benchmark.stopMeasurement()
        expectCompleted(tiny, "W1 batched")
        pool.shutdown()
        try pool.awaitTermination()
    }

    // W2: submit one task and wait for its handle, 10 000 times per iteration.
    let latency = PoolWorkload.trackedLatencyIterations
    Benchmark(
        "W2 submit→wait latency ×\(latency / 1000)k, \(threads) workers", configuration: .init(scalingFactor: .kilo)
    ) { benchmark in
        let pool = try ThreadPool(threadCount: threads)
        benchmark.startMeasurement()
        for _ in 0..<latency { try pool.submit { tinyTask() }.wait() }
        benchmark.stopMeasurement()
        expectCompleted(latency, "W2")
        pool.shutdown()
        try pool.awaitTermination()
    }

    // Same-run peer for W2: Dispatch global queue + group.
    Benchmark("W2 peer: Dispatch async+group.wait ×\(latency / 1000)k", configuration: .init(scalingFactor: .kilo)) {
        benchmark in
        let queue = DispatchQueue.global()
        let group = DispatchGroup()
        benchmark.startMeasurement()
        for _ in 0..<latency {
            queue.async(group: group) { tinyTask() }
            group.wait()
        }
        benchmark.stopMeasurement()
        expectCompleted(latency, "W2 Dispatch")
    }

    // W4 with `parallelFor`: 10 000 000 doubles in 100 chunks (the caller takes part).
    let data = SqrtData()
    Benchmark("W4 parallelFor sqrt-sum \(SqrtData.count / 1_000_000)M in \(SqrtData.chunks) chunks, \(threads) workers")
    { benchmark in
        let pool = try ThreadPool(threadCount: threads)
        benchmark.startMeasurement()
        try pool.parallelFor(0..<SqrtData.chunks, chunkCount: SqrtData.chunks) { chunks in
            for c in chunks { data.chunkTask(c) }
        }
        benchmark.stopMeasurement()
        expectCompleted(SqrtData.chunks, "W4")
        blackHole(data.total)
        pool.shutdown()
        try pool.awaitTermination()
    }
}
