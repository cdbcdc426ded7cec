import Synchronization

/// Runs blocking waits on threads of its own, so `async` callers never block a thread of Swift's
/// cooperative pool.
///
/// Swift concurrency has as many cooperative threads as cores; a futex wait on one of them
/// would stall unrelated tasks. An `async` wait therefore hands the blocking part to one of these
/// threads and suspends. Every job is a wait that may last long, so every queued job gets a
/// thread of its own: an idle thread claimed for it, or a new one. Threads are reused, and exit
/// after ``idleLifetime`` without work, so an idle process holds none.
enum BlockingOffload {
    /// How long an idle offload thread waits for work before exiting.
    static let idleLifetime: Duration = .seconds(5)

    private struct State {
        var jobs: [@Sendable () -> Void] = []
        /// Threads parked and not yet claimed, each on its own futex word. A submitter pops one
        /// per job, so two jobs never wait behind each other on one thread.
        var idle: [IdleThread] = []
    }

    private static let state = PlatformLock(State())

    /// A parked thread's wake-up word: 0 parked, 1 claimed by a submitter.
    ///
    /// Only the submitter that popped the thread from `idle` stores 1 (and wakes it); the thread
    /// resets it to 0 before parking again.
    private final class IdleThread: @unchecked Sendable {
        // A heap word that never moves while the thread may sleep on it; freed with the
        // thread's last reference, after its last wait.
        let word = FutexWord.allocate(initialValue: 0)
        deinit { word.deallocate() }
    }

    /// Runs `body` on an offload thread and returns its result.
    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            submit { continuation.resume(returning: body()) }
        }
    }

    private static func submit(_ body: @escaping @Sendable () -> Void) {
        let claimed = state.withLock { state -> IdleThread? in
            state.jobs.append(body)
            return state.idle.popLast()
        }
        if let claimed {
            // Relaxed: the job travels under the lock; the word only ends the sleep.
            claimed.word.atomic.pointee.store(1, ordering: .relaxed)
            claimed.word.wake(count: 1)
            return
        }
        do {
            try PlatformThread.spawnDetached(name: "ipc-offload", workerLoop)
        } catch {
            // No thread could be made (thread limit reached): run it inline rather than lose
            // it. This blocks the caller, the lesser evil.
            runOne()
        }
    }

    /// Runs one queued job, if any; returns whether it did.
    @discardableResult
    private static func runOne() -> Bool {
        guard let job = state.withLock({ $0.jobs.isEmpty ? nil : $0.jobs.removeFirst() }) else { return false }
        // Relaxed: a statistic for tests and diagnostics.
        running.add(1, ordering: .relaxed)
        started.add(1, ordering: .relaxed)
        job()
        running.subtract(1, ordering: .relaxed)  // Relaxed: as above.
        return true
    }

    /// Jobs running on offload threads now (for tests and diagnostics).
    static let running = Atomic<Int>(0)
    /// Jobs started since the process began (for tests and diagnostics).
    static let started = Atomic<Int>(0)

    @Sendable private static func workerLoop() {
        let me = IdleThread()
        while true {
            // One job at a time, then park: a job that arrives while this one runs has claimed
            // (or started) a thread of its own.
            if runOne() { continue }
            let parked = state.withLock { state -> Bool in
                guard state.jobs.isEmpty else { return false }
                // Relaxed: reset under the lock, before anyone can pop us.
                me.word.atomic.pointee.store(0, ordering: .relaxed)
                state.idle.append(me)
                return true
            }
            guard parked else { continue }
            let deadline = Deadline.after(idleLifetime)
            // Relaxed: the job travels under the lock; the word only ends the sleep.
            while me.word.atomic.pointee.load(ordering: .relaxed) == 0 {
                if me.word.wait(expecting: 0, deadline: deadline) == .timedOut {
                    // Leave, unless a submitter claimed us meanwhile (then it removed us from
                    // `idle` and a job is waiting for us).
                    let leave = state.withLock { state -> Bool in
                        guard let index = state.idle.firstIndex(where: { $0 === me }) else { return false }
                        state.idle.remove(at: index)
                        return true
                    }
                    if leave { return }
                    break
                }
            }
        }
    }
}
