/// Swift concurrency can run child tasks on the pool's threads.
///
/// `withTaskExecutorPreference(pool) { … }` makes `async let`, task group children and
/// nonisolated async functions of that scope run on the pool's workers, and a task of the scope
/// continues on them after `Task.sleep` and `Task.yield`. `Task.sleep`'s wake-up itself goes
/// through the global executor (the sleeping task waits for one of its threads, then comes
/// back); ``sleep(for:)`` wakes on the pool without it. Swift does not route everything here:
/// code isolated to an actor with its own executor (including `@MainActor`) runs on that
/// executor, and unstructured `Task {}` / `Task.detached {}` do not inherit the preference.
///
/// Jobs are never rejected: after a shutdown, or when a bounded queue is full, they are queued
/// beyond the bound or handed to the global concurrent executor, since a dropped job would
/// leave its task suspended forever.
extension ThreadPool: TaskExecutor {
    /// Queues a Swift concurrency job to run on one of the pool's workers.
    ///
    /// - Parameter job: The job; the pool runs it exactly once.
    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        guard core.admit(1) else {
            globalConcurrentExecutor.enqueue(ExecutorJob(unowned))
            return
        }
        core.pushUnbounded(.swiftJob(unowned))
        core.recordDepth()
    }
}
