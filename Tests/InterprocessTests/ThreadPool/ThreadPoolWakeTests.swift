import Foundation
import Synchronization
import Testing
@testable import Interprocess

/// The waking protocol of the pool's workers: no queued job waits while a worker sleeps.
@Suite(.timeLimit(.minutes(2)))
struct ThreadPoolWakeTests {
    /// Regression: two jobs queued while one worker still counted as a searcher (so both
    /// producers skipped their wakes) and the other slept. The searcher had already looked for
    /// the last time, found the jobs only in its park's re-check, took the first and ran it; the
    /// second waited for it with the other worker asleep. A worker whose re-check finds work
    /// must hand the rest on, as a leaving searcher does.
    @Test func aWorkerWhoseParkRecheckFindsWorkWakesASleeperForTheRest() throws {
        let gate = TestGate()
        let started = TestCounter()
        let allStarted = TestGate()
        let once = OnceFlag()
        // The hook runs on the searcher between its last look and leaving the search, and
        // queues the two jobs there, through the same admit-push-notify path as `execute`.
        let hooks = PoolCore.TestHooks(searchFoundNothing: { core in
            guard once.claim() else { return }
            // The other worker does not search while this one does (one searcher for two
            // workers): it parks. Wait for its announcement, then long enough for it to be
            // asleep in the kernel, past its re-check.
            let deadline = Deadline(timeout: .seconds(10))
            // Relaxed: a test's poll; the pool's own handshake orders what matters.
            while core.park.waiters.pointee.load(ordering: .relaxed) == 0 && !deadline.hasPassed {
                CurrentThread.yield()
            }
            usleep(20_000)
            for _ in 0..<2 {
                guard core.admit(1) else { return }
                core.pushUnbounded(
                    .closure {
                        started.increment()
                        if started.count == 2 { allStarted.open() }
                        gate.wait()
                    })
            }
        })
        let pool = try ThreadPool(
            configuration: .init(threadCount: 2), unboundedRingCapacity: PoolCore.unboundedRingCapacity,
            testHooks: hooks)
        #expect(allStarted.wait(timeout: .seconds(10)))
        gate.open()
        pool.shutdown()
        #expect(try pool.awaitTermination(timeout: .seconds(30)))
    }

    /// Many rounds of "two long jobs queued at a random moment of the workers' search-and-park
    /// cycle": both must start although each holds its worker. One pool throughout, so the
    /// workers are caught searching, parking, asleep or just woken.
    @Test func twoQueuedJobsStartWhereverTheWorkersAreInTheirCycle() throws {
        let long =
            ProcessInfo.processInfo.environment["INTERPROCESS_LONG_TESTS"].map { !$0.isEmpty && $0 != "0" } ?? false
        let rounds = long ? 200_000 : 10_000
        let pool = try ThreadPool(threadCount: 2)
        var generator = SystemRandomNumberGenerator()
        for round in 0..<rounds {
            let gate = TestGate()
            let started = TestCounter()
            let allStarted = TestGate()
            let delay = Int.random(in: 0..<4_000, using: &generator)
            for _ in 0..<delay { CPU.relax() }
            for _ in 0..<2 {
                try pool.execute {
                    started.increment()
                    if started.count == 2 { allStarted.open() }
                    gate.wait()
                    // Longer than the adaptive batching's "quick batch" (20 µs), so every worker
                    // keeps taking single jobs and a round's jobs never share a batch.
                    let begin = Deadline.now.uptimeNanoseconds
                    while Deadline.now.uptimeNanoseconds &- begin < 40_000 { CPU.relax() }
                }
            }
            let bothStarted = allStarted.wait(timeout: .seconds(10))
            #expect(bothStarted, "round \(round): \(started.count) of 2 started")
            gate.open()
            try pool.waitUntilIdle()
            if !bothStarted { break }
        }
        pool.shutdown()
        #expect(try pool.awaitTermination(timeout: .seconds(30)))
    }
}

/// A flag that one caller claims.
final class OnceFlag: Sendable {
    private let claimed = Atomic<Bool>(false)
    /// Whether this call claimed the flag (only the first does).
    func claim() -> Bool {
        // Relaxed: only the exchange's atomicity matters; nothing is published through it.
        !claimed.exchange(true, ordering: .relaxed)
    }
}
