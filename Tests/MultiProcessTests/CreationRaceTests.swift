import Glibc
import Interprocess
import Testing

extension MultiProcessTests {
    /// Processes racing to create the same object.
    @Suite struct CreationRace {
        /// 8 processes `.openOrCreate` one `SharedArray` at the same moment: exactly one
        /// creates it, and every one of them, the openers included, finds all of its elements
        /// initialised (a half-built segment would show zeros).
        @Test func eightProcessesRaceOpenOrCreate() throws {
            let scenario = Scenario("race")
            defer { scenario.removeAll() }
            let processes = 8
            // 2 MiB of elements: initialising them takes long enough that a segment published
            // before its initializer finished would be caught.
            let count = 1 << 18
            let start = try ProcessEvent(named: scenario.start, resetMode: .manual, mode: .create)

            let peers = try (0..<processes).map { _ in try Peer("race-open", scenario.name, "\(count)") }
            for peer in peers { try peer.waitFor("ready") }
            start.set()

            var outcomes: [String] = []
            for peer in peers {
                outcomes.append(try peer.waitFor(["created", "opened"]))
                let verified = try peer.waitFor("verified")
                #expect(verified == "verified \(count)")
                #expect(try peer.waitForExit() == .exited(0), "\(peer): \(peer.standardError)")
            }
            #expect(outcomes.filter { $0 == "created" }.count == 1, "outcomes: \(outcomes)")
            #expect(outcomes.filter { $0 == "opened" }.count == processes - 1, "outcomes: \(outcomes)")

            // The parent sees the same fully initialised array.
            let array = try SharedArray<UInt64>(named: scenario.name)
            #expect(array.count == count)
            #expect(array.elements.allSatisfy { $0 == 0xA5A5_5A5A_DEAD_BEEF })
        }
    }
}
