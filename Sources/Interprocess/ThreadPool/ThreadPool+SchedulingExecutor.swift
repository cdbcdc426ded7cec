// `SchedulingExecutor` is SPI of the standard library from Swift 6.3 on (`ExperimentalScheduling`):
// `Task.sleep` in a task whose executor preference conforms hands its wake-up to that executor
// instead of the global one. Adopted only where the compiler has it, so the package still builds
// on toolchains without it; there `sleep(for:)` is the way to sleep on the pool.
//
// The conformance itself is SPI of this module (the compiler refuses a public conformance to an
// SPI protocol); Swift's runtime finds it all the same, by a dynamic cast of the preferred task
// executor. `ThreadPool+TaskExecutor.swift` names `Executor` explicitly so that this extension
// does not turn the pool's public `Executor` conformance into SPI.
#if compiler(>=6.3)
    @_spi(ExperimentalScheduling) import _Concurrency

    /// `Task.sleep` inside `withTaskExecutorPreference(pool)` resumes on the pool: Swift hands the
    /// sleeping task's wake-up job to the pool, whose timer queues it on a worker at its time.
    @available(macOS 26.4, iOS 26.4, watchOS 26.4, tvOS 26.4, visionOS 26.4, *)
    @_spi(ExperimentalScheduling) extension ThreadPool: SchedulingExecutor {
        /// Runs `job` on a worker once `delay` has passed on `clock`.
        ///
        /// Delays of clocks measured in `Duration` (`ContinuousClock`, `SuspendingClock`) are kept
        /// by the pool's timer, on the monotonic clock; any other clock's are handed to the global
        /// executor, which then runs the job.
        ///
        /// - Parameters:
        ///   - job: The job; the pool runs it exactly once, never before its time.
        ///   - delay: How long to wait.
        ///   - tolerance: Ignored: the timer is exact to the kernel's wake-up latency.
        ///   - clock: The clock `delay` is measured on.
        public func enqueue<C: Clock>(
            _ job: consuming ExecutorJob, after delay: C.Duration, tolerance: C.Duration?, clock: C
        ) {
            guard let delay = delay as? Duration else {
                Self.enqueueOnGlobalExecutor(job, after: delay, tolerance: tolerance, clock: clock)
                return
            }
            core.timer.schedule(
                swiftJob: UnownedJob(job), deadline: Deadline.now.advanced(by: delay).uptimeNanoseconds)
        }

        /// Runs `job` on a worker once `clock` reaches `instant`.
        ///
        /// - Parameters:
        ///   - job: The job; the pool runs it exactly once, never before its time.
        ///   - instant: When to run it.
        ///   - tolerance: Ignored, as in ``enqueue(_:after:tolerance:clock:)``.
        ///   - clock: The clock `instant` belongs to.
        public func enqueue<C: Clock>(
            _ job: consuming ExecutorJob, at instant: C.Instant, tolerance: C.Duration?, clock: C
        ) {
            enqueue(job, after: clock.now.duration(to: instant), tolerance: tolerance, clock: clock)
        }

        private static func enqueueOnGlobalExecutor<C: Clock>(
            _ job: consuming ExecutorJob, after delay: C.Duration, tolerance: C.Duration?, clock: C
        ) {
            if let global = globalConcurrentExecutor as? any SchedulingExecutor {
                global.enqueue(job, after: delay, tolerance: tolerance, clock: clock)
            } else {
                // No executor can keep this clock's time; the job must not be lost.
                globalConcurrentExecutor.enqueue(job)
            }
        }
    }
#endif
