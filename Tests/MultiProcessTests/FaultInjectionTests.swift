import Foundation
import Glibc
import Testing

extension MultiProcessTests {
    /// A short run of the fault-injection suite (`InterprocessFaultInjection`, built next to
    /// the tests): mutex holders, SPSC/MPMC producers and consumers, and topic publishers,
    /// subscribers, sample holders and joiners SIGKILLed at random points, and producers feeding a wait set. The executable checks every invariant itself (no deadlock or hang, no torn or
    /// duplicated message, losses within what is documented, every death reported) and exits
    /// non-zero on a violation; its figures table is attached to a failure.
    @Suite struct FaultInjection {
        @Test func randomKillsLeaveNoViolation() throws {
            let directory = try Peer.executableURL().deletingLastPathComponent()
            let executable = directory.appendingPathComponent("InterprocessFaultInjection")
            let process = Process()
            process.executableURL = executable
            // 10 iterations per scenario: 80 kills (mutex 20, SPSC 10, MPMC 10, topic 10, wait set 10,
            // blackboard 10, service 10).
            process.arguments = ["--iterations", longTests ? "100" : "10"]
            let output = Pipe()
            process.standardOutput = output
            let done = DispatchSemaphore(value: 0)
            process.terminationHandler = { _ in done.signal() }
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            if done.wait(timeout: .now() + 600) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                Issue.record("the fault-injection run hung: \(text)")
                return
            }
            #expect(process.terminationReason == .exit && process.terminationStatus == 0, "\(text)")
            #expect(text.contains("violations: 0"), "\(text)")
            // Every scenario ran, the topic's included.
            for scenario in ["mutex", "spsc", "mpmc", "topic", "waitset", "service"] {
                #expect(text.contains("| \(scenario) | \(longTests ? 100 : 10) |"), "\(scenario): \(text)")
            }
        }
    }
}
