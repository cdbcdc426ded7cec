import BenchmarkScenarios
import Dispatch
import Interprocess
import NIOPosix
import Synchronization

/// Interprocess `ThreadPool`, one task per `execute`, `waitUntilIdle` as wait-all.
public struct InterprocessPeer: PoolPeer {
    public let name = "Interprocess ThreadPool"
    let threads: Int
    public init(threads: Int) { self.threads = threads }

    func withPool(_ body: (ThreadPool) throws -> Double) -> Double {
        let pool = try! ThreadPool(threadCount: threads)
        let seconds = try! body(pool)
        pool.shutdown()
        try! pool.awaitTermination()
        return seconds
    }

    public func tinyTasks(_ tasks: Int) -> Double {
        withPool { pool in
            let s = timed {
                for _ in 0..<tasks { try! pool.execute { tinyTask() } }
                try! pool.waitUntilIdle()
            }
            expectCompleted(tasks, name)
            return s
        }
    }

    public func latency(iterations: Int, cap: UInt64) -> [UInt64] {
        let pool = try! ThreadPool(threadCount: threads)
        defer {
            pool.shutdown()
            try! pool.awaitTermination()
        }
        // Warm-up: wake the workers.
        for _ in 0..<PoolWorkload.latencyWarmup { _ = try! pool.submit { tinyTask() }.wait() }
        completedTasks.store(0, ordering: .relaxed)
        let samples = latencyLoop(iterations: iterations, cap: cap) {
            try! pool.submit { tinyTask() }.wait()
        }
        expectCompleted(samples.count, name)
        return samples
    }

    public func cpuBound() -> Double {
        withPool { pool in
            let s = timed {
                for i in 0..<PoolWorkload.cpuBoundTasks { try! pool.execute { cpuTask(index: UInt64(i)) } }
                try! pool.waitUntilIdle()
            }
            expectCompleted(PoolWorkload.cpuBoundTasks, name)
            return s
        }
    }

    public func parallelFor(_ data: SqrtData) -> Double {
        withPool { pool in
            let s = timed {
                for c in 0..<SqrtData.chunks { try! pool.execute { data.chunkTask(c) } }
                try! pool.waitUntilIdle()
            }
            expectCompleted(SqrtData.chunks, name)
            return s
        }
    }

    public func blocking() -> Double {
        withPool { pool in
            let s = timed {
                for _ in 0..<PoolWorkload.blockingTasks { try! pool.execute { sleepTask() } }
                try! pool.waitUntilIdle()
            }
            expectCompleted(PoolWorkload.blockingTasks, name)
            return s
        }
    }

    /// W1 with `execute(contentsOf:)` in batches of `PoolWorkload.batchSize` (1024) closures.
    public func tinyTasksBatched(_ tasks: Int) -> Double {
        withPool { pool in
            let batch: [@Sendable () -> Void] = Array(repeating: { tinyTask() }, count: PoolWorkload.batchSize)
            let s = timed {
                var left = tasks
                while left >= batch.count {
                    try! pool.execute(contentsOf: batch)
                    left -= batch.count
                }
                if left > 0 { try! pool.execute(contentsOf: Array(batch[0..<left])) }
                try! pool.waitUntilIdle()
            }
            expectCompleted(tasks, name)
            return s
        }
    }

    /// W4 with `parallelFor` (100 chunks; the calling thread takes part).
    public func parallelForAPI(_ data: SqrtData) -> Double {
        withPool { pool in
            let s = timed {
                try! pool.parallelFor(0..<SqrtData.chunks, chunkCount: SqrtData.chunks) { chunks in
                    for c in chunks { data.chunkTask(c) }
                }
            }
            expectCompleted(SqrtData.chunks, name)
            return s
        }
    }
}

/// libdispatch: the global concurrent queue plus a `DispatchGroup` (its width here is the
/// number of CPUs, 2; it cannot be set to exactly 2 workers).
public struct DispatchPeer: PoolPeer {
    public let name = "Dispatch (global queue + group)"
    public init() {}

    func run(_ count: Int, _ body: @escaping @Sendable () -> Void) -> Double {
        let queue = DispatchQueue.global()
        let group = DispatchGroup()
        let s = timed {
            for _ in 0..<count { queue.async(group: group, execute: body) }
            group.wait()
        }
        expectCompleted(count, name)
        return s
    }

    public func tinyTasks(_ tasks: Int) -> Double { run(tasks) { tinyTask() } }

    public func latency(iterations: Int, cap: UInt64) -> [UInt64] {
        let queue = DispatchQueue.global()
        let group = DispatchGroup()
        for _ in 0..<PoolWorkload.latencyWarmup {
            queue.async(group: group) { tinyTask() }
            group.wait()
        }
        completedTasks.store(0, ordering: .relaxed)
        let samples = latencyLoop(iterations: iterations, cap: cap) {
            queue.async(group: group) { tinyTask() }
            group.wait()
        }
        expectCompleted(samples.count, name)
        return samples
    }

    public func cpuBound() -> Double {
        let queue = DispatchQueue.global()
        let group = DispatchGroup()
        let s = timed {
            for i in 0..<PoolWorkload.cpuBoundTasks { queue.async(group: group) { cpuTask(index: UInt64(i)) } }
            group.wait()
        }
        expectCompleted(PoolWorkload.cpuBoundTasks, name)
        return s
    }

    public func parallelFor(_ data: SqrtData) -> Double {
        let queue = DispatchQueue.global()
        let group = DispatchGroup()
        let s = timed {
            for c in 0..<SqrtData.chunks { queue.async(group: group) { data.chunkTask(c) } }
            group.wait()
        }
        expectCompleted(SqrtData.chunks, name)
        return s
    }

    public func blocking() -> Double { run(PoolWorkload.blockingTasks) { sleepTask() } }
}

/// A count-down latch for peers without a wait-all: the last task signals a semaphore.
final class Latch: @unchecked Sendable {
    let remaining: Atomic<Int>
    let done = DispatchSemaphore(value: 0)
    init(_ count: Int) { remaining = Atomic(count) }
    @inline(__always) func countDown() {
        if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { done.signal() }
    }
    func wait() { done.wait() }
}

/// SwiftNIO's `NIOThreadPool` with 2 threads; it has no wait-all, so a latch counts down.
public struct NIOPeer: PoolPeer {
    public let name = "SwiftNIO NIOThreadPool"
    let threads: Int
    public init(threads: Int) { self.threads = threads }

    func run(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) -> Double {
        let pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        defer { try! pool.syncShutdownGracefully() }
        let latch = Latch(count)
        let s = timed {
            for i in 0..<count {
                pool.submit { _ in
                    body(i)
                    latch.countDown()
                }
            }
            latch.wait()
        }
        expectCompleted(count, name)
        return s
    }

    public func tinyTasks(_ tasks: Int) -> Double { run(tasks) { _ in tinyTask() } }

    public func latency(iterations: Int, cap: UInt64) -> [UInt64] {
        let pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        defer { try! pool.syncShutdownGracefully() }
        let semaphore = DispatchSemaphore(value: 0)
        for _ in 0..<PoolWorkload.latencyWarmup {
            pool.submit { _ in
                tinyTask()
                semaphore.signal()
            }
            semaphore.wait()
        }
        completedTasks.store(0, ordering: .relaxed)
        let samples = latencyLoop(iterations: iterations, cap: cap) {
            pool.submit { _ in
                tinyTask()
                semaphore.signal()
            }
            semaphore.wait()
        }
        expectCompleted(samples.count, name)
        return samples
    }

    public func cpuBound() -> Double { run(PoolWorkload.cpuBoundTasks) { cpuTask(index: UInt64($0)) } }
    public func parallelFor(_ data: SqrtData) -> Double { run(SqrtData.chunks) { data.chunkTask($0) } }
    public func blocking() -> Double { run(PoolWorkload.blockingTasks) { _ in sleepTask() } }
}

/// Structured concurrency on the default (global) executor: a discarding task group.
/// The main thread blocks on a semaphore while the timed part runs inside a task.
public struct TaskGroupPeer: PoolPeer {
    public let name = "Swift TaskGroup (default executor)"
    public init() {}

    func blockOn<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
        let semaphore = DispatchSemaphore(value: 0)
        let box = Mutex<T?>(nil)
        Task.detached {
            let value = await body()
            box.withLock { $0 = value }
            semaphore.signal()
        }
        semaphore.wait()
        return box.withLock { $0! }
    }

    func group(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) -> Double {
        let s = blockOn { () async -> Double in
            let start = nowNanoseconds()
            await withDiscardingTaskGroup { group in
                for i in 0..<count { group.addTask { body(i) } }
            }
            return Double(nowNanoseconds() - start) / 1e9
        }
        expectCompleted(count, name)
        return s
    }

    public func tinyTasks(_ tasks: Int) -> Double { group(tasks) { _ in tinyTask() } }

    public func latency(iterations: Int, cap: UInt64) -> [UInt64] {
        let samples = blockOn { () async -> [UInt64] in
            for _ in 0..<PoolWorkload.latencyWarmup { await Task.detached { tinyTask() }.value }
            completedTasks.store(0, ordering: .relaxed)
            var samples: [UInt64] = []
            samples.reserveCapacity(iterations)
            let start = nowNanoseconds()
            var previous = start
            for _ in 0..<iterations {
                await Task.detached { tinyTask() }.value
                let now = nowNanoseconds()
                samples.append(now - previous)
                previous = now
                if now - start > cap { break }
            }
            return samples
        }
        expectCompleted(samples.count, name)
        return samples
    }

    public func cpuBound() -> Double { group(PoolWorkload.cpuBoundTasks) { cpuTask(index: UInt64($0)) } }
    public func parallelFor(_ data: SqrtData) -> Double { group(SqrtData.chunks) { data.chunkTask($0) } }
    public func blocking() -> Double { group(PoolWorkload.blockingTasks) { _ in sleepTask() } }
}
