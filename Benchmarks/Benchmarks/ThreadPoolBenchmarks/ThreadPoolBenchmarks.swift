// Regression tracking for the thread pool with ordo-one/benchmark:
//   swift package benchmark --target ThreadPoolBenchmarks
// The same-run comparison with Dispatch, NIOThreadPool and TaskGroup is the
// `ThreadPoolComparison` executable (see BENCHMARKS.md).
import Benchmark
import Dispatch
import Interprocess
import PoolWorkloads

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .throughput, .mallocCountTotal, .threads],
        maxDuration: .seconds(2))

    // W1 (scaled down): 100 000 tiny tasks through `execute`, then `waitUntilIdle`.
    Benchmark("W1 execute 100k tiny tasks, 2 workers", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let pool = try ThreadPool(threadCount: 2)
        benchmark.startMeasurement()
        for _ in 0..<100_000 { try pool.execute { tinyTask() } }
        try pool.waitUntilIdle()
        benchmark.stopMeasurement()
        expectCompleted(100_000, "W1")
        pool.shutdown()
        try pool.awaitTermination()
    }

    // W1 batched: the same through `execute(contentsOf:)` in batches of 1024.
    Benchmark("W1 execute(contentsOf:) 100k tiny tasks, 2 workers", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let pool = try ThreadPool(threadCount: 2)
        let batch: [@Sendable () -> Void] = Array(repeating: { tinyTask() }, count: 1000)
        benchmark.startMeasurement()
        for _ in 0..<100 { try pool.execute(contentsOf: batch) }
        try pool.waitUntilIdle()
        benchmark.stopMeasurement()
        expectCompleted(100_000, "W1 batched")
        pool.shutdown()
        try pool.awaitTermination()
    }

    // W2: submit one task and wait for its handle, 10 000 times per iteration.
    Benchmark("W2 submit→wait latency ×10k, 2 workers", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let pool = try ThreadPool(threadCount: 2)
        benchmark.startMeasurement()
        for _ in 0..<10_000 { try pool.submit { tinyTask() }.wait() }
        benchmark.stopMeasurement()
        expectCompleted(10_000, "W2")
        pool.shutdown()
        try pool.awaitTermination()
    }

    // Same-run peer for W2: Dispatch global queue + group.
    Benchmark("W2 peer: Dispatch async+group.wait ×10k", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let queue = DispatchQueue.global()
        let group = DispatchGroup()
        benchmark.startMeasurement()
        for _ in 0..<10_000 {
            queue.async(group: group) { tinyTask() }
            group.wait()
        }
        benchmark.stopMeasurement()
        expectCompleted(10_000, "W2 Dispatch")
    }

    // W4 with `parallelFor`: 10 000 000 doubles in 100 chunks (the caller takes part).
    let data = SqrtData()
    Benchmark("W4 parallelFor sqrt-sum 10M in 100 chunks, 2 workers") { benchmark in
        let pool = try ThreadPool(threadCount: 2)
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
