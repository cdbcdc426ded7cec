import Foundation
import Glibc
import Testing

@testable import Interprocess

@Suite struct ProcessIdentityTests {
    @Test func currentProcessIsAlive() {
        let me = ProcessIdentity.current
        #expect(me.pid == getpid())
        #expect(me.startTime > 0)
        #expect(me.isAlive)
        #expect(ProcessIdentity(pid: me.pid, startTime: 0).isAlive, "start time 0 means pid only")
    }

    @Test func wrongStartTimeForOurPidIsNotAlive() {
        let me = ProcessIdentity.current
        #expect(!ProcessIdentity(pid: me.pid, startTime: me.startTime + 1).isAlive)
        #expect(!ProcessIdentity(pid: me.pid, startTime: me.startTime &- 1).isAlive)
    }

    @Test func exitedChildIsNotAlive() throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        let pid = child.processIdentifier
        // Foundation may reap the child at any moment, so its start time may be unreadable.
        let startTime = (try? ProcessIdentity.startTime(of: pid)) ?? 0
        child.waitUntilExit()
        #expect(child.terminationStatus == 0)
        #expect(!ProcessIdentity(pid: pid, startTime: startTime).isAlive)
        #expect(!ProcessIdentity(pid: pid, startTime: 0).isAlive)
    }

    @Test(arguments: [Int32(0), -1, Int32.min])
    func nonPositivePidsAreNotAlive(pid: Int32) {
        #expect(!ProcessIdentity(pid: pid, startTime: 0).isAlive)
    }

    @Test func parentIsAliveAndDifferent() throws {
        let parent = ProcessIdentity(pid: getppid(), startTime: try ProcessIdentity.startTime(of: getppid()))
        #expect(parent.isAlive)
        #expect(parent != ProcessIdentity.current)
    }

    @Test func descriptionNamesPidAndStart() {
        #expect(ProcessIdentity(pid: 42, startTime: 7).description == "pid 42 (started at tick 7)")
    }
}

@Suite struct CPUAndThreadTests {
    @Test func availableCountIsAtLeastOne() {
        #expect(CPU.availableCount >= 1)
        #expect(CPU.availableCount <= 4096)
        CPU.relax()
    }

    @Test func threadNameRoundTrips() {
        let names = Collector<String>()
        let ids = Collector<Int32>()
        TestThread {
            CurrentThread.name = "ut-worker-7"
            names.append(CurrentThread.name)
            // The kernel keeps at most 15 bytes.
            CurrentThread.name = "a-name-longer-than-fifteen-bytes"
            names.append(CurrentThread.name)
            ids.append(CurrentThread.id)
        }.join()
        #expect(names.all.first == "ut-worker-7")
        #expect(names.all.last?.utf8.count ?? 99 <= 15)
        #expect(ids.all.first.map { $0 > 0 } == true)
        #expect(ids.all.first != CurrentThread.id)
    }
}
