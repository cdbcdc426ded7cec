extension ThreadPool {
    /// Runs `body` on a worker and suspends the calling task, without blocking its thread,
    /// until the result is ready.
    ///
    /// Cancelling the calling task before a worker starts `body` removes it from the queue;
    /// once started, it runs to the end (check your own cancellation flag to stop early).
    ///
    /// - Parameter body: The blocking or CPU-heavy work.
    /// - Returns: What `body` returned.
    /// - Throws: The error `body` threw, as itself (`catch let error as MyError` matches it);
    ///   `RunError.rejected` if the pool did not accept the work, `RunError.cancelled` if the
    ///   calling task was cancelled before the work started, `RunError.discardedByShutdown`.
    public func run<Success: Sendable>(
        _ body: @escaping @Sendable () throws -> Success
    ) async throws -> Success {
        let handle: TaskHandle<Success>
        do {
            handle = try submit(body)
        } catch {
            throw RunError.rejected(error)
        }
        let box = handle.box
        await withTaskCancellationHandler {
            await box.waitAsync()
        } onCancel: {
            handle.cancel()
        }
        // By phase, not by error: a body that itself throws a `TaskError` reports it as is.
        switch box.phase {
        case TaskBox<Success>.cancelled: throw RunError.cancelled
        case TaskBox<Success>.discarded: throw RunError.discardedByShutdown
        default: return try box.result().get()
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
