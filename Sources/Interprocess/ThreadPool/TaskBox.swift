import Synchronization

/// The shared state of one submitted task: its body, its result, and who waits for it.
final class TaskBox<Success: Sendable>: PoolTask, @unchecked Sendable {
    // Phases in the low byte of `state`.
    static var queued: UInt32 { 0 }
    static var running: UInt32 { 1 }
    static var succeeded: UInt32 { 2 }
    static var failed: UInt32 { 3 }
    static var cancelled: UInt32 { 4 }
    static var discarded: UInt32 { 5 }
    static var phaseMask: UInt32 { 0xFF }
    /// A thread sleeps (or is about to) on the futex: the finisher must wake it.
    static var sleeperFlag: UInt32 { 0x100 }
    /// Async waiters are registered in `continuations`: the finisher must resume them.
    static var asyncFlag: UInt32 { 0x200 }

    /// Futex word. Low byte: the phase, which moves only forward:
    /// `queued → running → succeeded | failed` (the thread that wins the CAS from `queued`
    /// runs the body), or `queued → cancelled` (`cancel()`), or `queued → discarded`
    /// (immediate shutdown). Terminal phases never change. The flag bits are set by waiters
    /// while the phase is not terminal and cleared by the transition to a terminal phase, whose
    /// author wakes the sleepers / resumes the continuations the flags announced.
    let state = FutexWord.allocate(initialValue: 0)
    let core: PoolCore
    /// Read only by the thread that won the CAS out of `queued`.
    private var body: (@Sendable () throws -> Success)?
    /// Written once, before the terminal phase is published with release ordering; read only
    /// after an acquiring read of a terminal phase.
    private var outcome: Result<Success, any Error>? = nil
    private let continuations = Mutex<[CheckedContinuation<Void, Never>]>([])
    /// Shows the mutual exclusion of `continuations` to the thread sanitizer (see
    /// `PoolCore.lockOrder`).
    private let lockOrder = Atomic<Int>(0)

    init(core: PoolCore, body: @escaping @Sendable () throws -> Success) {
        self.core = core
        self.body = body
    }

    deinit { state.deallocate() }

    @inline(__always)
    static func isTerminal(_ value: UInt32) -> Bool { value & phaseMask >= succeeded }

    /// Moves `queued → running`; returns whether this caller won.
    @inline(__always)
    func claim() -> Bool {
        // Relaxed: a first look; the CAS decides.
        var current = state.atomic.pointee.load(ordering: .relaxed)
        while current & Self.phaseMask == Self.queued {
            // SYNC POINT (acquire): pairs with the submitter's release publication of the job
            // (the queue's publish, or the handle's hand-over to a waiting worker) so `body` is
            // visible to us.
            let (won, now) = state.atomic.pointee.weakCompareExchange(
                expected: current, desired: (current & ~Self.phaseMask) | Self.running,
                ordering: .acquiringAndReleasing)
            if won { return true }
            current = now
        }
        return false
    }

    override func runIfQueued() -> RunOutcome {
        guard claim() else { return .skipped }
        let work = body!
        body = nil
        do {
            let value = try work()
            finish(phase: Self.succeeded, outcome: .success(value))
            return .succeeded
        } catch {
            finish(phase: Self.failed, outcome: .failure(error))
            return .failed
        }
    }

    /// Publishes a terminal phase (from `running`), then wakes whoever the flags announced.
    private func finish(phase: UInt32, outcome: Result<Success, any Error>) {
        self.outcome = outcome
        // SYNC POINT (release): publishes `outcome` to waiters that acquire the terminal phase.
        // Acquire: we read the flags other threads set.
        let old = state.atomic.pointee.exchange(phase, ordering: .acquiringAndReleasing)
        wake(flags: old)
    }

    private func wake(flags old: UInt32) {
        if old & Self.sleeperFlag != 0 { state.wakeAll() }
        if old & Self.asyncFlag != 0 {
            let waiting = continuations.withLock { list in
                // SYNC POINT (acquire/release): as `PoolCore.enterLocked`/`leaveLocked`.
                _ = lockOrder.load(ordering: .acquiring)
                defer { lockOrder.add(1, ordering: .releasing) }
                let taken = list
                list.removeAll()
                return taken
            }
            for continuation in waiting { continuation.resume() }
        }
    }

    /// Moves `queued → to` for cancel and discard; returns whether it happened.
    private func end(as phase: UInt32) -> Bool {
        // Relaxed: a first look; the CAS decides.
        var current = state.atomic.pointee.load(ordering: .relaxed)
        while current & Self.phaseMask == Self.queued {
            // SYNC POINT (release): waiters acquiring the terminal phase see a settled box.
            let (won, now) = state.atomic.pointee.weakCompareExchange(
                expected: current, desired: phase, ordering: .acquiringAndReleasing)
            if won {
                wake(flags: current)
                return true
            }
            current = now
        }
        return false
    }

    func cancel() -> Bool {
        guard end(as: Self.cancelled) else { return false }
        core.cancelledCount.pointee.add(1, ordering: .relaxed)  // Relaxed: statistic.
        // A delayed task leaves the timer at once, so `waitUntilIdle` and a graceful shutdown
        // do not wait for its time; whoever took the entry out retires it (here, or the timer
        // that already queued it, whose worker skips it).
        if let entry = delayEntry, core.timer.remove(entry) { core.retire(1) }
        return true
    }

    /// Sleeps until `deadline` or until the task reaches a terminal phase (a cancel), whichever
    /// comes first.
    func sleepWhileQueued(until deadline: Deadline) {
        while !deadline.hasPassed {
            // Acquire-release: as in `waitBlocking`; the flag makes a cancel wake us.
            let (old, announced) = state.atomic.pointee.bitwiseOr(
                Self.sleeperFlag, ordering: .acquiringAndReleasing)
            if Self.isTerminal(old) { return }
            _ = state.wait(expecting: announced, deadline: deadline)
        }
    }

    override func discard() -> Bool { end(as: Self.discarded) }

    /// The phase, read with acquire ordering (pairs with the terminal transitions).
    @inline(__always)
    var phase: UInt32 { state.atomic.pointee.load(ordering: .acquiring) & Self.phaseMask }

    /// The outcome once terminal (call only after observing a terminal phase).
    ///
    /// A body that threw reports its own error, unwrapped; a task that never ran reports a
    /// `ThreadPool.TaskError`.
    func result() -> Result<Success, any Error> {
        switch phase {
        case Self.succeeded, Self.failed: return outcome!
        case Self.cancelled: return .failure(ThreadPool.TaskError.cancelled)
        case Self.discarded: return .failure(ThreadPool.TaskError.discardedByShutdown)
        default: preconditionFailure("Interprocess internal error: result of an unfinished task")
        }
    }

    /// Blocks until terminal or `deadline`; returns whether terminal. Never runs the task.
    func waitBlocking(deadline: Deadline) -> Bool {
        // SYNC POINT (acquire, every load of `state` here): pairs with the releasing terminal
        // transition, so the outcome is visible once we see a terminal phase.
        if Self.isTerminal(state.atomic.pointee.load(ordering: .acquiring)) { return true }
        // Acquire: pairs with the release of the terminal transition.
        if core.spinWait(until: { Self.isTerminal(state.atomic.pointee.load(ordering: .acquiring)) }) {
            return true
        }
        while true {
            // Acquire-release: we announce ourselves and read the current phase at once.
            let (old, announced) = state.atomic.pointee.bitwiseOr(
                Self.sleeperFlag, ordering: .acquiringAndReleasing)
            if Self.isTerminal(old) { return true }
            if state.wait(expecting: announced, deadline: deadline) == .timedOut {
                return Self.isTerminal(state.atomic.pointee.load(ordering: .acquiring))
            }
        }
    }

    /// Suspends until terminal, without blocking a thread.
    func waitAsync() async {
        // SYNC POINT (acquire): pairs with the releasing terminal transition.
        if Self.isTerminal(state.atomic.pointee.load(ordering: .acquiring)) { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = continuations.withLock { list -> Bool in
                // SYNC POINT (acquire/release): as `PoolCore.enterLocked`/`leaveLocked`.
                _ = lockOrder.load(ordering: .acquiring)
                defer { lockOrder.add(1, ordering: .releasing) }
                // Relaxed: a first look; the CAS decides.
                var current = state.atomic.pointee.load(ordering: .relaxed)
                while !Self.isTerminal(current) {
                    // Acquire-release: registering under the lock; the finisher takes the lock
                    // after its exchange, so it finds this continuation.
                    let (won, now) = state.atomic.pointee.weakCompareExchange(
                        expected: current, desired: current | Self.asyncFlag,
                        ordering: .acquiringAndReleasing)
                    if won {
                        list.append(continuation)
                        return false
                    }
                    current = now
                }
                return true
            }
            if resumeNow { continuation.resume() }
        }
    }
}
