import Foundation
import Synchronization
import Testing
@testable import Interprocess

/// Delayed work on the pool: `execute(after:)`, `submit(after:)`, `sleep(for:)` and `Task.sleep`
/// through the pool's `SchedulingExecutor` conformance. Timing assertions are lower bounds on the
/// monotonic clock and generous upper bounds only.
@Suite(.timeLimit(.minutes(2)))
struct ThreadPoolDelayedTests {
    /// Nanoseconds since `start` on the monotonic clock.
    static func elapsed(since start: Deadline) -> UInt64 { Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds }

    /// The names of this process's threads that start with `prefix`.
    static func threadNames(prefix: String) -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { task in
            let comm = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)
            let name = comm?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            return name.hasPrefix(prefix) ? name : nil
        }
    }

    @Test func aDelayedJobRunsOnAWorkerNoEarlierThanItsDelay() throws {
        let pool = try ThreadPool(configuration: .init(threadCount: 2, threadNamePrefix: "dly-"))
        let start = Deadline.now
        let observed = Mutex<(onWorker: Bool, name: String, elapsed: UInt64)?>(nil)
        let done = TestGate()
        try pool.execute(after: .milliseconds(50)) {
            let sample = (pool.core.isCurrentThreadWorker, CurrentThread.name, Self.elapsed(since: start))
            observed.withLock { $0 = sample }
            done.open()
        }
        #expect(pool.metrics.delayed == 1)
        #expect(done.wait())
        let sample = try #require(observed.withLock { $0 })
        #expect(sample.onWorker)
        #expect(sample.name.hasPrefix("dly-") && sample.name != "dly-timer", "\(sample.name)")
        #expect(sample.elapsed >= 50_000_000)

        let handleStart = Deadline.now
        let handle = try pool.submit(after: .milliseconds(30)) { () -> (Bool, UInt64) in
            (pool.core.isCurrentThreadWorker, Self.elapsed(since: handleStart))
        }
        let (onWorker, elapsed) = try handle.wait()
        #expect(onWorker)
        #expect(elapsed >= 30_000_000)
        try pool.waitUntilIdle()
        #expect(pool.metrics.delayed == 0)
        #expect(pool.metrics.completed == 2)
        pool.shutdown()
        #expect(try pool.awaitTermination(timeout: .seconds(30)))
    }

    @Test func delaysRunInTheOrderOfTheirDeadlines() throws {
        let pool = try ThreadPool(threadCount: 1)
        let order = Mutex<[Int]>([])
        // Submitted out of order; the second 20 ms delay starts later, so it ends later.
        let delays = [80, 20, 60, 40, 20, 100]
        for (index, delay) in delays.enumerated() {
            try pool.execute(after: .milliseconds(delay)) { order.withLock { $0.append(index) } }
        }
        try pool.waitUntilIdle()
        #expect(order.withLock { $0 } == [1, 4, 3, 2, 0, 5])
        pool.shutdown()
    }

    @Test func aZeroDelayQueuesAtOnceWithoutATimerThread() throws {
        let pool = try ThreadPool(configuration: .init(threadCount: 1, threadNamePrefix: "zero-"))
        let ran = TestCounter()
        try pool.execute(after: .zero) { ran.increment() }
        #expect(try pool.submit(after: .milliseconds(-5)) { 7 }.wait() == 7)
        try pool.waitUntilIdle()
        #expect(ran.count == 1)
        #expect(!Self.threadNames(prefix: "zero-").contains("zero-timer"))
        pool.shutdown()
    }

    @Test func theTimerThreadStartsWithTheFirstDelayedJob() throws {
        let pool = try ThreadPool(configuration: .init(threadCount: 1, threadNamePrefix: "lazy-"))
        #expect(try pool.submit { 1 }.wait() == 1)
        #expect(Self.threadNames(prefix: "lazy-") == ["lazy-0"])
        #expect(try pool.submit(after: .milliseconds(1)) { 2 }.wait() == 2)
        #expect(Self.threadNames(prefix: "lazy-").sorted() == ["lazy-0", "lazy-timer"])
        pool.shutdown()
        #expect(try pool.awaitTermination(timeout: .seconds(30)))
    }

    @Test func cancellingBeforeTheDelayEndsNeverRunsAndFreesThePool() throws {
        let pool = try ThreadPool(threadCount: 1)
        let ran = TestCounter()
        let handle = try pool.submit(after: .seconds(600)) { ran.increment() }
        #expect(pool.metrics.delayed == 1)
        #expect(handle.cancel())
        #expect(!handle.cancel())
        // The cancelled task no longer holds pool-wide waits for its ten minutes.
        #expect(try pool.waitForAll(timeout: .seconds(30)))
        #expect(pool.metrics.delayed == 0)
        #expect(pool.metrics.cancelled == 1)
        do {
            try handle.wait()
            Issue.record("expected an error")
        } catch {
            #expect(error as? ThreadPool.TaskError == .cancelled)
        }
        #expect(ran.count == 0)
        pool.shutdown()
        #expect(try pool.awaitTermination(timeout: .seconds(30)))
    }

    @Test func aGracefulShutdownRunsPendingDelaysAtTheirTime() throws {
        let pool = try ThreadPool(threadCount: 2)
        let start = Deadline.now
        let ranAt = Mutex<UInt64?>(nil)
        try pool.execute(after: .milliseconds(100)) { ranAt.withLock { $0 = Self.elapsed(since: start) } }
        pool.shutdown()
        #expect(throws: ThreadPool.SubmitError.shutDown) { try pool.execute(after: .milliseconds(1)) {} }
        #expect(throws: ThreadPool.SubmitError.shutDown) { _ = try pool.submit(after: .milliseconds(1)) { 1 } }
        #expect(try pool.awaitTermination(timeout: .seconds(30)))
        let elapsed = try #require(ranAt.withLock { $0 })
        #expect(elapsed >= 100_000_000)
        #expect(pool.metrics.rejected == 2)
    }

    @Test func anImmediateShutdownDiscardsPendingDelaysAndReportsThem() throws {
        let pool = try ThreadPool(threadCount: 1)
        let gate = try occupyWorkers(of: pool)
        let ran = TestCounter()
        let delayed = try (0..<3).map { _ in try pool.submit(after: .seconds(600)) { ran.increment() } }
        try pool.execute(after: .seconds(600)) { ran.increment() }
        try pool.execute(after: .seconds(300)) { ran.increment() }
        let queued = try pool.submit { ran.increment() }
        #expect(pool.metrics.delayed == 5)
        let report = pool.shutdownNow()
        #expect(report.discardedTaskCount == 6)
        #expect(report.discardedDelayedTaskCount == 5)
        for handle in delayed + [queued] {
            do {
                try handle.wait()
                Issue.record("expected an error")
            } catch {
                #expect(error as? ThreadPool.TaskError == .discardedByShutdown)
            }
        }
        gate.open()
        // The workers do not wait for the discarded delays.
        #expect(try pool.awaitTermination(timeout: .seconds(30)))
        #expect(ran.count == 0)
        #expect(pool.metrics.discarded == 6)
        #expect(pool.metrics.delayed == 0)
    }

    /// Delayed submissions racing with cancels and with both kinds of shutdown: every accepted
    /// task runs, is cancelled or is discarded, exactly once, and the workers still exit.
    @Test func delayedSubmissionsRacingWithCancelsAndShutdownAreNeverLost() throws {
        for round in 0..<20 {
            let pool = try ThreadPool(threadCount: 2)
            let submitters = try ThreadPool(threadCount: 2)
            let accepted = TestCounter()
            let ran = TestCounter()
            let cancelled = TestCounter()
            let go = TestGate()
            let handles = try (0..<2).map { _ in
                try submitters.submit {
                    go.wait()
                    for i in 0..<500 {
                        do {
                            let handle = try pool.submit(after: .microseconds(100 * (i % 7))) { ran.increment() }
                            accepted.increment()
                            if i % 3 == 0 && handle.cancel() { cancelled.increment() }
                        } catch {
                            return
                        }
                    }
                }
            }
            go.open()
            // Shut down in the middle of the stream, with delays pending, running and cancelled.
            while accepted.count < 300 { CurrentThread.yield() }
            if round % 2 == 0 { pool.shutdown() } else { pool.shutdownNow() }
            for handle in handles { try handle.wait() }
            #expect(try pool.awaitTermination(timeout: .seconds(30)))
            let m = pool.metrics
            #expect(accepted.count >= 300)
            #expect(ran.count + cancelled.count + m.discarded == accepted.count)
            if round % 2 == 0 { #expect(m.discarded == 0) }
            #expect(m.delayed == 0)
            submitters.shutdown()
        }
    }

    /// A worker waiting for a delayed task that the timer already queued runs it itself, as for
    /// any queued task (the only worker would otherwise wait for a job that needs it).
    @Test func waitingOnTheOnlyWorkerForADelayedTaskAlreadyQueuedRunsIt() throws {
        let pool = try ThreadPool(threadCount: 1)
        let outer = try pool.submit { () throws -> Int in
            let inner = try pool.submit(after: .milliseconds(5)) { 9 }
            // Until the timer has handed it to the queue, which this busy worker cannot serve.
            while pool.metrics.queued == 0 { CurrentThread.yield() }
            return try inner.wait()
        }
        let value = try outer.wait(timeout: .seconds(30))
        #expect(value == 9)
        guard value != nil else { return }  // the worker is stuck; waiting for it would hang
        try pool.waitUntilIdle()
        #expect(pool.metrics.completed == 2)
        pool.shutdown()
    }

    /// A worker waiting for a delayed task runs it itself at its time (the only worker would
    /// otherwise wait for a task that needs it).
    @Test func waitingForADelayedTaskOnTheOnlyWorkerRunsItAtItsTime() throws {
        let pool = try ThreadPool(threadCount: 1)
        let outer = try pool.submit { () throws -> (Bool, UInt64) in
            let start = Deadline.now
            let inner = try pool.submit(after: .milliseconds(40)) { pool.core.isCurrentThreadWorker }
            let onWorker = try inner.wait()
            return (onWorker, Self.elapsed(since: start))
        }
        let (onWorker, elapsed) = try #require(try outer.wait(timeout: .seconds(30)))
        #expect(onWorker)
        #expect(elapsed >= 40_000_000)
        try pool.waitUntilIdle()
        #expect(pool.metrics.delayed == 0)
        // A timed wait shorter than the delay leaves the task to the timer.
        let timed = try pool.submit { () throws -> Int? in
            try pool.submit(after: .milliseconds(200)) { 5 }.wait(timeout: .milliseconds(1))
        }
        #expect(try timed.wait() == .some(nil))
        try pool.waitUntilIdle()
        pool.shutdown()
    }

    @Test func delayedJobsStillRunWhenNoTimerThreadCanStart() throws {
        var hooks = PoolCore.TestHooks()
        hooks.timerThreadFails = true
        let pool = try ThreadPool(
            configuration: .init(threadCount: 1, threadNamePrefix: "nothr-"),
            unboundedRingCapacity: PoolCore.unboundedRingCapacity, testHooks: hooks)
        let start = Deadline.now
        let handle = try pool.submit(after: .milliseconds(20)) { () -> (Bool, UInt64) in
            (pool.core.isCurrentThreadWorker, Self.elapsed(since: start))
        }
        let (onWorker, elapsed) = try handle.wait()
        #expect(onWorker)
        #expect(elapsed >= 20_000_000)
        #expect(!Self.threadNames(prefix: "nothr-").contains("nothr-timer"))
        pool.shutdown()
        #expect(try pool.awaitTermination(timeout: .seconds(30)))
    }

    @Test func poolSleepResumesTheTaskOnAWorker() async throws {
        let pool = try ThreadPool(configuration: .init(threadCount: 2, threadNamePrefix: "slp-"))
        let results = try await withTaskExecutorPreference(pool) {
            try await withThrowingTaskGroup(of: (Bool, UInt64).self) { group in
                for k in 0..<8 {
                    group.addTask {
                        let start = Deadline.now
                        try await pool.sleep(for: .milliseconds(10 + 5 * k))
                        return (pool.core.isCurrentThreadWorker, Self.elapsed(since: start) / 1_000_000)
                    }
                }
                var results: [(Bool, UInt64)] = []
                for try await result in group { results.append(result) }
                return results
            }
        }
        #expect(results.count == 8)
        #expect(results.allSatisfy { $0.0 }, "\(results)")
        #expect(results.allSatisfy { $0.1 >= 10 }, "\(results)")
        pool.shutdown()
        await pool.awaitTermination()
    }

    @Test func aCancelledSleepThrowsPromptlyAndFreesItsEntry() async throws {
        let pool = try ThreadPool(threadCount: 1)
        let start = Deadline.now
        let sleeper = Task {
            try await withTaskExecutorPreference(pool) { try await pool.sleep(for: .seconds(600)) }
        }
        // Wait until the sleep is registered, so the cancellation finds it in the timer.
        while pool.core.timer.counts.all == 0 { try await Task.sleep(for: .milliseconds(1)) }
        sleeper.cancel()
        do {
            try await sleeper.value
            Issue.record("expected CancellationError")
        } catch {
            #expect(error is CancellationError)
        }
        #expect(Self.elapsed(since: start) < 60_000_000_000)
        #expect(pool.core.timer.counts.all == 0)

        // Cancelled before it sleeps: throws at once, nothing registered.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await pool.sleep(for: .seconds(600))
        }
        await #expect(throws: CancellationError.self) { try await early.value }
        #expect(pool.core.timer.counts.all == 0)
        pool.shutdown()
        await pool.awaitTermination()
    }

    @Test func aSleepOutlivesTheShutdownAndResumesOffThePool() async throws {
        let pool = try ThreadPool(configuration: .init(threadCount: 1, threadNamePrefix: "late-"))
        let start = Deadline.now
        let sleeper = Task {
            try await withTaskExecutorPreference(pool) {
                try await pool.sleep(for: .milliseconds(50))
                return CurrentThread.name
            }
        }
        while pool.core.timer.counts.all == 0 { try await Task.sleep(for: .milliseconds(1)) }
        pool.shutdownNow()
        await pool.awaitTermination()
        let name = try await sleeper.value
        #expect(!name.hasPrefix("late-"))
        #expect(Self.elapsed(since: start) >= 50_000_000)
    }

    /// A task of the preference continues on a worker after `Task.sleep` (every clock) and
    /// `Task.yield`, as the thread pool guide says.
    @Test func taskSleepAndYieldInsideThePreferenceContinueOnAWorker() async throws {
        let pool = try ThreadPool(configuration: .init(threadCount: 2, threadNamePrefix: "tsl-"))
        let results = try await withTaskExecutorPreference(pool) {
            try await withThrowingTaskGroup(of: [Bool].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var onWorker: [Bool] = []
                        for clock in 0..<3 {
                            let start = Deadline.now
                            switch clock {
                            case 0: try await Task.sleep(for: .milliseconds(5))
                            case 1: try await Task.sleep(for: .milliseconds(5), clock: .suspending)
                            default: try await Task.sleep(nanoseconds: 5_000_000)
                            }
                            onWorker.append(
                                pool.core.isCurrentThreadWorker && Self.elapsed(since: start) >= 5_000_000)
                            await Task.yield()
                            onWorker.append(pool.core.isCurrentThreadWorker)
                        }
                        return onWorker
                    }
                }
                var results: [Bool] = []
                for try await result in group { results += result }
                return results
            }
        }
        #expect(results.count == 24)
        #expect(results.allSatisfy { $0 }, "\(results)")
        pool.shutdown()
        await pool.awaitTermination()
    }

    /// `sleep(for:)` wakes on the pool even while every thread of the global executor is
    /// blocked; `Task.sleep` there waits for one of them (on Swift 6.3.1 also with the
    /// standard library's SPI `SchedulingExecutor`, which is why the pool does not adopt it).
    @Test func poolSleepWakesWhileTheGlobalExecutorIsBlocked() async throws {
        let pool = try ThreadPool(threadCount: 2)
        let release = TestGate()
        // More blockers than the global executor has threads; each holds its thread until
        // released, at most 1 s.
        for _ in 0..<64 {
            Task.detached {
                let cap = Deadline.after(.seconds(1))
                while !release.isOpen && !cap.hasPassed { _ = release.wait(timeout: .milliseconds(5)) }
            }
        }
        let elapsed = try await withTaskExecutorPreference(pool) {
            try await pool.sleep(for: .milliseconds(50))  // the blockers take every thread
            let start = Deadline.now
            try await pool.sleep(for: .milliseconds(5))
            let elapsed = Self.elapsed(since: start)
            let onWorker = pool.core.isCurrentThreadWorker
            release.open()
            return onWorker ? elapsed : .max
        }
        release.open()
        #expect(elapsed >= 5_000_000)
        #expect(elapsed < 500_000_000, "\(elapsed / 1_000_000) ms")
        pool.shutdown()
        await pool.awaitTermination()
    }
}
