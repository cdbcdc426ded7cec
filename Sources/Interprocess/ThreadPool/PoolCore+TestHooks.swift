extension PoolCore {
    /// Points in the workers' loop where a test runs code of its own, to place another thread's
    /// step inside a window that is otherwise a few instructions wide. Every hook is `nil` in a
    /// pool made through the public API; a hook runs on the worker thread, inline.
    struct TestHooks: Sendable {
        /// Runs on a worker whose search found nothing, after its last look at the queue and
        /// while it still counts as a searcher (so producers still skip their wakes for it).
        var searchFoundNothing: (@Sendable (PoolCore) -> Void)? = nil
        /// Makes starting the timer thread fail, as it does at the process's thread limit.
        var timerThreadFails = false
    }
}
