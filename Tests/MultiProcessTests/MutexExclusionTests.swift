import Glibc
import Interprocess
import Testing

extension MultiProcessTests {
    /// Several processes share one counter under one `ProcessMutex`.
    @Suite struct MutexExclusion {
        /// 4 processes × 50 000 locked increments end at exactly 200 000 (× 10 with
        /// `INTERPROCESS_LONG_TESTS`); each peer also checks that it never finds another
        /// process inside the critical section.
        @Test func fourProcessesIncrementOneCounter() throws {
            let scenario = Scenario("counter")
            defer { scenario.removeAll() }
            let processes = 4
            let perProcess = longTests ? 500_000 : 50_000
            let mutex = try ProcessMutex(named: scenario.lock, mode: .create)
            // data[0]: the counter; data[1]: the peers' "inside the critical section" marker.
            let data = try SharedArray<Int>(named: scenario.data, count: 2, initialValue: 0, mode: .create)
            let start = try ProcessEvent(named: scenario.start, resetMode: .manual, mode: .create)

            let peers = try (0..<processes).map { _ in try Peer("increment", scenario.name, "\(perProcess)") }
            for peer in peers { try peer.waitFor("ready") }
            // Every peer is past its setup and waits on the start gun: they contend from the
            // first increment.
            start.set()
            for peer in peers {
                try peer.waitFor("done", timeout: .seconds(longTests ? 600 : 60))
                #expect(try peer.waitForExit() == .exited(0), "\(peer): \(peer.standardError)")
            }

            #expect(try mutex.lock() == .acquired)
            #expect(data[0] == processes * perProcess)
            #expect(data[1] == 0)
            try mutex.unlock()
        }
    }
}
