extension ThreadPool {
    /// A snapshot of a pool's counters.
    ///
    /// The counters are read one after another while the pool runs, so a snapshot of a busy
    /// pool is approximate (a task may be counted as queued and completed at once); once the
    /// pool is idle it is exact.
    public struct Metrics: Sendable, Hashable {
        /// Tasks waiting in the queue.
        public var queued: Int
        /// Delayed tasks (`execute(after:_:)`, `submit(after:_:)`) still waiting for their time;
        /// they are counted in ``queued`` once due.
        public var delayed: Int
        /// Tasks taken by workers and not yet finished.
        public var running: Int
        /// Tasks that ran to the end without throwing (including Swift jobs and tasks run on a
        /// submitting or waiting thread).
        public var completed: Int
        /// Tasks that threw.
        public var failed: Int
        /// Tasks cancelled through their handle before they started.
        public var cancelled: Int
        /// Submissions refused (shut down, or full with the `.throw` policy).
        public var rejected: Int
        /// Queued tasks dropped by an immediate shutdown.
        public var discarded: Int
        /// The largest queue depth seen by a submission (sampled at every 8th submission to an
        /// unbounded queue, at every submission to a bounded one).
        public var peakQueueDepth: Int
    }

    /// The pool's counters now.
    public var metrics: Metrics {
        let core = self.core
        let totals = core.workerTotals()
        // Relaxed: statistics.
        let callerOK = core.callerSucceeded.pointee.load(ordering: .relaxed)
        let callerFailed = core.callerFailed.pointee.load(ordering: .relaxed)
        return Metrics(
            queued: core.queuedCount,
            delayed: core.timer.counts.jobs,
            running: max(0, totals.started - totals.succeeded - totals.failed - totals.skipped),
            completed: totals.succeeded + callerOK,
            failed: totals.failed + callerFailed,
            cancelled: core.cancelledCount.pointee.load(ordering: .relaxed),
            rejected: core.rejectedCount.pointee.load(ordering: .relaxed),
            discarded: core.discardedCount.pointee.load(ordering: .relaxed),
            peakQueueDepth: core.peakDepth.pointee.load(ordering: .relaxed))
    }
}
