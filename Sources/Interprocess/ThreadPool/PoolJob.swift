/// One entry of the pool's queue.
enum PoolJob {
    /// Fire-and-forget work from `execute`.
    case closure(@Sendable () -> Void)
    /// Work with a handle (`submit`, `run`): it can be cancelled, discarded and awaited.
    case task(PoolTask)
    /// A Swift concurrency job routed here by a task executor preference. It cannot be
    /// dropped: its task would never resume.
    case swiftJob(UnownedJob)
}

/// How a queue entry ended, for the worker's statistics.
enum RunOutcome {
    case succeeded
    case failed
    /// Cancelled before it started, or already run by a thread waiting for it.
    case skipped
}

/// The type-erased part of a task with a handle.
class PoolTask: @unchecked Sendable {
    /// The task's timer entry if it was submitted with a delay (`submit(after:)`); set before
    /// the task is published, never changed after.
    final var delayEntry: PoolTimer.Entry? = nil

    /// Runs the task unless it was started, cancelled or discarded already.
    func runIfQueued() -> RunOutcome { fatalError("abstract") }

    /// Ends a task that was still queued when the pool shut down immediately; its waiters get
    /// `discardedByShutdown`. Returns whether the task was still queued.
    @discardableResult
    func discard() -> Bool { fatalError("abstract") }
}
