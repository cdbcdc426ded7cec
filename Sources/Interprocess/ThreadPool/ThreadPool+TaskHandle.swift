extension ThreadPool {
    /// A task submitted with `submit(_:)`: wait for its value, await it, or cancel it before it
    /// starts.
    ///
    /// Copies of a handle refer to the same task; any number of threads and Swift tasks may
    /// wait for it.
    public struct TaskHandle<Success: Sendable>: Sendable {
        let box: TaskBox<Success>

        /// Blocks until the task has finished and returns its value.
        ///
        /// On a non-worker thread this never runs the task itself: it spins briefly, then
        /// sleeps on a futex. On one of this pool's workers, a task that has not started yet is
        /// run right here, so a task that submits work and waits for it cannot deadlock the
        /// pool. Do not call it from a Swift concurrency task; use ``value`` there.
        ///
        /// - Returns: The value the task returned.
        /// - Throws: The error the task threw, as itself (`catch let error as MyError` matches
        ///   it); `TaskError.cancelled` if it was cancelled before it started,
        ///   `TaskError.discardedByShutdown` if an immediate shutdown dropped it.
        public func wait() throws -> Success {
            if box.core.isCurrentThreadWorker && box.claimAndRunInline(deadline: .never) {
                return try box.result().get()
            }
            _ = box.waitBlocking(deadline: .never)
            return try box.result().get()
        }

        /// Blocks until the task has finished or `timeout` elapses.
        ///
        /// - Parameter timeout: The longest wait; `nil` waits forever.
        /// - Returns: The task's value, or `nil` if it has not finished in time.
        /// - Throws: As ``wait()``.
        public func wait(timeout: Duration?) throws -> Success? {
            if box.core.isCurrentThreadWorker && box.claimAndRunInline(deadline: Deadline(timeout: timeout)) {
                return try box.result().get()
            }
            guard box.waitBlocking(deadline: Deadline(timeout: timeout)) else { return nil }
            return try box.result().get()
        }

        /// The task's value, awaited without blocking a thread.
        ///
        /// Cancelling the awaiting Swift task does not end the wait and leaves the pool task
        /// alone; call ``cancel()`` to cancel that.
        ///
        /// - Throws: As ``wait()``.
        public var value: Success {
            get async throws {
                await box.waitAsync()
                return try box.result().get()
            }
        }

        /// Cancels the task if it has not started; it will then never run.
        ///
        /// - Returns: `true` if this call cancelled it; `false` if it had already started,
        ///   finished, or been cancelled or discarded.
        @discardableResult
        public func cancel() -> Bool { box.cancel() }

        /// Whether the task has finished (with a value or an error, or by cancellation).
        public var isFinished: Bool {
            // Acquiring: a caller that sees the task finished may then read its result.
            TaskBox<Success>.isTerminal(box.state.atomic.pointee.load(ordering: .acquiring))
        }
    }
}

extension TaskBox {
    /// Runs the task on the calling worker if nobody has started it; returns whether it did (or,
    /// for a delayed task it took from the timer, whether it finished, run or cancelled).
    ///
    /// A delayed task never runs before its time (a worker blocked on a task that needs a
    /// worker could otherwise deadlock the pool): one the timer has queued already runs here
    /// like any queued task; one still in the timer whose time comes before `deadline` is taken
    /// out, and the worker sleeps until its time and runs it; otherwise it is left alone.
    func claimAndRunInline(deadline: Deadline) -> Bool {
        guard let entry = delayEntry else { return runClaimedInline() }
        switch core.timer.takeForInlineRun(entry, before: deadline) {
        case .queued:
            return runClaimedInline()
        case .taken:
            // This worker now owns the entry and its retirement.
            sleepWhileQueued(until: Deadline(uptimeNanoseconds: entry.deadline))
            _ = runClaimedInline()
            core.retire(1)
            return true
        case .notNow:
            return false
        }
    }

    private func runClaimedInline() -> Bool {
        switch runIfQueued() {
        case .skipped: return false
        case .succeeded:
            core.callerSucceeded.pointee.add(1, ordering: .relaxed)  // Relaxed: statistic.
            return true
        case .failed:
            core.callerFailed.pointee.add(1, ordering: .relaxed)  // Relaxed: statistic.
            return true
        }
    }
}
