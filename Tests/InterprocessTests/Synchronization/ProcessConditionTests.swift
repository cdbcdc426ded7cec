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
        var registeredWaiters: UInt32 { condition.waiters.atomic.pointee.load(ordering: .sequentiallyConsistent) }
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
                let full = (try? pair.condition.wait(on: pair.mutex, timeout: .seconds(10)) { base.load(as: Int.self) != 0 }) ?? false
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
}
