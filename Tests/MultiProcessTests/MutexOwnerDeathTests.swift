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

        /// A process killed in the middle of a stream of locked increments. The victim says
        /// "progress" from inside its critical section, half-way through an update, so the
        /// kill lands there in practice (it did in every run observed); should it land outside,
        /// the parent's lock says so (`.acquired`) and the data must be intact. Either way the
        /// data is repaired (the "inside" marker reset) and other processes then increment it
        /// exactly.
        @Test func killedMidIncrementThenRepaired() throws {
            let scenario = Scenario("death-mid-op")
            defer { scenario.removeAll() }
            let mutex = try ProcessMutex(named: scenario.lock, mode: .create)
            let data = try SharedArray<Int>(named: scenario.data, count: 2, initialValue: 0, mode: .create)
            let start = try ProcessEvent(named: scenario.start, resetMode: .manual, mode: .create)

            let victim = try Peer("increment", scenario.name, "-1")
            try victim.waitFor("ready")
            start.set()
            try victim.waitFor("progress")
            victim.send(SIGKILL)
            #expect(try victim.waitForExit() == .signaled(SIGKILL))

            switch try mutex.lock(timeout: .seconds(10)) {
            case .previousOwnerDied:
                // Killed inside the critical section: the marker may be left set.
                data[1] = 0
                try mutex.markConsistent()
            case .acquired:
                #expect(data[1] == 0, "killed outside the critical section, the data must be consistent")
            case .timedOut:
                Issue.record("the mutex stayed held after its owner was killed")
                return
            }
            let before = data[0]
            #expect(before >= 1000)
            try mutex.unlock()

            let perProcess = 10_000
            let peers = try (0..<2).map { _ in try Peer("increment", scenario.name, "\(perProcess)") }
            for peer in peers {
                try peer.waitFor("done")
                #expect(try peer.waitForExit() == .exited(0), "\(peer): \(peer.standardError)")
            }
            #expect(try mutex.lock(timeout: .seconds(10)) == .acquired)
            #expect(data[0] == before + 2 * perProcess)
            try mutex.unlock()
        }
    }
}
