/// Swift concurrency can run child tasks on the pool's threads.
///
/// `withTaskExecutorPreference(pool) { … }` makes `async let`, task group children and
/// nonisolated async functions of that scope run on the pool's workers. Swift does not route
/// everything there: `Task.sleep` and `Task.yield` resume on the global executor (until
/// swiftlang/swift#74395 is fixed, the first job after them runs there), code isolated to an
/// actor with its own executor (including `@MainActor`) runs on that executor, and unstructured
/// `Task {}` / `Task.detached {}` do not inherit the preference.
///
/// Jobs are never rejected: after a shutdown, or when a bounded queue is full, they are queued
/// beyond the bound or handed to the global concurrent executor, since a dropped job would
/// leave its task suspended forever.
extension ThreadPool: Executor, TaskExecutor {
    /// Queues a Swift concurrency job to run on one of the pool's workers.
    ///
    /// - Parameter job: The job; the pool runs it exactly once.
    public func enqueue(_ job: consuming ExecutorJob) {
        core.enqueueSwiftJob(UnownedJob(job))
    }
}
