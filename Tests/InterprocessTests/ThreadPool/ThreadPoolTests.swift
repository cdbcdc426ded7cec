import Synchronization
import Testing
@testable import Interprocess

struct ExpectedFailure: Error, Equatable { let code: Int }

@Suite(.timeLimit(.minutes(2)))
struct ThreadPoolTests {
    @Test func millionTasksAreCountedExactly() throws {
        let pool = try ThreadPool(threadCount: 2)
        let counter = TestCounter()
        for _ in 0..<1_000_000 { try pool.execute { counter.increment() } }
        try pool.waitUntilIdle()
        #expect(counter.count == 1_000_000)
        let m = pool.metrics
        #expect(m.completed == 1_000_000)
        #expect(m.queued == 0 && m.running == 0)
        pool.shutdown()
        #expect(try pool.awaitTermination(timeout: .seconds(30)))
    }

    @Test func batchedSubmissionRunsEveryClosure() throws {
        let pool = try ThreadPool(threadCount: 2)
        let counter = TestCounter()
        let batch: [@Sendable () -> Void] = Array(repeating: { counter.increment() }, count: 1000)
        for _ in 0..<100 { try pool.execute(contentsOf: batch) }
        try pool.waitUntilIdle()
        #expect(counter.count == 100_000)
        pool.shutdown()
    }

    @Test func submitReturnsTheValueAndErrorsReachTheHandle() throws {
        let pool = try ThreadPool(threadCount: 2)
        let ok = try pool.submit { 6 * 7 }
        let bad = try pool.submit { () throws -> Int in throw ExpectedFailure(code: 9) }
        #expect(try ok.wait() == 42)
        do {
            _ = try bad.wait()
            Issue.record("expected an error")
        } catch let error as ExpectedFailure {
            #expect(error == ExpectedFailure(code: 9))
        } catch {
            Issue.record("wrong error \(error)")
        }
        try pool.waitUntilIdle()
        #expect(pool.metrics.failed == 1)
        pool.shutdown()
    }

    @Test func asyncValueAndRun() async throws {
        let pool = try ThreadPool(threadCount: 2)
        let handle = try pool.submit { "hello" }
        #expect(try await handle.value == "hello")
        let name = try await pool.run { CurrentThread.name }
        #expect(name.hasPrefix("pool-"))
        do {
            _ = try await pool.run { () throws -> Int in throw ExpectedFailure(code: 1) }
            Issue.record("expected an error")
        } catch let error as ExpectedFailure {
            #expect(error == ExpectedFailure(code: 1))
        } catch {
            Issue.record("wrong error \(error)")
        }
        pool.shutdown()
        await pool.awaitTermination()
    }

    /// Every way of getting a task's result hands its own error back unwrapped, so that
    /// `catch let error as MyError` matches; only a task that never ran reports a pool error.
    @Test func aTasksOwnErrorReachesTheCallerAsItself() async throws {
        let pool = try ThreadPool(threadCount: 2)
        let handle = try pool.submit { () throws -> Int in throw ExpectedFailure(code: 3) }
        func expectOwnError(_ body: () throws -> Int?) {
            do {
                _ = try body()
                Issue.record("expected an error")
            } catch let error as ExpectedFailure {
                #expect(error == ExpectedFailure(code: 3))
            } catch {
                Issue.record("wrapped or wrong error \(error)")
            }
        }
        expectOwnError { try handle.wait() }
        expectOwnError { try handle.wait(timeout: .seconds(30)) }
        do {
            _ = try await handle.value
            Issue.record("expected an error")
        } catch let error as ExpectedFailure {
            #expect(error == ExpectedFailure(code: 3))
        }
        // A body that itself throws a pool error reports that error, not its own cancellation.
        do {
            _ = try await pool.run { () throws -> Int in throw ThreadPool.TaskError.cancelled }
            Issue.record("expected an error")
        } catch let error as ThreadPool.TaskError {
            #expect(error == .cancelled)
        }
        pool.shutdown()
        await pool.awaitTermination()
    }

    @Test func cancelBeforeStartNeverRuns() throws {
        let pool = try ThreadPool(threadCount: 1)
        let gate = try occupyWorkers(of: pool)
        let ran = TestCounter()
        let handle = try pool.submit { ran.increment() }
        #expect(handle.cancel())
        #expect(!handle.cancel())
        gate.open()
        try pool.waitUntilIdle()
        #expect(ran.count == 0)
        #expect(throws: ThreadPool.TaskError.self) { try handle.wait() }
        do { try handle.wait() } catch {
            guard case .cancelled? = error as? ThreadPool.TaskError else {
                Issue.record("wrong error \(error)")
                return
            }
        }
        let done = try pool.submit { 1 }
        #expect(try done.wait() == 1)
        #expect(!done.cancel())
        #expect(pool.metrics.cancelled == 1)
        pool.shutdown()
    }

    @Test func cancellingTheAwaitingTaskCancelsQueuedWork() async throws {
        let pool = try ThreadPool(threadCount: 1)
        let gate = try occupyWorkers(of: pool)
        let ran = TestCounter()
        let task = Task { try await pool.run { ran.increment() } }
        // Wait until the work is queued (behind the gate), then cancel the awaiting task.
        while pool.metrics.queued == 0 { await Task.yield() }
        task.cancel()
        let result = await task.result
        gate.open()
        try pool.waitUntilIdle()
        #expect(ran.count == 0)
        guard case .failure(let error) = result, case .cancelled? = error as? ThreadPool.RunError else {
            Issue.record("expected RunError.cancelled, got \(result)")
            return
        }
        pool.shutdown()
    }

    @Test func waitUntilIdleWaitsForRunningTasksToFinish() throws {
        let pool = try ThreadPool(threadCount: 2)
        let gate = TestGate()
        let finished = TestCounter()
        for _ in 0..<4 {
            try pool.execute {
                gate.wait()
                finished.increment()
            }
        }
        #expect(try pool.waitForAll(timeout: .milliseconds(20)) == false)
        #expect(finished.count == 0)
        gate.open()
        try pool.waitUntilIdle()
        #expect(finished.count == 4)
        pool.shutdown()
    }

    @Test func waitingOnThePoolFromItsWorkerThrowsInsteadOfDeadlocking() throws {
        let pool = try ThreadPool(threadCount: 1)
        let outcome = try pool.submit { () -> String in
            do {
                try pool.waitUntilIdle()
                return "returned"
            } catch {
                return "\(error)"
            }
        }
        #expect(try outcome.wait().contains("own workers"))
        let termination = try pool.submit { () -> Bool in
            (try? pool.awaitTermination(timeout: .seconds(1))) == nil
        }
        #expect(try termination.wait())
        pool.shutdown()
    }

    @Test func handleWaitOnAWorkerRunsTheTaskInsteadOfDeadlocking() throws {
        let pool = try ThreadPool(threadCount: 1)
        let outer = try pool.submit { () throws -> Int in
            let inner = try pool.submit { 5 }
            let other = try pool.submit { 7 }
            return try inner.wait() + other.wait()
        }
        #expect(try outer.wait(timeout: .seconds(30)) == 12)
        pool.shutdown()
    }

    @Test func parallelForCoversTheRangeOnceAndNests() throws {
        let pool = try ThreadPool(threadCount: 2)
        let n = 100_003
        let hits = UnsafeMutableBufferPointer<Atomic<Int>>.allocate(capacity: n)
        for i in 0..<n { (hits.baseAddress! + i).initialize(to: Atomic(0)) }
        defer { hits.deallocate() }
        let shared = UnsafeSendable(hits)
        try pool.parallelFor(0..<n) { chunk in
            for i in chunk { shared.value[i].add(1, ordering: .relaxed) }
        }
        #expect((0..<n).allSatisfy { hits[$0].load(ordering: .relaxed) == 1 })
        // From inside a worker: the caller takes part, so this cannot deadlock.
        let total = try pool.submit { () throws -> Int in
            let sum = Atomic<Int>(0)
            try pool.parallelFor(0..<1000) { chunk in sum.add(chunk.count, ordering: .relaxed) }
            return sum.load(ordering: .relaxed)
        }
        #expect(try total.wait(timeout: .seconds(30)) == 1000)
        pool.shutdown()
    }

    @Test func boundedQueueThrowsWhenFull() throws {
        let pool = try ThreadPool(configuration: .init(threadCount: 1, queueCapacity: 2, whenFull: .throw))
        let gate = try occupyWorkers(of: pool)
        try pool.execute {}
        try pool.execute {}
        #expect(throws: ThreadPool.SubmitError.queueFull) { try pool.execute {} }
        #expect(pool.metrics.rejected == 1)
        #expect(pool.metrics.peakQueueDepth >= 2)
        gate.open()
        try pool.waitUntilIdle()
        pool.shutdown()
    }

    @Test func boundedQueueRunsOnTheCallerWhenFull() throws {
        let pool = try ThreadPool(configuration: .init(threadCount: 1, queueCapacity: 2, whenFull: .runOnCaller))
        let gate = try occupyWorkers(of: pool)
        try pool.execute {}
        try pool.execute {}
        let me = CurrentThread.id
        let handle = try pool.submit { CurrentThread.id }
        #expect(handle.isFinished)
        #expect(try handle.wait() == me)
        gate.open()
        try pool.waitUntilIdle()
        pool.shutdown()
    }

    @Test func boundedQueueBlocksUntilThereIsRoom() throws {
        let pool = try ThreadPool(configuration: .init(threadCount: 1, queueCapacity: 2, whenFull: .block))
        let submitter = try ThreadPool(threadCount: 1)
        let gate = try occupyWorkers(of: pool)
        let ran = TestCounter()
        try pool.execute { ran.increment() }
        try pool.execute { ran.increment() }
        let blocked = try submitter.submit { try pool.execute { ran.increment() } }
        #expect(try blocked.wait(timeout: .milliseconds(20)) == nil)  // still blocked: full
        gate.open()
        try blocked.wait()
        try pool.waitUntilIdle()
        #expect(ran.count == 3)
        pool.shutdown()
        submitter.shutdown()
    }

    @Test func gracefulShutdownDrainsAndRejectsNewWork() throws {
        let pool = try ThreadPool(threadCount: 2)
        let gate = try occupyWorkers(of: pool)
        let ran = TestCounter()
        for _ in 0..<100 { try pool.execute { ran.increment() } }
        pool.shutdown()
        #expect(throws: ThreadPool.SubmitError.shutDown) { try pool.execute {} }
        #expect(throws: ThreadPool.SubmitError.shutDown) { _ = try pool.submit { 1 } }
        gate.open()
        #expect(try pool.awaitTermination(timeout: .seconds(30)))
        #expect(ran.count == 100)
        #expect(pool.metrics.rejected == 2)
    }

    @Test func immediateShutdownDiscardsQueuedTasksAndReportsThem() throws {
        let pool = try ThreadPool(threadCount: 1)
        let gate = try occupyWorkers(of: pool)
        let ran = TestCounter()
        let handles = try (0..<10).map { _ in try pool.submit { ran.increment() } }
        try pool.execute { ran.increment() }
        let report = pool.shutdownNow()
        #expect(report.discardedTaskCount == 11)
        for handle in handles {
            do { try handle.wait() } catch {
                guard case .discardedByShutdown? = error as? ThreadPool.TaskError else {
                    Issue.record("wrong error \(error)")
                    continue
                }
            }
        }
        gate.open()
        #expect(try pool.awaitTermination(timeout: .seconds(30)))
        #expect(ran.count == 0)
        #expect(pool.metrics.discarded == 11)
    }

    @Test func submissionsRacingWithShutdownAreRunOrRejectedNeverLost() throws {
        for round in 0..<20 {
            let pool = try ThreadPool(threadCount: 2)
            let submitters = try ThreadPool(threadCount: 2)
            let accepted = TestCounter()
            let ran = TestCounter()
            let go = TestGate()
            let handles = try (0..<2).map { _ in
                try submitters.submit {
                    go.wait()
                    for _ in 0..<2_000 {
                        do {
                            try pool.execute { ran.increment() }
                            accepted.increment()
                        } catch {
                            return
                        }
                    }
                }
            }
            go.open()
            if round % 2 == 0 { pool.shutdown() } else { pool.shutdownNow() }
            for handle in handles { try handle.wait() }
            #expect(try pool.awaitTermination(timeout: .seconds(30)))
            let m = pool.metrics
            #expect(ran.count + m.discarded == accepted.count)
            if round % 2 == 0 { #expect(ran.count == accepted.count) }
            submitters.shutdown()
        }
    }

    @Test func shutdownFromAWorkerNeitherHangsNorDropsQueuedWork() throws {
        let pool = try ThreadPool(threadCount: 2)
        let ran = TestCounter()
        for _ in 0..<50 { try pool.execute { ran.increment() } }
        try pool.execute { pool.shutdown() }
        #expect(try pool.awaitTermination(timeout: .seconds(30)))
        #expect(ran.count == 50)
        #expect(throws: ThreadPool.SubmitError.shutDown) { try pool.execute {} }
    }

    @Test func releasingThePoolShutsItDownGracefully() throws {
        let ran = TestCounter()
        let done = TestGate()
        do {
            let pool = try ThreadPool(threadCount: 2)
            for i in 0..<100 {
                try pool.execute {
                    ran.increment()
                    if i == 99 { done.open() }
                }
            }
        }
        #expect(done.wait())
    }

    @Test func childTasksOfTheExecutorPreferenceRunOnPoolThreads() async throws {
        let pool = try ThreadPool(configuration: .init(threadCount: 2, threadNamePrefix: "exec-"))
        let names = await withTaskExecutorPreference(pool) {
            await withTaskGroup(of: String.self) { group in
                for _ in 0..<50 { group.addTask { CurrentThread.name } }
                var names: [String] = []
                for await name in group { names.append(name) }
                return names
            }
        }
        #expect(names.count == 50)
        #expect(names.allSatisfy { $0.hasPrefix("exec-") }, "\(Set(names))")
        async let child = { CurrentThread.name }()
        let outside = await child
        #expect(!outside.hasPrefix("exec-"))
        pool.shutdown()
        await pool.awaitTermination()
    }

    @Test func anUnboundedQueueOverflowsItsRingWithoutLosingTasks() throws {
        let pool = try ThreadPool(configuration: .init(threadCount: 2), unboundedRingCapacity: 64)
        let gate = try occupyWorkers(of: pool)
        let ran = TestCounter()
        let n = 64 + 1_000
        for _ in 0..<n { try pool.execute { ran.increment() } }
        let batch: [@Sendable () -> Void] = Array(repeating: { ran.increment() }, count: 500)
        try pool.execute(contentsOf: batch)
        #expect(pool.metrics.queued == n + 500)
        gate.open()
        try pool.waitUntilIdle()
        #expect(ran.count == n + 500)
        #expect(pool.metrics.peakQueueDepth >= 64)
        pool.shutdown()
    }

    @Test func aSubmitterBlockedOnAFullQueueGetsAnErrorAtShutdown() throws {
        let pool = try ThreadPool(configuration: .init(threadCount: 1, queueCapacity: 2, whenFull: .block))
        let submitter = try ThreadPool(threadCount: 1)
        let gate = try occupyWorkers(of: pool)
        try pool.execute {}
        try pool.execute {}
        let blocked = try submitter.submit { () -> String in
            do {
                try pool.execute {}
                return "queued"
            } catch {
                return "\(error)"
            }
        }
        #expect(try blocked.wait(timeout: .milliseconds(20)) == nil)
        pool.shutdown()
        #expect(try blocked.wait(timeout: .seconds(30)) == ThreadPool.SubmitError.shutDown.description)
        gate.open()
        #expect(try pool.awaitTermination(timeout: .seconds(30)))
        submitter.shutdown()
    }

    @Test func executorJobsAfterShutdownRunOnTheGlobalExecutor() async throws {
        let pool = try ThreadPool(configuration: .init(threadCount: 1, threadNamePrefix: "gone-"))
        pool.shutdown()
        await pool.awaitTermination()
        let names = await withTaskExecutorPreference(pool) {
            await withTaskGroup(of: String.self) { group in
                for _ in 0..<4 { group.addTask { CurrentThread.name } }
                var names: [String] = []
                for await name in group { names.append(name) }
                return names
            }
        }
        #expect(names.count == 4)
        #expect(!names.contains { $0.hasPrefix("gone-") })
    }

    /// Regression: a searcher that took one job and left others queued must wake a sleeper
    /// (producers skip the wake while a worker searches).
    @Test func queuedTasksNeverWaitForAnotherTaskWhileAWorkerSleeps() throws {
        for _ in 0..<300 {
            let pool = try ThreadPool(threadCount: 2)
            let gate = TestGate()
            let started = TestCounter()
            let allStarted = TestGate()
            for _ in 0..<2 {
                try pool.execute {
                    started.increment()
                    if started.count == 2 { allStarted.open() }
                    gate.wait()
                }
            }
            #expect(allStarted.wait(timeout: .seconds(10)))
            gate.open()
            pool.shutdown()
        }
    }

    @Test func workersAreNamedAndCountDefaultsToAvailableCPUs() throws {
        let pool = try ThreadPool()
        #expect(pool.threadCount == CPU.availableCount)
        let name = try pool.submit { CurrentThread.name }.wait()
        #expect(name.hasPrefix("pool-"))
        pool.shutdown()
        #expect(try pool.awaitTermination(timeout: .seconds(30)))
    }
}

/// Hands a value to `@Sendable` closures in tests that synchronise access themselves.
struct UnsafeSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
