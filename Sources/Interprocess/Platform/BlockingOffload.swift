import Synchronization

/// Runs blocking waits on threads of its own, so `async` callers never block a thread of Swift's
/// cooperative pool.
///
/// Swift concurrency has as many cooperative threads as cores; a futex wait on one of them
/// would stall unrelated tasks. An `async` wait therefore hands the blocking part to one of these
/// threads and suspends. Threads are created on demand, reused, and exit after
/// ``idleLifetime`` without work, so an idle process holds none.
enum BlockingOffload {
    /// How long an idle offload thread waits for work before exiting.
    static let idleLifetime: Duration = .seconds(5)

    private struct State {
        var jobs: [@Sendable () -> Void] = []
        /// Threads between registering as idle and leaving the wait (always counted under the
        /// lock by the thread itself).
        var idleThreads = 0
    }

    private static let state = PlatformLock(State())
    /// The futex word idle threads sleep on; bumped once per job queued while a thread is idle.
    private static let wakeWord = WakeWord()

    private final class WakeWord: @unchecked Sendable {
        // A heap word that never moves, so its address can be a futex; never freed (static).
        let pointer: UnsafeMutablePointer<UInt32> = {
            let p = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
            p.initialize(to: 0)
            return p
        }()
        var atomic: UnsafeMutablePointer<Atomic<UInt32>> {
            UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: Atomic<UInt32>.self)
        }
    }

    /// Runs `body` on an offload thread and returns its result.
    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            submit { continuation.resume(returning: body()) }
        }
    }

    private static func submit(_ body: @escaping @Sendable () -> Void) {
        let someoneIdle = state.withLock { state -> Bool in
            state.jobs.append(body)
            return state.idleThreads > 0
        }
        if someoneIdle {
            // Relaxed: the job travels under the mutex; the word only ends a sleep. An idle
            // thread read the word under the mutex before we queued, so it sees the change.
            wakeWord.atomic.pointee.add(1, ordering: .relaxed)
            Futex.wake(wakeWord.pointer, count: 1)
            return
        }
        do {
            try PlatformThread.spawnDetached(name: "ipc-offload", workerLoop)
        } catch {
            // No thread could be made (thread limit reached): run inline rather than lose the
            // job. This blocks the caller, the lesser evil.
            runPending()
        }
    }

    private static func runPending() {
        while let job = state.withLock({ $0.jobs.isEmpty ? nil : $0.jobs.removeFirst() }) {
            // Relaxed: a statistic for tests and diagnostics.
            running.add(1, ordering: .relaxed)
            job()
            running.subtract(1, ordering: .relaxed)
        }
    }

    /// Jobs running on offload threads now (for tests and diagnostics).
    static let running = Atomic<Int>(0)

    @Sendable private static func workerLoop() {
        while true {
            runPending()
            let observed: UInt32? = state.withLock { state in
                guard state.jobs.isEmpty else { return nil }
                state.idleThreads += 1
                return wakeWord.atomic.pointee.load(ordering: .relaxed)
            }
            guard let observed else { continue }
            let result = Futex.wait(wakeWord.pointer, expecting: observed, deadline: .after(idleLifetime))
            // Leave the idle state; exit only if nothing is queued (a submitter that saw us idle
            // queued its job before waking us, so it is visible here).
            let exit = state.withLock { state -> Bool in
                state.idleThreads -= 1
                return result == .timedOut && state.jobs.isEmpty
            }
            if exit { return }
        }
    }
}
