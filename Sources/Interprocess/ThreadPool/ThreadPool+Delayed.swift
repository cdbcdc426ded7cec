extension ThreadPool {
    /// Runs `body` on a worker once `delay` has passed on the monotonic clock; fire and forget.
    ///
    /// The pool keeps delayed work in one timer (a heap by deadline) served by one thread, which
    /// the first delayed submission starts; a pool that never delays work has no timer thread.
    /// When its time comes the job joins the queue like any submission (beyond a bounded queue's
    /// bound, which applies only to submissions that queue at once), so it starts no earlier than
    /// `delay` after this call and, on a busy pool, as soon as a worker is free. Jobs whose
    /// delays end together start in submission order.
    ///
    /// A delayed job counts as submitted work from this call on: ``waitUntilIdle()`` waits for
    /// it, a graceful ``shutdown()`` runs it when its time comes, and ``shutdownNow()`` discards
    /// it (``ShutdownReport/discardedDelayedTaskCount``).
    ///
    /// - Parameters:
    ///   - delay: How long to wait before queueing `body`; zero or less queues it at once.
    ///   - body: The work. It cannot throw: use ``submit(after:_:)`` to get errors back or to
    ///     cancel it.
    /// - Throws: `SubmitError.shutDown` after a shutdown.
    /// - Complexity: O(log *n*) for *n* delayed jobs.
    public func execute(after delay: Duration, _ body: @escaping @Sendable () -> Void) throws(SubmitError) {
        try enqueue(.closure(body), after: delay, task: nil)
    }

    /// Queues `body` to run on a worker once `delay` has passed, and returns a handle to wait for
    /// its value, await it, or cancel it.
    ///
    /// Runs as ``execute(after:_:)``. Cancelling the handle before the delay ends takes the task
    /// out of the timer at once (a pool-wide wait no longer waits for it). Waiting for the
    /// handle on one of the pool's own workers runs the task on that worker, at its time, so a
    /// worker waiting for a delayed task cannot deadlock the pool.
    ///
    /// - Parameters:
    ///   - delay: How long to wait before queueing `body`; zero or less queues it at once.
    ///   - body: The work; what it returns or throws reaches the handle.
    /// - Returns: A handle for the task.
    /// - Throws: `SubmitError.shutDown` after a shutdown.
    /// - Complexity: O(log *n*) for *n* delayed jobs.
    public func submit<Success: Sendable>(
        after delay: Duration, _ body: @escaping @Sendable () throws -> Success
    ) throws(SubmitError) -> TaskHandle<Success> {
        let box = TaskBox(core: core, body: body)
        try enqueue(.task(box), after: delay, task: box)
        return TaskHandle(box: box)
    }

    /// Suspends the calling task for `duration` on the monotonic clock, without blocking a
    /// thread, and resumes it where it runs: on one of the pool's workers inside
    /// `withTaskExecutorPreference(pool)`.
    ///
    /// `Task.sleep` wakes through the global executor (the sleeping task waits for one of its
    /// threads before it comes back to the pool); this sleep is served by the pool's timer
    /// thread and wakes without it. It is not pool work: pool-wide waits do not wait for it,
    /// and a shutdown does not end it (a task that wakes after the shutdown continues on the
    /// global executor).
    ///
    /// - Parameter duration: How long to sleep; zero or less returns at once.
    /// - Throws: `CancellationError` if the calling task is cancelled before or during the
    ///   sleep; a cancellation ends the sleep at once and frees its timer entry.
    public func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        guard duration > .zero else { return }
        let deadline = Deadline.now.advanced(by: duration).uptimeNanoseconds
        let timer = core.timer!
        let entry = PoolTimer.Entry(deadline: deadline, work: .sleep(nil))
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                timer.schedule(sleep: entry, continuation: continuation)
            }
        } onCancel: {
            timer.cancel(sleep: entry)
        }
    }

    /// Admits `job` and hands it to the timer, or queues it at once for a delay of zero or less.
    private func enqueue(_ job: PoolJob, after delay: Duration, task: PoolTask?) throws(SubmitError) {
        let core = self.core
        guard core.admit(1) else {
            core.rejectedCount.pointee.add(1, ordering: .relaxed)  // Relaxed: statistic.
            throw .shutDown
        }
        guard delay > .zero else {
            core.pushUnbounded(job)
            core.recordDepth()
            return
        }
        let deadline = Deadline.now.advanced(by: delay).uptimeNanoseconds
        let entry = PoolTimer.Entry(deadline: deadline, work: .job(job))
        task?.delayEntry = entry
        core.timer.schedule(job: entry)
    }
}
