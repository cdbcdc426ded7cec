import Foundation
import Glibc
import Interprocess
import Synchronization
import Testing

extension MultiProcessTests {
    /// `ProcessCondition` waits and notifications crossing process boundaries.
    ///
    /// The protocol that makes these tests deterministic: a waiting peer says "waiting" while
    /// it still holds the mutex, then waits (which releases the mutex as it registers). The
    /// notifier takes the mutex after reading "waiting" — so only once the waiter is inside
    /// its wait — sets the predicate (`data[0]`) and notifies. The waiter re-checks the
    /// predicate under the mutex, so even a notification that came early could not be lost;
    /// a lost wake-up shows as "timedout" after the peer's long timeout.
    @Suite struct Condition {
        /// Sets the predicate and notifies one waiter, under the mutex.
        private func setAndNotify(_ mutex: ProcessMutex, _ condition: ProcessCondition, _ data: SharedArray<Int>) throws
        {
            #expect(try mutex.lock(timeout: .seconds(10)) == .acquired)
            data[0] = 1
            condition.notifyOne()
            try mutex.unlock()
        }

        @Test func parentNotifiesWaiterInChild() throws {
            let scenario = Scenario("cond-notify")
            defer { scenario.removeAll() }
            let (mutex, condition, data) = try scenario.makeMutexConditionAndData()
            let waiter = try Peer("wait-condition", scenario.name, "10000")
            try waiter.waitFor("waiting")
            try setAndNotify(mutex, condition, data)
            try waiter.waitFor("signaled")
            #expect(try waiter.waitForExit() == .exited(0))
        }

        @Test func childNotifiesWaiterInAnotherChild() throws {
            let scenario = Scenario("cond-peers")
            defer { scenario.removeAll() }
            _ = try scenario.makeMutexConditionAndData()
            let waiter = try Peer("wait-condition", scenario.name, "10000")
            try waiter.waitFor("waiting")
            // The notifier locks the mutex first, so it too notifies only once the waiter waits.
            let notifier = try Peer("notify", scenario.name)
            try notifier.waitFor("notified")
            try waiter.waitFor("signaled")
            #expect(try notifier.waitForExit() == .exited(0))
            #expect(try waiter.waitForExit() == .exited(0))
        }

        /// A 50 ms wait nobody signals ends by its deadline: not before 50 ms, and well under a
        /// second even on a loaded machine (the child measures on the monotonic clock).
        @Test func timedWaitInChildTimesOut() throws {
            let scenario = Scenario("cond-timeout")
            defer { scenario.removeAll() }
            _ = try scenario.makeMutexConditionAndData()
            let waiter = try Peer("wait-condition", scenario.name, "50")
            let line = try waiter.waitFor(["timedout", "signaled"])
            #expect(line.hasPrefix("timedout"))
            let elapsed = try reportedMilliseconds(line)
            #expect(elapsed >= 50)
            #expect(elapsed < 1000)
            #expect(try waiter.waitForExit() == .exited(0))
        }

        /// A waiter killed with `SIGKILL` in the middle of its wait breaks nothing: another
        /// waiter that waited beside it is woken by `notifyOne`, the mutex was not held by the
        /// dead waiter, and later wait/notify pairs and timed waits work as before.
        @Test func waiterKilledWhileWaiting() throws {
            let scenario = Scenario("cond-death")
            defer { scenario.removeAll() }
            let (mutex, condition, data) = try scenario.makeMutexConditionAndData()

            let victim = try Peer("wait-condition", scenario.name, "10000")
            try victim.waitFor("waiting")
            let survivor = try Peer("wait-condition", scenario.name, "10000")
            // The survivor says "waiting" under the mutex, so the victim had released it: the
            // victim is inside its wait.
            try survivor.waitFor("waiting")
            // Likewise, locking here returns once the survivor is inside its wait.
            #expect(try mutex.lock(timeout: .seconds(10)) == .acquired)
            try mutex.unlock()

            victim.send(SIGKILL)
            #expect(try victim.waitForExit() == .signaled(SIGKILL))

            // One notification, two registered waiters, one of them dead: the live one wakes.
            try setAndNotify(mutex, condition, data)
            try survivor.waitFor("signaled")
            #expect(try survivor.waitForExit() == .exited(0))

            // A later pair, across two children.
            #expect(try mutex.lock(timeout: .seconds(10)) == .acquired)
            data[0] = 0
            try mutex.unlock()
            let waiter = try Peer("wait-condition", scenario.name, "10000")
            try waiter.waitFor("waiting")
            let notifier = try Peer("notify", scenario.name)
            try notifier.waitFor("notified")
            try waiter.waitFor("signaled")
            #expect(try waiter.waitForExit() == .exited(0))
            #expect(try notifier.waitForExit() == .exited(0))

            // And a timed wait still times out on time.
            #expect(try mutex.lock(timeout: .seconds(10)) == .acquired)
            data[0] = 0
            try mutex.unlock()
            let timed = try Peer("wait-condition", scenario.name, "50")
            let line = try timed.waitFor(["timedout", "signaled"])
            #expect(line.hasPrefix("timedout"))
            let elapsed = try reportedMilliseconds(line)
            #expect(elapsed >= 50 && elapsed < 1000)
            #expect(try timed.waitForExit() == .exited(0))
        }

        /// A waiter killed with `SIGKILL` stays counted, and the next notification, with no live
        /// waiter, spends its wake-up on it. A live waiter that sleeps afterwards is woken by the
        /// notification after that: the dead waiter's stale count never hides it.
        @Test func aNotificationSpentOnAKilledWaiterHidesNoLiveOne() throws {
            let scenario = Scenario("cond-spent")
            defer { scenario.removeAll() }
            let (mutex, condition, data) = try scenario.makeMutexConditionAndData()
            let victim = try Peer("wait-condition", scenario.name, "10000")
            try victim.waitFor("waiting")
            // Locking returns once the victim is inside its wait (it released the mutex there).
            #expect(try mutex.lock(timeout: .seconds(10)) == .acquired)
            try mutex.unlock()
            victim.send(SIGKILL)
            #expect(try victim.waitForExit() == .signaled(SIGKILL))
            // Nobody alive waits: this wake-up goes to the dead waiter's count.
            condition.notifyOne()
            let waiter = try Peer("wait-condition", scenario.name, "10000")
            try waiter.waitFor("waiting")
            #expect(try mutex.lock(timeout: .seconds(10)) == .acquired)
            try mutex.unlock()
            let start = Deadline.now
            try setAndNotify(mutex, condition, data)
            let line = try waiter.waitFor(["signaled", "timedout"])
            #expect(line.hasPrefix("signaled"), "\(line)")
            #expect(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds < 5_000_000_000)
            #expect(try waiter.waitForExit() == .exited(0))
        }

        /// A timed wait whose mutex a child takes while the wait sleeps (the wait released it),
        /// and which is then stopped with `SIGSTOP` holding it: the wait comes back within its
        /// 1 s timeout plus slack, with `reacquireTimedOut`, not holding the mutex. The relock
        /// used to have no deadline, so the wait lasted as long as the child stayed stopped
        /// (here: until the safety valve kills it after 5 s, which turns into
        /// `previousOwnerDied`).
        @Test func timedWaitReturnsWhileTheMutexHolderIsStopped() throws {
            let scenario = Scenario("cond-stopped-holder")
            defer { scenario.removeAll() }
            let (mutex, condition, _) = try scenario.makeMutexConditionAndData()
            #expect(try mutex.lock(timeout: .seconds(10)) == .acquired)
            // The child blocks in its lock until our wait releases the mutex.
            let holder = try Peer("lock-and-hang", scenario.name)
            let pid = holder.pid
            // The stopper uses the peer alone until `stopperDone`; this thread touches it only after.
            nonisolated(unsafe) let stopperPeer = holder
            let waitReturned = DispatchSemaphore(value: 0)
            let stopperDone = DispatchSemaphore(value: 0)
            let stopped = Atomic<Bool>(false)
            let valveFired = Atomic<Bool>(false)
            let stopper = Thread {
                if (try? stopperPeer.waitFor("locked", timeout: .seconds(20))) != nil {
                    kill(pid, SIGSTOP)
                    // Relaxed: read after `stopperDone` is signalled, which orders it.
                    stopped.store(true, ordering: .relaxed)
                }
                if waitReturned.wait(timeout: .now() + 5) == .timedOut {
                    // The wait is stuck in its relock: end the test instead of hanging it.
                    valveFired.store(true, ordering: .relaxed)
                    kill(pid, SIGKILL)
                    kill(pid, SIGCONT)
                }
                stopperDone.signal()
            }
            stopper.start()
            let start = Deadline.now
            var error: ProcessMutexError? = nil
            do { _ = try condition.wait(on: mutex, timeout: .seconds(1)) } catch let e { error = e }
            let elapsed = elapsedMilliseconds(since: start)
            waitReturned.signal()
            stopperDone.wait()
            let wasStopped = stopped.load(ordering: .relaxed)
            let valve = valveFired.load(ordering: .relaxed)
            #expect(wasStopped, "the child never said it locked the mutex")
            #expect(!valve, "the wait did not return while the holder was stopped")
            #expect(error == .reacquireTimedOut)
            #expect(elapsed >= 1_000 && elapsed < 1_500, "returned after \(elapsed) ms")
            if error == .previousOwnerDied || error == nil {
                // (Without the deadline: the valve's kill ended the relock, which holds it.)
                if error == .previousOwnerDied { try mutex.markConsistent() }
                try mutex.unlock()
            }
            if error == .reacquireTimedOut {
                // Not held by us; held by the stopped child.
                #expect(throws: ProcessMutexError.notOwner) { try mutex.unlock() }
                #expect(try mutex.tryLock() == .timedOut)
            }
            holder.send(SIGCONT)
            holder.send(SIGKILL)
            #expect(try holder.waitForExit() == .signaled(SIGKILL))
            // The child died holding it: the next lock is told so.
            switch try mutex.lock(timeout: .seconds(10)) {
            case .previousOwnerDied:
                try mutex.markConsistent()
                try mutex.unlock()
            case .acquired: try mutex.unlock()
            case .timedOut: Issue.record("the dead child's mutex could not be locked")
            }
        }
    }
}
