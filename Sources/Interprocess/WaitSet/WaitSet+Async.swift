extension WaitSet {
    /// Waits like ``wait(timeout:)-3jcnq`` without blocking the calling task's thread: the sources are
    /// checked in place, and only if none is ready does the sleep run on an offload thread
    /// while the task is suspended.
    ///
    /// Cancelling the task ends the sleep at once.
    ///
    /// - Returns: the sources that fired, with their counts; empty if the timeout passed first.
    /// - Throws: `CancellationError` if the task was cancelled before a source fired.
    public mutating func wait(timeout: Duration? = nil) async throws(CancellationError) -> FiredSources {
        let core = self.core
        // Relaxed: the flag is ours until the offload job is submitted (which orders it).
        core.cancelled.store(false, ordering: .relaxed)
        let ready = core.poll()
        if !ready.isEmpty { return FiredSources(elements: ready) }
        if Task.isCancelled { throw CancellationError() }
        let deadline = Deadline(timeout: timeout)
        let fired = await withTaskCancellationHandler {
            await BlockingOffload.run { FiredSources(elements: core.wait(deadline: deadline)) }
        } onCancel: {
            core.interruptWait()
        }
        // Relaxed: the offload thread's result came back through the continuation.
        let wasCancelled = core.cancelled.exchange(false, ordering: .relaxed)
        if fired.isEmpty && (wasCancelled || Task.isCancelled) { throw CancellationError() }
        return fired
    }
}
