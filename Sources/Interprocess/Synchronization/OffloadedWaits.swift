extension ProcessSemaphore {
    /// Takes one unit, suspending the task (never blocking a thread of Swift's cooperative
    /// pool) until one is available or `timeout` passes.
    ///
    /// The sleeping part runs on an offload thread; cancelling the task ends the wait.
    /// - Returns: `true` if a unit was taken, `false` if the deadline passed.
    /// - Throws: `CancellationError` if the task was cancelled before a unit was taken.
    public func wait(timeout: Duration? = nil) async throws(CancellationError) -> Bool {
        let semaphore = self
        return try await offloadedWait(
            timeout: timeout, attempt: { semaphore.tryWait() }, wait: { semaphore.wait(deadline: $0) },
            interrupt: { semaphore.wakeAllWaiters() })
    }
}

extension ProcessEvent {
    /// Waits until the event is set, suspending the task (never blocking a thread of Swift's
    /// cooperative pool) for at most `timeout`.
    ///
    /// - Returns: `true` if the event was set (and, if auto-reset, consumed), `false` if the
    ///   deadline passed.
    /// - Throws: `CancellationError` if the task was cancelled first.
    public func wait(timeout: Duration? = nil) async throws(CancellationError) -> Bool {
        let event = self
        return try await offloadedWait(
            timeout: timeout, attempt: { event.tryWait() }, wait: { event.wait(deadline: $0) },
            interrupt: { event.wakeAllWaiters() })
    }
}

/// The `async` form of a blocking futex wait: tries at once, then waits on an offload thread in
/// slices of at most 100 ms until `wait` succeeds, the deadline passes or the task is cancelled.
///
/// Cancellation runs `interrupt`, which wakes the sleepers (they re-check and, if nothing
/// changed, sleep again until the slice ends); the slices bound how long a cancellation that
/// raced with the start of a wait can go unnoticed.
private func offloadedWait(
    timeout: Duration?, attempt: () -> Bool, wait: @escaping @Sendable (Deadline) -> Bool,
    interrupt: @escaping @Sendable () -> Void
) async throws(CancellationError) -> Bool {
    if attempt() { return true }
    let deadline = Deadline(timeout: timeout)
    while !deadline.hasPassed {
        if Task.isCancelled { throw CancellationError() }
        let slice = min(deadline, Deadline.after(.milliseconds(100)))
        let succeeded = await withTaskCancellationHandler {
            await BlockingOffload.run { wait(slice) }
        } onCancel: {
            interrupt()
        }
        if succeeded { return true }
    }
    return attempt()
}
