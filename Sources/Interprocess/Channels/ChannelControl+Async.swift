import Synchronization

extension ChannelControl {
    /// Waits like ``wait(on:strategy:deadline:_:)`` without blocking the calling task's thread:
    /// polls briefly in place (the adaptive spin), then sleeps on an offload thread.
    ///
    /// Cancelling the task wakes the offload thread at once (a spurious wake-up for other
    /// sleepers on the same word, which they tolerate); the caller then sees
    /// `Task.isCancelled`.
    static func waitAsync(on words: WakeWords, strategy: WaitStrategy, _ ready: @escaping @Sendable () -> Bool) async
        -> WaitOutcome
    {
        // Spin in place first: while traffic flows this is as fast as the synchronous path and
        // no thread hop happens. The spin is bounded by the adaptive budget even for `.spin`,
        // because spinning on a cooperative thread starves other tasks.
        let spinEnd = Deadline.after(strategy == .block ? .zero : ChannelControl.adaptiveSpin)
        var iterations = 0
        while !spinEnd.hasPassed || iterations < 64 {
            if ready() { return .ready }
            CPU.relax()
            iterations &+= 1
            if iterations & 63 == 0 && spinEnd.hasPassed { break }
        }
        let cancelled = CancellationFlag()
        let outcome = await withTaskCancellationHandler {
            await BlockingOffload.run {
                ChannelControl.wait(on: words, strategy: .block, deadline: .after(ChannelControl.livenessInterval)) {
                    ready() || cancelled.isSet
                }
            }
        } onCancel: {
            cancelled.set()
            words.wakeAll()
        }
        // The offload wait's only deadline is the liveness slice, so `wait` reports the slice's
        // end as `.timedOut`; for our callers, which have no deadline, that is the time to check
        // for dead peers: `.checkLiveness`, never `.timedOut`.
        return outcome == .timedOut ? .checkLiveness : outcome
    }

    /// A flag set once by a cancellation handler.
    final class CancellationFlag: Sendable {
        private let value = Atomic<Bool>(false)
        // Relaxed: the futex wake that follows `set` is the synchronisation; the flag is only
        // re-read by the woken waiter.
        func set() { value.store(true, ordering: .relaxed) }
        var isSet: Bool { value.load(ordering: .relaxed) }
    }
}
