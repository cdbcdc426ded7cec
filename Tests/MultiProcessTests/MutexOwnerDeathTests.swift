import Glibc
import Interprocess
import Testing

extension MultiProcessTests {
    /// A process killed with `SIGKILL` while holding a `ProcessMutex`.
    @Suite struct MutexOwnerDeath {
        /// Starts a peer that locks the mutex, and kills it once it says it holds it.
        private func killHolder(of scenario: Scenario, mutex: ProcessMutex) throws {
            let holder = try Peer("lock-and-hang", scenario.name)
            try holder.waitFor("locked")
            // Held by the child: the parent cannot take it.
            #expect(try mutex.tryLock() == .timedOut)
            holder.send(SIGKILL)
            #expect(try holder.waitForExit() == .signaled(SIGKILL))
        }

        /// The next locker learns of the death; once it marks the mutex consistent, another
        /// process locks and unlocks it normally.
        @Test func repairedAfterOwnerKilled() throws {
            let scenario = Scenario("death-repaired")
            defer { scenario.removeAll() }
            let mutex = try ProcessMutex(named: scenario.lock, mode: .create)
            try killHolder(of: scenario, mutex: mutex)

            #expect(try mutex.lock(timeout: .seconds(10)) == .previousOwnerDied)
            try mutex.markConsistent()
            try mutex.unlock()

            let next = try Peer("lock-unlock", scenario.name)
            try next.waitFor("acquired")
            #expect(try next.waitForExit() == .exited(0))
            #expect(try mutex.lock(timeout: .seconds(10)) == .acquired)
            try mutex.unlock()
        }

        /// Unlocking after an owner death without marking the mutex consistent makes it
        /// unusable, for this process and for any other: never a silent recovery.
        @Test func notRecoverableWhenNotRepaired() throws {
            let scenario = Scenario("death-unrepaired")
            defer { scenario.removeAll() }
            let mutex = try ProcessMutex(named: scenario.lock, mode: .create)
            try killHolder(of: scenario, mutex: mutex)

            #expect(try mutex.lock(timeout: .seconds(10)) == .previousOwnerDied)
            try mutex.unlock()

            #expect(throws: ProcessMutexError.notRecoverable) { try mutex.lock(timeout: .seconds(1)) }
            let next = try Peer("lock-unlock", scenario.name)
            try next.waitFor("notRecoverable")
            #expect(try next.waitForExit() == .exited(0))
            #expect(throws: ProcessMutexError.notRecoverable) { try mutex.tryLock() }
        }
    }
}
