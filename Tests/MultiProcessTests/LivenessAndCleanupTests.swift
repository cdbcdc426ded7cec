import Glibc
import Interprocess
import Testing

extension MultiProcessTests {
    /// Participants of a killed process are reported dead, and `removeStaleObjects` removes what
    /// only dead processes used — never what a live one uses.
    @Suite struct LivenessAndCleanup {
        @Test func killedParticipantIsDeadAndItsObjectIsCleaned() throws {
            let scenario = Scenario("clean")
            defer { scenario.removeAll() }
            do {
                // Created here and released at once: this process is not a participant.
                _ = try ProcessMutex(named: scenario.lock, mode: .create)
            }
            let holder = try Peer("lock-and-hang", scenario.name)
            try holder.waitFor("locked")

            let live = try SharedObjectRegistry.inspect(named: scenario.lock)
            #expect(live.participants.count == 1)
            #expect(live.participants.first?.isAlive == true)
            #expect(live.participants.first?.process.pid == holder.pid)
            #expect(try !SharedObjectRegistry.staleObjects().contains { $0.name == scenario.lock })

            holder.send(SIGKILL)
            #expect(try holder.waitForExit() == .signaled(SIGKILL))

            let dead = try SharedObjectRegistry.inspect(named: scenario.lock)
            #expect(dead.participants.count == 1)
            #expect(dead.participants.first?.isAlive == false)
            #expect(!dead.isInUse)
            // A persistent object outlives its users: stale only when unused objects are asked for.
            #expect(try !SharedObjectRegistry.staleObjects().contains { $0.name == scenario.lock })
            let stale = try SharedObjectRegistry.staleObjects(scope: .unused).filter { $0.name == scenario.lock }
            #expect(stale.map(\.reason) == [.unused])

            // A live user protects the object: open it, and it is no longer stale.
            do {
                let user = try ProcessMutex(named: scenario.lock, mode: .open)
                #expect(
                    try !SharedObjectRegistry.removeStaleObjects(scope: .unused).contains { $0.name == scenario.lock })
                #expect(SharedMemory.exists(named: scenario.lock))
                _ = user
            }
            let removed = try SharedObjectRegistry.removeStaleObjects(scope: .unused).filter {
                $0.name == scenario.lock
            }
            #expect(removed.count == 1)
            #expect(!SharedMemory.exists(named: scenario.lock))
        }

        @Test func unusedObjectsAreKeptUnlessAsked() throws {
            let scenario = Scenario("unused")
            defer { scenario.removeAll() }
            do { _ = try SharedArray<Int>(named: scenario.data, count: 2, initialValue: 0, mode: .create) }
            #expect(try !SharedObjectRegistry.staleObjects().contains { $0.name == scenario.data })
            let stale = try SharedObjectRegistry.staleObjects(scope: .unused).filter { $0.name == scenario.data }
            #expect(stale.map(\.reason) == [StaleObject.Reason.unused])
        }
    }
}
