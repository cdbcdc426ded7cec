import Foundation
import Glibc
import Synchronization
import Testing

@testable import Interprocess

@Suite struct ProcessExitWatchTests {
    /// A child that sleeps until killed, and its identity.
    private func sleepingChild() throws -> (Process, ProcessIdentity) {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sleep")
        child.arguments = ["60"]
        try child.run()
        let pid = child.processIdentifier
        return (child, ProcessIdentity(pid: pid, startTime: try ProcessIdentity.startTime(of: pid)))
    }

    /// Waits up to `timeout` for `condition`.
    private func eventually(_ timeout: Duration = .seconds(5), _ condition: () -> Bool) -> Bool {
        let deadline = Deadline.after(timeout)
        while !condition() {
            if deadline.hasPassed { return false }
            usleep(1000)
        }
        return true
    }

    @Test func runsTheHandlerWhenTheProcessIsKilled() throws {
        let (child, identity) = try sleepingChild()
        let runs = Atomic<Int>(0)
        let subscription = ProcessExitWatch.shared.watch(identity) {
            // Relaxed: a counter read by the test after the fact.
            runs.add(1, ordering: .relaxed)
        }
        #expect(subscription != nil)
        #expect(subscription?.hasExited == false)
        usleep(20_000)
        // Relaxed: as above.
        #expect(runs.load(ordering: .relaxed) == 0, "a live process runs no handler")
        let killedAt = Deadline.now
        kill(identity.pid, SIGKILL)
        #expect(eventually { runs.load(ordering: .relaxed) == 1 })
        let elapsed = Deadline.now.uptimeNanoseconds - killedAt.uptimeNanoseconds
        #expect(elapsed < 1_000_000_000, "the handler ran \(elapsed / 1_000_000) ms after the kill")
        #expect(subscription?.hasExited == true)
        child.waitUntilExit()
    }

    @Test func everySubscriberOfOneProcessIsTold() throws {
        let (child, identity) = try sleepingChild()
        let runs = Atomic<Int>(0)
        // Relaxed: counters read by the test after the fact.
        let subscriptions = (0..<3).map { _ in
            ProcessExitWatch.shared.watch(identity) { runs.add(1, ordering: .relaxed) }
        }
        #expect(subscriptions.allSatisfy { $0 != nil })
        kill(identity.pid, SIGKILL)
        #expect(eventually { runs.load(ordering: .relaxed) == 3 })
        child.waitUntilExit()
    }

    @Test func aCancelledSubscriptionIsNotTold() throws {
        let (child, identity) = try sleepingChild()
        let runs = Atomic<Int>(0)
        let before = ProcessExitWatch.shared.handlersRun
        let subscription = ProcessExitWatch.shared.watch(identity) { runs.add(1, ordering: .relaxed) }
        let kept = ProcessExitWatch.shared.watch(identity) {}
        subscription?.cancel()
        kill(identity.pid, SIGKILL)
        #expect(eventually { kept?.hasExited == true })
        #expect(eventually { ProcessExitWatch.shared.handlersRun > before })
        // Relaxed: as above.
        #expect(runs.load(ordering: .relaxed) == 0)
        child.waitUntilExit()
    }

    /// A recorded identity whose pid now names another process (a recycled pid: same pid,
    /// another start time) is not watched, since its exit would say nothing.
    @Test func aRecycledPidIsNotWatched() throws {
        let (child, identity) = try sleepingChild()
        defer {
            kill(identity.pid, SIGKILL)
            child.waitUntilExit()
        }
        let recycled = ProcessIdentity(pid: identity.pid, startTime: identity.startTime + 1)
        #expect(ProcessExitWatch.shared.watch(recycled) {} == nil)
        #expect(ProcessExitWatch.shared.watch(ProcessIdentity(pid: identity.pid, startTime: 0)) {} == nil)
    }

    /// A pid this process cannot see (another PID namespace's, or a reaped one's) is not watched.
    @Test func anInvisiblePidIsNotWatched() throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        let pid = child.processIdentifier
        child.waitUntilExit()
        #expect(ProcessExitWatch.shared.watch(ProcessIdentity(pid: pid, startTime: 1)) {} == nil)
        #expect(ProcessExitWatch.shared.watch(ProcessIdentity(pid: 0, startTime: 1)) {} == nil)
        #expect(ProcessExitWatch.shared.watch(ProcessIdentity(pid: -1, startTime: 1)) {} == nil)
    }

    /// The probe for `futex_waitv` runs once, however many callers ask at once.
    @Test func theVectoredWaitProbeRunsOnce() {
        let calls = Atomic<Int>(0)
        let support = VectoredWaitSupport {
            // Relaxed: a counter read after every thread joined.
            calls.add(1, ordering: .relaxed)
            return false
        }
        #expect(!support.isSupported)
        let threads = (0..<4).map { _ in TestThread { for _ in 0..<1000 { _ = support.isSupported } } }
        for thread in threads { thread.join() }
        #expect(!support.isSupported)
        // Relaxed: as above.
        #expect(calls.load(ordering: .relaxed) == 1)
        #expect(support.probeCount == 1)
    }

    /// Wait sets take the process's cached answer: creating them probes nothing more.
    @Test func waitSetsDoNotProbeAgain() {
        let supported = Futex.hasVectoredWait
        let probes = VectoredWaitSupport.shared.probeCount
        #expect(probes >= 1)
        for _ in 0..<10 {
            let set = WaitSet()
            #expect(set.mechanism == (supported ? .vectored : .watchers))
        }
        #expect(VectoredWaitSupport.shared.probeCount == probes)
    }
}
