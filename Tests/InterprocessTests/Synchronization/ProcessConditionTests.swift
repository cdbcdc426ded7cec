import Glibc
import Synchronization
import Testing

@testable import Interprocess

@Suite struct ProcessConditionTests {
    /// A named mutex and condition, removed by `cleanup`.
    struct Pair {
        let mutex: ProcessMutex
        let condition: ProcessCondition
        let name: String
        func cleanup() {
            removeQuietly(name + ".m")
            removeQuietly(name + ".c")
        }
        /// *W*, the announced waiters (the waiter word's low half).
        var registeredWaiters: UInt32 { UInt32(truncatingIfNeeded: waiterWord) }
        /// *S*, the wake-ups sent and not yet taken (the high half).
        var sentWakeUps: UInt32 { UInt32(truncatingIfNeeded: waiterWord >> 32) }
        var waiterWord: UInt64 { condition.waiters.pointee.load(ordering: .sequentiallyConsistent) }
        var sequence: UInt32 { condition.sequence.atomic.pointee.load(ordering: .sequentiallyConsistent) }
    }

    func makePair(_ test: String = #function) throws -> Pair {
        let name = uniqueName(test)
        return Pair(
            mutex: try ProcessMutex(named: name + ".m", mode: .create),
            condition: try ProcessCondition(named: name + ".c", mode: .create), name: name)
    }

    /// Starts `count` threads that each wait once on the condition; `results` collects the
    /// outcome of each wait.
    func startWaiters(
        _ count: Int, on pair: Pair, results: Collector<ProcessCondition.WaitResult?>, tids: Collector<Int32>
    ) -> [TestThread] {
        (0..<count).map { _ in
            TestThread {
                tids.append(CurrentThread.id)
                guard (try? pair.mutex.lock(timeout: .seconds(10))) == .acquired else {
                    results.append(nil)
                    return
                }
                let outcome = try? pair.condition.wait(on: pair.mutex, timeout: .seconds(20))
                try? pair.mutex.unlock()
                results.append(outcome)
            }
        }
    }

    /// Waits until `count` waiters registered and every one sleeps in the kernel.
    func waitUntilAsleep(_ count: Int, pair: Pair, tids: Collector<Int32>) -> Bool {
        eventually(timeout: .seconds(10)) {
            pair.registeredWaiters == UInt32(count) && tids.all.count == count && tids.all.allSatisfy(threadIsSleeping)
        }
    }

    @Test func waitWithoutNotificationTimesOut() throws {
        let pair = try makePair()
        defer { pair.cleanup() }
        #expect(try pair.mutex.lock() == .acquired)
        let start = Deadline.now
        #expect(try pair.condition.wait(on: pair.mutex, timeout: .milliseconds(50)) == .timedOut)
        let elapsed = millisecondsSince(start)
        #expect(elapsed >= 50)
        #expect(elapsed < 1_000)
        // The mutex is held again.
        try pair.mutex.unlock()
        #expect(processMutexError { try pair.mutex.unlock() } == .notOwner)
        #expect(pair.registeredWaiters == 0)
    }

    @Test func notificationsBeforeTheWaitAreNotRemembered() throws {
        let pair = try makePair()
        defer { pair.cleanup() }
        pair.condition.notifyOne()
        pair.condition.notifyAll()
        #expect(try pair.mutex.lock() == .acquired)
        #expect(try pair.condition.wait(on: pair.mutex, timeout: .milliseconds(20)) == .timedOut)
        try pair.mutex.unlock()
    }

    @Test func waitingWithoutHoldingTheMutexIsNotOwner() throws {
        let pair = try makePair()
        defer { pair.cleanup() }
        #expect(processMutexError { _ = try pair.condition.wait(on: pair.mutex, timeout: .seconds(1)) } == .notOwner)
        #expect(pair.registeredWaiters == 0)
    }

    @Test func notifyOneWakesOneWaiter() throws {
        let pair = try makePair()
        defer { pair.cleanup() }
        let results = Collector<ProcessCondition.WaitResult?>()
        let tids = Collector<Int32>()
        let waiters = startWaiters(2, on: pair, results: results, tids: tids)
        defer { for waiter in waiters { waiter.join() } }
        try #require(waitUntilAsleep(2, pair: pair, tids: tids))

        pair.condition.notifyOne()
        #expect(eventually { results.all.count == 1 })
        usleep(200_000)
        #expect(results.all.count == 1, "notifyOne woke more than one waiter")
        #expect(results.all.first == .signaled)

        pair.condition.notifyOne()
        #expect(eventually { results.all.count == 2 })
        #expect(results.all == [.signaled, .signaled])
    }

    /// A waiter that was woken but has not run yet (here: announced by hand, never sleeping)
    /// has its wake-up: further notifications make no wake, as a stream's notifications must
    /// not each make a system call while the consumer is on its way.
    @Test func notificationsToAWokenWaiterWakeNobody() throws {
        let pair = try makePair()
        defer { pair.cleanup() }
        _ = pair.condition.announce()
        let before = pair.sequence
        pair.condition.notifyOne()
        #expect(pair.sequence == before &+ 1)
        #expect(pair.registeredWaiters == 1 && pair.sentWakeUps == 1)
        pair.condition.notifyOne()
        pair.condition.notifyAll()
        #expect(pair.sequence == before &+ 1, "a notification woke a waiter that had its wake-up")
        pair.condition.withdraw()
        #expect(pair.waiterWord == 0)
    }

    /// A waiter that died announced (here: announced by hand, never leaving) takes at most one
    /// wake-up; a live waiter that sleeps after it is woken by the next notification.
    @Test func aDeadWaiterNeverHidesALiveOne() throws {
        let pair = try makePair()
        defer { pair.cleanup() }
        _ = pair.condition.announce()
        pair.condition.notifyOne()  // spent on the dead waiter
        #expect(pair.registeredWaiters == 1 && pair.sentWakeUps == 1)
        let results = Collector<ProcessCondition.WaitResult?>()
        let tids = Collector<Int32>()
        let waiters = startWaiters(1, on: pair, results: results, tids: tids)
        defer { for waiter in waiters { waiter.join() } }
        try #require(
            eventually(timeout: .seconds(10)) {
                pair.registeredWaiters == 2 && tids.all.count == 1 && tids.all.allSatisfy(threadIsSleeping)
            })
        pair.condition.notifyOne()
        #expect(eventually { results.all == [.signaled] })
    }

    /// Another process's garbage in the waiter word (more wake-ups sent than waiters) withholds
    /// wake-ups only until a wait leaves: its leave cuts *S* down to *W*, and the next
    /// notification wakes as before.
    @Test func aHostileWaiterWordIsRepairedByTheNextWait() throws {
        let pair = try makePair()
        defer { pair.cleanup() }
        pair.condition.waiters.pointee.store(100 << 32, ordering: .sequentiallyConsistent)
        pair.condition.notifyOne()
        #expect(try pair.mutex.lock() == .acquired)
        #expect(try pair.condition.wait(on: pair.mutex, timeout: .milliseconds(20)) == .timedOut)
        try pair.mutex.unlock()
        #expect(pair.waiterWord == 0)
        let results = Collector<ProcessCondition.WaitResult?>()
        let tids = Collector<Int32>()
        let waiters = startWaiters(1, on: pair, results: results, tids: tids)
        defer { for waiter in waiters { waiter.join() } }
        try #require(waitUntilAsleep(1, pair: pair, tids: tids))
        pair.condition.notifyOne()
        #expect(eventually { results.all == [.signaled] })
    }

    @Test func notifyAllWakesEveryWaiter() throws {
        let pair = try makePair()
        defer { pair.cleanup() }
        let results = Collector<ProcessCondition.WaitResult?>()
        let tids = Collector<Int32>()
        let waiters = startWaiters(4, on: pair, results: results, tids: tids)
        try #require(waitUntilAsleep(4, pair: pair, tids: tids))
        let start = Deadline.now
        pair.condition.notifyAll()
        for waiter in waiters { waiter.join() }
        #expect(results.all == [.signaled, .signaled, .signaled, .signaled])
        #expect(millisecondsSince(start) < 10_000)
        #expect(pair.registeredWaiters == 0)
    }

    @Test func relockAfterAnOwnerDiedDuringTheWaitIsReported() throws {
        let pair = try makePair()
        defer { pair.cleanup() }
        let outcome = Collector<String>()
        let tids = Collector<Int32>()
        let waiter = TestThread {
            tids.append(CurrentThread.id)
            guard (try? pair.mutex.lock(timeout: .seconds(10))) == .acquired else { return }
            do {
                let result = try pair.condition.wait(on: pair.mutex, timeout: .seconds(20))
                outcome.append("returned \(result)")
                try? pair.mutex.unlock()
            } catch {
                outcome.append("\(error)")
                // The waiter holds the mutex: repair, then mark it consistent.
                do {
                    try pair.mutex.markConsistent()
                    try pair.mutex.unlock()
                    outcome.append("repaired")
                } catch {
                    outcome.append("repair failed: \(error)")
                }
            }
        }
        try #require(waitUntilAsleep(1, pair: pair, tids: tids))
        // Another thread takes the mutex, notifies, and dies holding it.
        TestThread {
            guard (try? pair.mutex.lock(timeout: .seconds(10))) == .acquired else { return }
            pair.condition.notifyAll()
        }.join()
        waiter.join()
        #expect(outcome.all == ["\(ProcessMutexError.previousOwnerDied)", "repaired"])
        #expect(try pair.mutex.lock() == .acquired)
        try pair.mutex.unlock()
    }

    @Test func predicateFormReturnsWhenThePredicateHolds() throws {
        let pair = try makePair()
        defer { pair.cleanup() }
        let flag = Atomic<Bool>(false)
        let checks = Counter()
        let setter = TestThread {
            usleep(30_000)
            guard (try? pair.mutex.lock(timeout: .seconds(10))) == .acquired else { return }
            flag.store(true, ordering: .relaxed)
            try? pair.mutex.unlock()
            pair.condition.notifyAll()
        }
        defer { setter.join() }
        #expect(try pair.mutex.lock() == .acquired)
        let satisfied = try pair.condition.wait(on: pair.mutex, timeout: .seconds(10)) {
            checks.increment()
            return flag.load(ordering: .relaxed)
        }
        #expect(satisfied)
        #expect(checks.current >= 2)
        try pair.mutex.unlock()
    }

    @Test func predicateFormTimesOut() throws {
        let pair = try makePair()
        defer { pair.cleanup() }
        #expect(try pair.mutex.lock() == .acquired)
        let start = Deadline.now
        #expect(try pair.condition.wait(on: pair.mutex, timeout: .milliseconds(50)) { false } == false)
        #expect(millisecondsSince(start) >= 50)
        // A predicate that already holds never waits.
        #expect(try pair.condition.wait(on: pair.mutex, timeout: .zero) { true })
        try pair.mutex.unlock()
    }

    @Test func handsOffItemsBetweenThreads() throws {
        // A one-slot queue in shared memory guarded by the mutex, with the condition as
        // "changed": the producer waits for an empty slot, the consumer for a full one.
        let pair = try makePair()
        defer { pair.cleanup() }
        let slot = try SharedMemory.anonymous(size: 16)
        let base = slot.bytes.baseAddress!
        let received = Collector<Int>()
        let consumer = TestThread {
            let base = slot.bytes.baseAddress!
            for _ in 0..<100 {
                guard (try? pair.mutex.lock(timeout: .seconds(10))) == .acquired else { return }
                let full =
                    (try? pair.condition.wait(on: pair.mutex, timeout: .seconds(10)) { base.load(as: Int.self) != 0 })
                    ?? false
                if full {
                    received.append(base.load(fromByteOffset: 8, as: Int.self))
                    base.storeBytes(of: 0, as: Int.self)
                }
                try? pair.mutex.unlock()
                pair.condition.notifyAll()
                if !full { return }
            }
        }
        for item in 1...100 {
            #expect(try pair.mutex.lock(timeout: .seconds(10)) == .acquired)
            let empty = try pair.condition.wait(on: pair.mutex, timeout: .seconds(10)) { base.load(as: Int.self) == 0 }
            #expect(empty)
            base.storeBytes(of: item, toByteOffset: 8, as: Int.self)
            base.storeBytes(of: 1, as: Int.self)
            try pair.mutex.unlock()
            pair.condition.notifyAll()
        }
        consumer.join()
        #expect(received.all == Array(1...100))
    }

    /// Locks the pair's mutex on another thread as soon as it is free (while a wait has released
    /// it) and holds it until the returned latch opens, as a stopped process would.
    func takeMutexWhenFreeAndHold(_ pair: Pair) -> (acquired: Latch, release: Latch, thread: TestThread) {
        let acquired = Latch()
        let release = Latch()
        let thread = TestThread {
            guard (try? pair.mutex.lock(timeout: .seconds(10))) == .acquired else { return }
            acquired.open()
            _ = release.wait(seconds: 30)
            try? pair.mutex.unlock()
        }
        return (acquired, release, thread)
    }

    /// A timed wait whose mutex another thread takes while it sleeps, and keeps past the
    /// deadline, ends on time with `reacquireTimedOut`, not holding the mutex. (The relock used
    /// to have no deadline, and the wait lasted as long as the holder held on.)
    @Test func relockKeepsTheWaitsDeadline() throws {
        let pair = try makePair()
        defer { pair.cleanup() }
        #expect(try pair.mutex.lock() == .acquired)
        let holder = takeMutexWhenFreeAndHold(pair)
        defer {
            holder.release.open()
            holder.thread.join()
        }
        let start = Deadline.now
        #expect(
            processMutexError { _ = try pair.condition.wait(on: pair.mutex, timeout: .milliseconds(300)) }
                == .reacquireTimedOut)
        let elapsed = millisecondsSince(start)
        #expect(elapsed >= 300)
        #expect(elapsed < 1_300)
        #expect(holder.acquired.wait(seconds: 0))
        // Not held by this thread: unlocking is refused, and the holder still has it.
        #expect(processMutexError { try pair.mutex.unlock() } == .notOwner)
        #expect(try pair.mutex.tryLock() == .timedOut)
        #expect(pair.registeredWaiters == 0)
    }

    /// The predicate form throws the same error, and inside `withLock` the caller gets exactly
    /// `reacquireTimedOut`: the deferred unlock of a mutex the thread no longer holds neither
    /// replaces it nor unlocks the holder's mutex.
    @Test func relockTimeoutInsideWithLockPropagates() throws {
        let pair = try makePair()
        defer { pair.cleanup() }
        // Started inside the critical section, so that it gets the mutex only when the wait
        // releases it (started before, it could win the mutex from withLock itself).
        var started: (acquired: Latch, release: Latch, thread: TestThread)? = nil
        defer {
            started?.release.open()
            started?.thread.join()
        }
        var bodyRan = false
        let start = Deadline.now
        let error = processMutexError {
            try pair.mutex.withLock(timeout: .seconds(5)) {
                bodyRan = true
                started = takeMutexWhenFreeAndHold(pair)
                _ = try pair.condition.wait(on: pair.mutex, timeout: .milliseconds(200)) { false }
                Issue.record("the wait returned although another thread holds the mutex")
            }
        }
        #expect(bodyRan)
        #expect(error == .reacquireTimedOut)
        #expect(millisecondsSince(start) < 1_200)
        // The holder's lock is intact.
        #expect(try pair.mutex.tryLock() == .timedOut)
        let holder = try #require(started)
        holder.release.open()
        holder.thread.join()
        #expect(try pair.mutex.lock(timeout: .seconds(5)) == .acquired)
        try pair.mutex.unlock()
    }
}
