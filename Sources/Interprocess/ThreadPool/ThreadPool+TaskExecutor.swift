/// Swift concurrency can run child tasks on the pool's threads.
///
/// `withTaskExecutorPreference(pool) { … }` makes `async let`, task group children and
/// nonisolated async functions of that scope run on the pool's workers, and a task of the scope
/// continues on them after `Task.sleep` and `Task.yield`. Where the compiler has the standard
/// library's `SchedulingExecutor` (Swift 6.3 on, as SPI), the pool also keeps `Task.sleep`'s
/// wake-up in its own timer, so no thread of the global executor takes part; ``sleep(for:)``
/// does the same on every toolchain. Swift does not route everything here: code isolated to an
/// actor with its own executor (including `@MainActor`) runs on that executor, and unstructured
/// `Task {}` / `Task.detached {}` do not inherit the preference.
///
/// Jobs are never rejected: after a shutdown, or when a bounded queue is full, they are queued
/// beyond the bound or handed to the global concurrent executor, since a dropped job would
/// leave its task suspended forever.
extension ThreadPool: Executor, TaskExecutor {
    // `Executor` is named explicitly: see `ThreadPool+SchedulingExecutor.swift`.

    /// Queues a Swift concurrency job to run on one of the pool's workers.
    ///
    /// - Parameter job: The job; the pool runs it exactly once.
    public func enqueue(_ job: consuming ExecutorJob) {
        core.enqueueSwiftJob(UnownedJob(job))
    }
}
