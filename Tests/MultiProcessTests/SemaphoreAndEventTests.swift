import Glibc
import Interprocess
import Testing

extension MultiProcessTests {
    /// `ProcessSemaphore` and `ProcessEvent` across processes. Neither can lose a wake-up to
    /// timing (a semaphore counts, an event stays set), so the parent may signal as soon as a
    /// child says "waiting", whether or not the child sleeps yet.
    @Suite struct SemaphoreAndEvent {
        /// Three children wait on a semaphore; three units from the parent release each of
        /// them once, and a fourth waiter, finding none left, times out.
        @Test func semaphoreReleasesWaitingChildren() throws {
            let scenario = Scenario("sem")
            defer { scenario.removeAll() }
            let semaphore = try ProcessSemaphore(named: scenario.semaphore, initialValue: 0, mode: .create)
            let waiters = try (0..<3).map { _ in try Peer("semaphore-wait", scenario.name, "30000") }
            for waiter in waiters { try waiter.waitFor("waiting") }
            for _ in waiters { try semaphore.signal() }
            for waiter in waiters {
                try waiter.waitFor("acquired")
                #expect(try waiter.waitForExit() == .exited(0))
            }
            #expect(semaphore.value == 0)

            let late = try Peer("semaphore-wait", scenario.name, "50")
            let line = try late.waitFor(["acquired", "timedout"])
            #expect(line.hasPrefix("timedout"))
            #expect(try reportedMilliseconds(line) >= 50)
            #expect(try late.waitForExit() == .exited(0))
        }

        /// A child signals a semaphore another child waits on.
        @Test func semaphoreSignaledByAnotherChild() throws {
            let scenario = Scenario("sem-peers")
            defer { scenario.removeAll() }
            let semaphore = try ProcessSemaphore(named: scenario.semaphore, initialValue: 0, mode: .create)
            let waiter = try Peer("semaphore-wait", scenario.name, "30000")
            try waiter.waitFor("waiting")
            let signaller = try Peer("semaphore-signal", scenario.name, "1")
            try signaller.waitFor("signaled")
            try waiter.waitFor("acquired")
            #expect(try signaller.waitForExit() == .exited(0))
            #expect(try waiter.waitForExit() == .exited(0))
            #expect(semaphore.value == 0)
        }

        /// Setting a manual-reset event releases every waiting child, and it stays set.
        @Test func manualEventReleasesAllWaitingChildren() throws {
            let scenario = Scenario("event-manual")
            defer { scenario.removeAll() }
            let event = try ProcessEvent(named: scenario.event, resetMode: .manual, mode: .create)
            let waiters = try (0..<3).map { _ in try Peer("event-wait", scenario.name, "30000") }
            for waiter in waiters { try waiter.waitFor("waiting") }
            event.set()
            for waiter in waiters {
                try waiter.waitFor("set")
                #expect(try waiter.waitForExit() == .exited(0))
            }
            #expect(event.isSet)
        }

        /// Each set of an auto-reset event (made by a child) releases exactly one of two
        /// waiting children: after the first set one child passes and the event is consumed;
        /// the second set releases the other.
        @Test func automaticEventReleasesOneChildPerSet() throws {
            let scenario = Scenario("event-auto")
            defer { scenario.removeAll() }
            let event = try ProcessEvent(named: scenario.event, resetMode: .automatic, mode: .create)
            let waiters = try (0..<2).map { _ in try Peer("event-wait", scenario.name, "30000") }
            for waiter in waiters { try waiter.waitFor("waiting") }

            let firstSetter = try Peer("event-set", scenario.name)
            try firstSetter.waitFor("set")
            #expect(try firstSetter.waitForExit() == .exited(0))
            let (first, _) = try Peer.first(of: waiters, saying: "set")
            #expect(try first.waitForExit() == .exited(0))
            // The released waiter consumed the set (it is gone, and the event is reset): the
            // other one still waits.
            #expect(!event.isSet)
            let other = waiters.first { $0 !== first }!

            event.set()
            try other.waitFor("set")
            #expect(try other.waitForExit() == .exited(0))
            #expect(!event.isSet)
        }
    }
}
