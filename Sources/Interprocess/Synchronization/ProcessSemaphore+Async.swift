extension ProcessSemaphore {
    /// Takes one unit, suspending the task (never blocking a thread of Swift's cooperative
    /// pool) until one is available or `timeout` passes.
    ///
    /// The sleeping part runs on an offload thread; cancelling the task ends the wait.
    /// - Returns: `true` if a unit was taken, `false` if the deadline passed.
    /// - Throws: `CancellationError` if the task was cancelled before a unit was taken.
    public func wait(timeout: Duration? = nil) async throws -> Bool {
        if tryWait() { return true }
        let deadline = Deadline(timeout: timeout)
        let semaphore = self
        while !deadline.hasPassed {
            try Task.checkCancellation()
            // Slices keep an offload thread from sleeping long past a cancellation that raced
            // with its start; the cancellation handler below wakes it in the common case.
            let slice = min(deadline, Deadline.after(.milliseconds(100)))
            let taken = await withTaskCancellationHandler {
                await BlockingOffload.run { semaphore.wait(deadline: slice) }
            } onCancel: {
                semaphore.wakeAllWaiters()
            }
            if taken { return true }
        }
        return tryWait()
    }
}

extension ProcessEvent {
    /// Waits until the event is set, suspending the task (never blocking a thread of Swift's
    /// cooperative pool) for at most `timeout`.
    ///
    /// - Returns: `true` if the event was set (and, if auto-reset, consumed), `false` if the
    ///   deadline passed.
    /// - Throws: `CancellationError` if the task was cancelled first.
    public func wait(timeout: Duration? = nil) async throws -> Bool {
        if tryWait() { return true }
        let deadline = Deadline(timeout: timeout)
        let event = self
        while !deadline.hasPassed {
            try Task.checkCancellation()
            let slice = min(deadline, Deadline.after(.milliseconds(100)))
            let set = await withTaskCancellationHandler {
                await BlockingOffload.run { event.wait(deadline: slice) }
            } onCancel: {
                event.wakeAllWaiters()
            }
            if set { return true }
        }
        return tryWait()
    }
}
