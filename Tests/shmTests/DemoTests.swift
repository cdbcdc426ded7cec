import Foundation
import Interprocess
import Testing

/// `shm demo` end to end: the producer/consumer across processes and across threads.
@Suite struct DemoTests {
    /// The pids of the lines `[pid N] <role> …` and the consumer's lines.
    private func check(_ run: ShmTool.Run, count: Int = 5) -> (producerPIDs: Set<String>, consumerPIDs: Set<String>) {
        #expect(run.status == 0 && !run.killedBySignal, "\(run)")
        let consumed = run.stdoutLines.filter { $0.contains("Consumer consumes index") }
        #expect(
            consumed.map { String($0.split(separator: "] ", maxSplits: 1).last ?? "") }
                == (0..<count).map { "Consumer consumes index \($0), data: \($0)" }, "\(run)")
        let produced = run.stdoutLines.filter { $0.contains("Producer writes index") }
        #expect(produced.count == count, "\(run)")
        func pid(_ line: String) -> String? {
            guard line.hasPrefix("[pid "), let end = line.firstIndex(of: "]") else { return nil }
            return String(line[line.index(line.startIndex, offsetBy: 5)..<end])
        }
        #expect(run.stdoutLines.last?.contains("received all \(count) items in order") == true, "\(run)")
        expectObjectsRemoved(run)
        return (Set(produced.compactMap(pid)), Set(consumed.compactMap(pid)))
    }

    /// The demo removed the objects it announced (`… on 'demo.PID.RANDOM'`).
    private func expectObjectsRemoved(_ run: ShmTool.Run) {
        guard let line = run.stdoutLines.first(where: { $0.contains(" on 'demo.") }) else { return }
        let base = line.split(separator: "'")[1]
        for suffix in ["data", "lock", "cond"] {
            #expect(!SharedMemory.exists(named: "\(base).\(suffix)"), "\(base).\(suffix) left behind")
        }
    }

    @Test func executableIsBuiltNextToTheTests() {
        #expect(
            FileManager.default.isExecutableFile(atPath: ShmTool.executable.path),
            "no shm at \(ShmTool.executable.path); set SHM_EXECUTABLE to override")
    }

    @Test func producerAndConsumerProcesses() throws {
        let run = try ShmTool.run(["demo", "--writing-time", "0.05"])
        let (producers, consumers) = check(run)
        #expect(producers.count == 1 && consumers.count == 1, "\(run)")
        #expect(producers != consumers, "producer and consumer must be distinct processes\n\(run)")
        #expect(!producers.contains("\(ProcessInfo.processInfo.processIdentifier)"))
    }

    @Test func producerAndConsumerThreads() throws {
        let run = try ShmTool.run(["demo", "--threads", "--writing-time", "0.05"])
        let (producers, consumers) = check(run)
        #expect(producers.count == 1 && producers == consumers, "both threads run in one process\n\(run)")
    }

    @Test func explicitSubcommandAndCount() throws {
        let run = try ShmTool.run(["demo", "producer-consumer", "--writing-time", "0", "--count", "3"])
        _ = check(run, count: 3)
    }

    @Test func deadProducerFailsTheDemoQuickly() throws {
        let start = Date()
        // The producer kills itself with SIGKILL while holding the mutex, before index 2.
        let run = try ShmTool.run(["demo", "--writing-time", "0.05", "--producer-dies-at", "2"], timeout: 30)
        #expect(run.status == 1 && !run.killedBySignal, "\(run)")
        #expect(run.stderrLines.last?.hasPrefix("shm: demo failed: the producer (pid ") == true, "\(run)")
        #expect(run.stderrLines.last?.contains("killed by signal 9") == true, "\(run)")
        // The consumer's own timeout would be 5.5 s: the tool must notice the dead child itself.
        #expect(Date().timeIntervalSince(start) < 5, "a dead child must not make the demo wait for timeouts")
        #expect(!run.stdout.contains("consumes index 2"))
        #expect(run.stdoutLines.contains { $0.contains("Consumer consumes index 1, data: 1") }, "\(run)")
        expectObjectsRemoved(run)
    }

    @Test func usageErrors() throws {
        let run = try ShmTool.run(["demo", "--writing-time", "-1"])
        #expect(run.status != 0 && run.status != 1, "\(run)")
        #expect(run.stderr.contains("--writing-time"), "\(run)")
    }
}
