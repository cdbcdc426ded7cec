import Synchronization

/// A fixed set of named worker threads that run closures, tasks with handles, parallel loops
/// and Swift concurrency jobs.
///
/// Idle workers spin briefly (adaptively) and then park on a futex, so an idle pool uses no
/// CPU; a submission issues a wake-up syscall only when no worker is awake to take it.
///
/// ```swift
/// let pool = try ThreadPool()
/// let handle = try pool.submit { try expensiveComputation() }
/// try pool.execute { print("fire and forget") }
/// let value = try handle.wait()
/// try pool.waitUntilIdle()
/// pool.shutdown()
/// ```
///
/// Lifecycle: a pool runs until `shutdown()` (graceful: queued tasks still run) or
/// `shutdownNow()` (immediate: queued tasks are discarded and reported). After either, every
/// submission fails with `SubmitError.shutDown`; `awaitTermination` waits for the workers to
/// exit. Releasing the last reference to a running pool starts a graceful shutdown.
///
/// Waiting from inside the pool: `waitUntilIdle`, `waitForAll(timeout:)` and
/// `awaitTermination` throw `WaitError.calledFromWorker` when called on a worker of the same
/// pool (they would wait for the calling task itself). `TaskHandle.wait()` called on a worker
/// runs the awaited task itself if it has not started, so nested submit-and-wait never
/// deadlocks. Never call a blocking wait from a Swift concurrency task; use the `async` forms.
public final class ThreadPool: @unchecked Sendable {
    let core: PoolCore

    /// The number of worker threads.
    public var threadCount: Int { core.threadCount }

    /// Starts a pool with the given configuration.
    ///
    /// - Parameter configuration: Thread count, names, and the queue's bound and policy.
    /// - Throws: `StartError.threadCreationFailed` if a worker thread cannot be created (the
    ///   workers already started are shut down).
    public convenience init(configuration: Configuration = Configuration()) throws(StartError) {
        try self.init(configuration: configuration, unboundedRingCapacity: PoolCore.unboundedRingCapacity)
    }

    /// Starts a pool whose unbounded queue overflows its lock-free ring after
    /// `unboundedRingCapacity` jobs (tests use a small ring to reach the overflow quickly), with
    /// `testHooks` installed in its core.
    init(
        configuration: Configuration, unboundedRingCapacity: Int,
        testHooks: PoolCore.TestHooks = PoolCore.TestHooks()
    ) throws(StartError) {
        precondition(configuration.threadCount >= 1, "a thread pool needs at least one thread")
        precondition((configuration.queueCapacity ?? 2) >= 2, "a bounded queue needs room for at least two tasks")
        core = PoolCore(
            threadCount: configuration.threadCount,
            namePrefix: configuration.threadNamePrefix,
            queueCapacity: configuration.queueCapacity,
            policy: configuration.whenFull,
            unboundedRingCapacity: unboundedRingCapacity,
            testHooks: testHooks)
        core.taskExecutor = UnownedTaskExecutor(ordinary: self)
        let core = self.core
        for index in 0..<configuration.threadCount {
            do {
                try PlatformThread.spawnDetached(name: "\(configuration.threadNamePrefix)\(index)") {
                    core.workerMain(index: index)
                }
            } catch {
                // Threads never started count as exited, then the started ones are stopped.
                core.threadsExited(configuration.threadCount - index)
                _ = core.shutdown(immediate: true)
                throw .threadCreationFailed(error)
            }
        }
    }

    /// Starts a pool with `threadCount` workers and an unbounded queue.
    ///
    /// - Parameter threadCount: The number of worker threads; at least 1.
    /// - Throws: `StartError.threadCreationFailed` if a worker thread cannot be created.
    public convenience init(threadCount: Int) throws(StartError) {
        try self.init(configuration: Configuration(threadCount: threadCount))
    }

    deinit {
        // Graceful: queued work still runs, then the workers exit on their own.
        _ = core.shutdown(immediate: false)
    }

    // MARK: - Submitting

    /// Queues `body` to run on a worker; fire and forget.
    ///
    /// - Parameter body: The work. It cannot throw: use `submit(_:)` to get errors back.
    /// - Throws: `SubmitError.shutDown` after a shutdown; `SubmitError.queueFull` when a bounded
    ///   queue with the `.throw` policy is full. With `.block` the call waits for room; with
    ///   `.runOnCaller` it runs `body` before returning.
    /// - Complexity: O(1); lock-free unless the unbounded queue overflows its ring.
    @inline(__always)
    public func execute(_ body: @escaping @Sendable () -> Void) throws(SubmitError) {
        try enqueue(.closure(body))
    }

    /// Queues every closure of `bodies` with one admission and at most one wake-up.
    ///
    /// - Parameter bodies: The work items, queued in order.
    /// - Throws: `SubmitError.shutDown` after a shutdown (nothing is queued then); for a
    ///   bounded queue, the policy applies to each item as in `execute(_:)`, and a
    ///   `queueFull` error leaves the items before it queued.
    public func execute(contentsOf bodies: [@Sendable () -> Void]) throws(SubmitError) {
        guard !bodies.isEmpty else { return }
        if core.queueCapacity != nil {
            for body in bodies { try enqueue(.closure(body)) }
            return
        }
        guard core.admit(bodies.count) else {
            core.rejectedCount.pointee.add(bodies.count, ordering: .relaxed)  // Relaxed: statistic.
            throw .shutDown
        }
        let ring = core.ring
        var index = 0
        while index < bodies.count, ring.tryPush(.closure(bodies[index])) {
            index += 1
            // Wake a worker after the first job, so it starts while we queue the rest.
            if index == 1 { core.notifyWorkers() }
        }
        if index < bodies.count {
            // The ring is full: the rest goes to the overflow under one lock acquisition.
            core.pushToOverflow(contentsOf: bodies[index...].lazy.map { .closure($0) })
        } else {
            core.notifyWorkers()
        }
        core.recordDepth()
    }

    /// Queues `body` and returns a handle to wait for its value, await it, or cancel it.
    ///
    /// - Parameter body: The work; what it returns or throws reaches the handle.
    /// - Returns: A handle for the task.
    /// - Throws: `SubmitError` as for `execute(_:)`.
    public func submit<Success: Sendable>(
        _ body: @escaping @Sendable () throws -> Success
    ) throws(SubmitError) -> TaskHandle<Success> {
        let box = TaskBox(core: core, body: body)
        try enqueue(.task(box))
        return TaskHandle(box: box)
    }

    @inline(__always)
    func enqueue(_ job: PoolJob) throws(SubmitError) {
        let core = self.core
        guard core.admit(1) else {
            core.rejectedCount.pointee.add(1, ordering: .relaxed)  // Relaxed: statistic.
            throw .shutDown
        }
        guard core.queueCapacity != nil else {
            core.pushUnbounded(job)
            core.recordDepth()
            return
        }
        if core.ring.tryPush(job) {
            core.notifyWorkers()
            core.recordDepth()
            return
        }
        switch core.policy {
        case .throw:
            core.retire(1)
            core.rejectedCount.pointee.add(1, ordering: .relaxed)  // Relaxed: statistic.
            throw .queueFull
        case .runOnCaller:
            core.runOnCaller(job)
        case .block:
            if core.isCurrentThreadWorker {
                core.runOnCaller(job)
                return
            }
            do {
                try core.blockUntilPushed(job)
                core.recordDepth()
            } catch {
                core.retire(1)
                core.rejectedCount.pointee.add(1, ordering: .relaxed)  // Relaxed: statistic.
                throw error
            }
        }
    }

    // MARK: - Waiting

    /// Blocks until every task submitted so far has finished (run, failed, been cancelled or
    /// discarded), not merely left the queue.
    ///
    /// Tasks submitted while waiting are waited for too, so under a steady stream of
    /// submissions this may not return. Spins briefly, then sleeps on a futex.
    ///
    /// - Throws: `WaitError.calledFromWorker` when called on one of this pool's workers: the
    ///   calling task would have to finish first. (We chose a clear error over running other
    ///   tasks while waiting, which re-enters user locks in rayon and oneTBB.)
    public func waitUntilIdle() throws(WaitError) {
        guard !core.isCurrentThreadWorker else { throw .calledFromWorker }
        _ = core.waitUntilIdle(deadline: .never)
    }

    /// Blocks until every task submitted so far has finished, or until `timeout` elapses.
    ///
    /// - Parameter timeout: The longest wait on the monotonic clock; `nil` waits forever.
    /// - Returns: `true` if the pool became idle, `false` on timeout.
    /// - Throws: `WaitError.calledFromWorker` when called on one of this pool's workers.
    @discardableResult
    public func waitForAll(timeout: Duration?) throws(WaitError) -> Bool {
        guard !core.isCurrentThreadWorker else { throw .calledFromWorker }
        return core.waitUntilIdle(deadline: Deadline(timeout: timeout))
    }

    // MARK: - Shutdown

    /// What an immediate shutdown dropped.
    public struct ShutdownReport: Sendable, Hashable {
        /// Tasks this call removed without running them, queued ones and delayed ones still
        /// waiting for their time; their handles report `TaskError.discardedByShutdown`.
        /// Submissions racing with the shutdown may be discarded by the workers afterwards;
        /// ``Metrics/discarded`` counts those too.
        public let discardedTaskCount: Int
        /// How many of ``discardedTaskCount`` were delayed tasks (`execute(after:_:)`,
        /// `submit(after:_:)`) still waiting for their time.
        public let discardedDelayedTaskCount: Int
    }

    /// Starts a graceful shutdown: no new tasks are accepted, queued and running tasks finish,
    /// delayed tasks run when their time comes, then the workers exit.
    ///
    /// Returns at once (it is safe to call from a worker, and more than once); use
    /// `awaitTermination` to wait for the workers.
    public func shutdown() {
        _ = core.shutdown(immediate: false)
    }

    /// Starts an immediate shutdown: no new tasks are accepted, queued tasks and delayed tasks
    /// still waiting for their time are discarded (their handles fail with
    /// `TaskError.discardedByShutdown`), running tasks finish.
    ///
    /// Swift concurrency jobs cannot be discarded without leaving their task suspended forever;
    /// queued ones are handed to the global concurrent executor instead, and tasks in
    /// ``sleep(for:)`` keep their time (they then resume on the global executor).
    ///
    /// - Returns: What this call discarded: queued tasks and delayed ones.
    @discardableResult
    public func shutdownNow() -> ShutdownReport {
        let (discarded, delayed) = core.shutdown(immediate: true)
        return ShutdownReport(discardedTaskCount: discarded, discardedDelayedTaskCount: delayed)
    }

    /// Whether a shutdown has started.
    public var isShutDown: Bool { !core.isAcceptingWork }

    /// Blocks until every worker thread has exited after a shutdown, or `timeout` elapses.
    ///
    /// - Parameter timeout: The longest wait; `nil` waits forever.
    /// - Returns: `true` once all workers have exited, `false` on timeout.
    /// - Throws: `WaitError.calledFromWorker` on one of this pool's workers (it would wait for
    ///   its own exit).
    @discardableResult
    public func awaitTermination(timeout: Duration? = nil) throws(WaitError) -> Bool {
        guard !core.isCurrentThreadWorker else { throw .calledFromWorker }
        return core.awaitTermination(deadline: Deadline(timeout: timeout))
    }
}
