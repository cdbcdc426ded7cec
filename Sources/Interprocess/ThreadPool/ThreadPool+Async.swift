extension ThreadPool {
    /// Runs `body` on a worker and suspends the calling task, without blocking its thread,
    /// until the result is ready.
    ///
    /// Cancelling the calling task before a worker starts `body` removes it from the queue;
    /// once started, it runs to the end (check your own cancellation flag to stop early).
    ///
    /// - Parameter body: The blocking or CPU-heavy work.
    /// - Returns: What `body` returned.
    /// - Throws: `RunError.rejected` if the pool did not accept the work, `.cancelled` if the
    ///   calling task was cancelled before the work started, `.discardedByShutdown`, or
    ///   `.threw` with `body`'s error.
    public func run<Success: Sendable>(
        _ body: @escaping @Sendable () throws -> Success
    ) async throws(RunError) -> Success {
        let handle: TaskHandle<Success>
        do {
            handle = try submit(body)
        } catch {
            throw .rejected(error)
        }
        let result: Result<Success, TaskError> = await withTaskCancellationHandler {
            await handle.box.waitAsync()
            return handle.box.result()
        } onCancel: {
            handle.cancel()
        }
        switch result {
        case .success(let value): return value
        case .failure(.cancelled): throw .cancelled
        case .failure(.discardedByShutdown): throw .discardedByShutdown
        case .failure(.threw(let error)): throw .threw(error)
        }
    }

    /// Suspends the calling task, without blocking its thread, until every worker thread has
    /// exited after a shutdown.
    public func awaitTermination() async {
        let core = self.core
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = core.terminationWaiters.withLock { state -> Bool in
                core.enterLocked()
                defer { core.leaveLocked() }
                if state.terminated { return true }
                state.continuations.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}
