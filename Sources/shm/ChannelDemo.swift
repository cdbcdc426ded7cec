import ArgumentParser
import Foundation
import Interprocess
import InterprocessBenchmarkKit

/// `shm demo channel`: a producer process streams messages to a consumer process over an SPSC
/// channel; the consumer checks order and loss and reports the rate and one-way latency.
///
/// Each message carries its sequence number and the producer's `CLOCK_MONOTONIC` reading at
/// send time; the consumer reads the same machine-wide clock when it takes the message, so the
/// difference is the one-way latency (queueing included: a producer that runs ahead of the
/// consumer fills the channel, and each message then waits behind the others).
struct ChannelDemo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "channel",
        abstract: "A producer process streams messages to a consumer process over an SPSC channel.",
        discussion: """
            The tool creates the channel, starts the producer and the consumer as two processes \
            and removes the channel when they are done. The exit status is 0 only if the \
            consumer received every message exactly once and in order.
            """
    )

    @Option(help: "The number of messages.")
    var count: Int = 1_000_000

    @Option(help: "The channel's capacity (a power of two).")
    var capacity: Int = 1024

    /// Set by the tool when it starts itself as one of the roles.
    @Option(help: ArgumentHelp(visibility: .private))
    var role: DemoRole?

    /// The channel's name, passed to the roles.
    @Option(help: ArgumentHelp(visibility: .private))
    var channel: String?

    func validate() throws {
        guard count >= 1, count <= 100_000_000 else {
            throw ValidationError("--count must be between 1 and 100000000.")
        }
        guard capacity >= 1, capacity <= 1 << 20, capacity & (capacity - 1) == 0 else {
            throw ValidationError("--capacity must be a power of two between 1 and 1048576.")
        }
        if role != nil && channel == nil { throw ValidationError("--role needs --channel.") }
    }

    func run() throws {
        if let role, let channel {
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
            do {
                switch role {
                case .producer: try produce(channel)
                case .consumer: try consume(channel)
                }
            } catch {
                throw Terminal.failure("\(role): \(error)")
            }
            return
        }
        let name = "demo-channel.\(ProcessIdentity.current.pid).\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        BenchCleanup.shared.addSegment(name)
        BenchCleanup.shared.installSignalHandlers()
        // The tool creates the channel (and so decides its geometry); the roles open it. The
        // channel is removed with its last user; `keeper` keeps it while the roles come and go
        // (and a SIGKILLed demo leaves only what `shm clean` removes).
        let keeper: SharedMemory
        do { keeper = try ChannelSegment.create(name, capacity: capacity) } catch {
            throw Terminal.failure(error.description)
        }
        defer {
            BenchCleanup.shared.run()
            withExtendedLifetime(keeper) {}
        }
        let start = Deadline.now
        do {
            let pids = try runProcesses(name)
            let elapsed = Double(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
            Terminal.line(
                "[pid \(ProcessIdentity.current.pid)] Done: the consumer received all \(count) messages in order, "
                    + "across processes \(pids)," + String(format: " in %.2f s.", elapsed))
        } catch let failure as DemoFailure {
            throw Terminal.failure("demo failed: \(failure.reason)")
        }
    }

    private func runProcesses(_ name: String) throws -> String {
        let executable = ChildProcesses.currentExecutable()
        let exited = DispatchSemaphore(value: 0)
        var children: [(role: DemoRole, process: Process)] = []
        // The consumer first: the producer may then fill the channel at once.
        for role in [DemoRole.consumer, .producer] {
            let process = Process()
            process.executableURL = executable
            process.arguments = [
                "demo", "channel", "--role", role.rawValue, "--channel", name, "--count", "\(count)",
                "--capacity", "\(capacity)"
            ]
            process.terminationHandler = { _ in exited.signal() }
            do { try process.run() } catch {
                ChildProcesses.stop(children.map(\.process))
                throw DemoFailure(
                    reason: "could not start the \(role) (\(executable.path)): \(error.localizedDescription)")
            }
            BenchCleanup.shared.adopt(process)
            children.append((role, process))
        }
        let producer = children[1].process, consumer = children[0].process
        Terminal.line(
            "[pid \(ProcessIdentity.current.pid)] Started producer (pid \(producer.processIdentifier)) "
                + "and consumer (pid \(consumer.processIdentifier)) on channel '\(name)'")
        // A generous bound: even a debug build moves a few hundred thousand messages a second.
        let timeout = 30 + Double(count) / 50_000
        let deadline = DispatchTime.now() + timeout
        var failure: String?
        for _ in children {
            if exited.wait(timeout: deadline) == .timedOut {
                failure = String(format: "the roles did not finish within %.0f s", timeout)
                break
            }
            for child in children where !child.process.isRunning {
                if let problem = ChildProcesses.problem(of: child.process) {
                    failure = "the \(child.role) (pid \(child.process.processIdentifier)) \(problem)"
                    break
                }
            }
            if failure != nil { break }
        }
        if let failure {
            ChildProcesses.stop(children.map(\.process))
            throw DemoFailure(reason: failure)
        }
        return "\(producer.processIdentifier) and \(consumer.processIdentifier)"
    }

    /// Sends 0..<count with their send times, then closes the channel.
    private func produce(_ name: String) throws {
        var sender = try ChannelSender<DemoMessage>(named: name, topology: .singleProducerSingleConsumer, mode: .open)
        say("Producer opened '\(name)' (capacity \(sender.capacity)), sending \(count) messages")
        let start = monotonicNanoseconds()
        for sequence in 0..<UInt64(count) {
            guard
                try sender.send(DemoMessage(sequence: sequence, sentAt: monotonicNanoseconds()), timeout: .seconds(10))
            else {
                throw DemoFailure(
                    reason: "the channel stayed full for 10 s at message \(sequence) (is the consumer alive?)")
            }
        }
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        sender.close()
        say(
            String(
                format: "Producer sent %d messages in %.3f s (%@ msg/s) and closed the channel", count, seconds,
                rate(Double(count) / seconds)))
    }

    /// Receives until the channel is closed and drained, checking order; reports rate and
    /// latency.
    private func consume(_ name: String) throws {
        var receiver = try ChannelReceiver<DemoMessage>(
            named: name, topology: .singleProducerSingleConsumer, mode: .open)
        say("Consumer opened '\(name)', waiting for \(count) messages")
        var latencies = [UInt64](repeating: 1, count: count)
        var expected: UInt64 = 0
        var first: UInt64 = 0
        while true {
            let message: DemoMessage?
            do { message = try receiver.receive(timeout: .seconds(10)) } catch .closed { break }
            guard let message else {
                throw DemoFailure(reason: "no message for 10 s after \(expected) (is the producer alive?)")
            }
            let now = monotonicNanoseconds()
            guard message.sequence == expected else {
                throw DemoFailure(
                    reason: message.sequence < expected
                        ? "message \(message.sequence) arrived again or out of order after \(expected - 1)"
                        : "messages \(expected)..<\(message.sequence) were lost or reordered")
            }
            guard Int(expected) < count else { throw DemoFailure(reason: "more than \(count) messages arrived") }
            if expected == 0 { first = now }
            latencies[Int(expected)] = now &- message.sentAt
            expected += 1
        }
        let last = monotonicNanoseconds()
        guard expected == UInt64(count) else {
            throw DemoFailure(
                reason: "the channel closed after \(expected) of \(count) messages: \(UInt64(count) - expected) lost")
        }
        let seconds = Double(last - first) / 1e9
        let summary = LatencySummary(samples: &latencies)
        say(
            "Consumer received \(count) messages in order, none lost: "
                + (count > 1 ? "\(rate(Double(count - 1) / seconds)) msg/s, " : "")
                + "one-way latency p50 \(micro(summary.p50_ns)) µs, p99 \(micro(summary.p99_ns)) µs (queueing included)"
        )
    }

    private func say(_ text: String) { Terminal.line("[pid \(ProcessIdentity.current.pid)] \(text)") }

    private func micro(_ ns: UInt64) -> String { String(format: "%.2f", Double(ns) / 1e3) }

    private func rate(_ value: Double) -> String {
        value >= 1e6 ? String(format: "%.2f M", value / 1e6) : String(format: "%.0f k", value / 1e3)
    }
}
