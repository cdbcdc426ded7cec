import ArgumentParser
import Foundation
import Interprocess
import InterprocessBenchmarkKit

/// `shm demo pubsub`: one publisher process and four subscriber processes on one topic. Two
/// subscribers receive everything; one stops at a quarter, holding a sample, until the tool kills
/// it with SIGKILL while the publisher waits on its full queue; one joins after the kill and
/// receives the history, then the rest.
struct PubSubDemo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pubsub",
        abstract: "A publisher process and several subscriber processes on one topic, one killed, one late.",
        discussion: """
            Subscribers A and B receive every message; subscriber K stops at a quarter of the \
            stream holding a zero-copy sample, and the tool kills it (SIGKILL) while the \
            publisher waits on K's full queue: the publisher finds it dead and goes on. At half \
            the stream the publisher waits for subscriber L, which joins late and receives the \
            last --history messages first. The exit status is 0 only if A and B received every \
            message in order, L exactly the history and then the rest, and the publisher finished.
            """
    )

    @Option(help: "The number of messages.")
    var count: Int = 20_000

    @Option(help: "The messages each subscriber's queue holds (a power of two).")
    var capacity: Int = 256

    @Option(help: "The messages a late subscriber receives when it joins.")
    var history: Int = 16

    /// Set by the tool when it starts itself as one of the roles.
    @Option(help: ArgumentHelp(visibility: .private))
    var role: PubSubRole?

    /// The topic's name, passed to the roles.
    @Option(help: ArgumentHelp(visibility: .private))
    var topic: String?

    func validate() throws {
        guard count >= 8, count <= 100_000_000, count % 4 == 0 else {
            throw ValidationError("--count must be a multiple of 4 between 8 and 100000000.")
        }
        guard capacity >= 1, capacity <= 1 << 20, capacity & (capacity - 1) == 0 else {
            throw ValidationError("--capacity must be a power of two between 1 and 1048576.")
        }
        guard count / 4 > capacity + 1 else {
            throw ValidationError(
                "--count must exceed four times --capacity, so that K's full queue holds the publisher.")
        }
        guard history >= 1, history <= capacity, history <= count / 2 else {
            throw ValidationError("--history must be between 1 and both --capacity and half of --count.")
        }
        if role != nil && topic == nil { throw ValidationError("--role needs --topic.") }
    }

    var topicConfiguration: TopicConfiguration {
        TopicConfiguration(capacity: capacity, maximumSubscribers: 4, history: history, overflow: .block)
    }

    func run() throws {
        if let role, let topic {
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
            do { try run(role, topic) } catch { throw Terminal.failure("\(role): \(error)") }
            return
        }
        let name = "demo-pubsub.\(ProcessIdentity.current.pid).\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        BenchCleanup.shared.addSegment(name)
        BenchCleanup.shared.installSignalHandlers()
        defer { BenchCleanup.shared.run() }
        // The tool creates the topic (and so decides its configuration) without taking part;
        // the roles open it. It is removed with its last user; `keeper` keeps it while the roles
        // come and go.
        let keeper: SharedMemory
        do {
            keeper = try TopicPublisher<DemoMessage>.createTopic(
                named: name, configuration: topicConfiguration, lifetime: .removedWithLastUser)
        } catch {
            throw Terminal.failure(error.description)
        }
        defer { withExtendedLifetime(keeper) {} }
        let start = Deadline.now
        do {
            try runProcesses(name)
            let elapsed = Double(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
            say(String(format: "Done in %.2f s: every check held.", elapsed))
        } catch let failure as DemoFailure {
            throw Terminal.failure("demo failed: \(failure.reason)")
        }
    }

    // MARK: - The tool

    private func start(_ role: PubSubRole, _ name: String, lines: @escaping @Sendable (String) -> Void) throws
        -> DemoChild
    {
        try DemoChild(
            role.label,
            arguments: [
                "demo", "pubsub", "--role", role.rawValue, "--topic", name, "--count", "\(count)", "--capacity",
                "\(capacity)", "--history", "\(history)"
            ], lines: lines)
    }

    private func runProcesses(_ name: String) throws {
        let holding = DispatchSemaphore(value: 0)
        let halfway = DispatchSemaphore(value: 0)
        let forward: @Sendable (String) -> Void = { line in
            Terminal.line(line)
            if line.contains(PubSubDemo.holdingMarker) { holding.signal() }
            if line.contains(PubSubDemo.halfwayMarker) { halfway.signal() }
        }
        var children: [DemoChild] = []
        defer { ChildProcesses.stop(children.map(\.process)) }
        for role in [PubSubRole.subscriberA, .subscriberB, .subscriberK] {
            children.append(try start(role, name, lines: forward))
        }
        children.append(try start(.publisher, name, lines: forward))
        say(
            "Started the publisher (pid \(children[3].pid)) and subscribers "
                + children[0..<3].map { "\($0.label) (pid \($0.pid))" }.joined(
                    separator: ", ")
                + " on topic '\(name)'")
        let bound = 30 + Double(count) / 20_000
        guard holding.wait(timeout: .now() + bound) == .success else {
            throw DemoFailure(reason: "subscriber K never reached a quarter of the stream")
        }
        let victim = children[2].process
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        say("Killed subscriber K (pid \(victim.processIdentifier)) with SIGKILL while it held a sample")
        guard halfway.wait(timeout: .now() + bound) == .success else {
            throw DemoFailure(reason: "the publisher never reached half the stream (held back by the dead subscriber?)")
        }
        children.append(try start(.subscriberL, name, lines: forward))
        say("Started late subscriber L (pid \(children[4].pid))")
        let deadline = Date().addingTimeInterval(bound)
        for child in children where child !== children[2] { try child.finish(by: deadline) }
        // Let the forwarding handlers print the last lines.
        for child in children { child.stopForwarding() }
    }

    static let holdingMarker = "holds a sample and stops reading"
    static let halfwayMarker = "half published; waiting for the late subscriber"

    // MARK: - The roles

    private func run(_ role: PubSubRole, _ name: String) throws {
        switch role {
        case .publisher: try publish(name)
        case .subscriberA, .subscriberB: try receiveEverything(name, label: role.name)
        case .subscriberK: try receiveAndHold(name)
        case .subscriberL: try joinLate(name)
        }
    }

    private func publish(_ name: String) throws {
        var publisher = try TopicPublisher<DemoMessage>(named: name, mode: .open, waitStrategy: .adaptive)
        try waitForSubscribers(publisher.segment, 3)
        say("Publisher: 3 subscribers are there; publishing \(count) messages")
        var longestWait: UInt64 = 0
        for sequence in 0..<UInt64(count) {
            if sequence == UInt64(count / 2) {
                say("Publisher: \(PubSubDemo.halfwayMarker)")
                try waitForSubscribers(publisher.segment, 3)
            }
            let before = monotonicNanoseconds()
            guard try publisher.publish(DemoMessage(sequence: sequence, sentAt: before), timeout: .seconds(20)) else {
                throw DemoFailure(reason: "a subscriber's queue stayed full for 20 s at message \(sequence)")
            }
            longestWait = max(longestWait, monotonicNanoseconds() - before)
        }
        publisher.close()
        say(
            String(
                format:
                    "Publisher: published all %d messages and closed; its longest wait for room was %.1f ms (a dead subscriber is found at the next liveness check, every 100 ms)",
                count, Double(longestWait) / 1e6))
    }

    private func waitForSubscribers(_ segment: SharedMemory, _ expected: Int) throws {
        let deadline = Deadline.after(.seconds(30))
        while segment.liveRegistrations(of: .subscriber) != expected {
            guard !deadline.hasPassed else { throw DemoFailure(reason: "\(expected) subscribers never came") }
            usleep(1000)
        }
    }

    private func receiveEverything(_ name: String, label: String) throws {
        var subscriber = try TopicSubscriber<DemoMessage>(named: name, mode: .open)
        var expected: UInt64 = 0
        while true {
            let message: DemoMessage?
            do { message = try subscriber.receive(timeout: .seconds(20)) } catch .closed { break }
            guard let message else { throw DemoFailure(reason: "no message for 20 s after \(expected)") }
            guard message.sequence == expected else {
                throw DemoFailure(reason: "message \(message.sequence) arrived where \(expected) was due")
            }
            expected += 1
        }
        guard expected == UInt64(count) else {
            throw DemoFailure(reason: "the topic closed after \(expected) of \(count) messages")
        }
        say("Subscriber \(label): received all \(count) messages in order, none lost")
    }

    private func receiveAndHold(_ name: String) throws {
        var subscriber = try TopicSubscriber<DemoMessage>(named: name, mode: .open)
        let stop = UInt64(count / 4)
        var expected: UInt64 = 0
        while expected < stop {
            guard let message = try subscriber.receive(timeout: .seconds(20)) else {
                throw DemoFailure(reason: "no message for 20 s after \(expected)")
            }
            guard message.sequence == expected else {
                throw DemoFailure(reason: "message \(message.sequence) arrived where \(expected) was due")
            }
            expected += 1
        }
        guard let sample = try subscriber.receiveSample(timeout: .seconds(20)) else {
            throw DemoFailure(reason: "no message for 20 s after \(expected)")
        }
        say(
            "Subscriber K: received \(expected) messages; \(PubSubDemo.holdingMarker) at message \(sample.value.sequence)"
        )
        withExtendedLifetime(subscriber) {
            while true { sleep(60) }
        }
    }

    private func joinLate(_ name: String) throws {
        var subscriber = try TopicSubscriber<DemoMessage>(named: name, mode: .open)
        // The publisher waits at half the stream for us: what we receive first is its history.
        let half = UInt64(count / 2)
        var expected = half - UInt64(history)
        while true {
            let message: DemoMessage?
            do { message = try subscriber.receive(timeout: .seconds(20)) } catch .closed { break }
            guard let message else { throw DemoFailure(reason: "no message for 20 s after \(expected)") }
            guard message.sequence == expected else {
                throw DemoFailure(reason: "message \(message.sequence) arrived where \(expected) was due")
            }
            if expected == half - 1 {
                say("Subscriber L: joined late and received the history: messages \(half - UInt64(history))..<\(half)")
            }
            expected += 1
        }
        guard expected == UInt64(count) else {
            throw DemoFailure(reason: "the topic closed after \(expected) of \(count) messages")
        }
        say("Subscriber L: then received messages \(half)..<\(count) in order, none lost")
    }

    private func say(_ text: String) { Terminal.line("[pid \(ProcessIdentity.current.pid)] \(text)") }
}

/// The roles of `shm demo pubsub`.
enum PubSubRole: String, CaseIterable, ExpressibleByArgument, Sendable {
    case publisher
    case subscriberA = "subscriber-a"
    case subscriberB = "subscriber-b"
    case subscriberK = "subscriber-k"
    case subscriberL = "subscriber-l"

    /// The one-letter name of a subscriber.
    var name: String { String(rawValue.last!).uppercased() }

    var label: String {
        switch self {
        case .publisher: "the publisher"
        case .subscriberA: "subscriber A"
        case .subscriberB: "subscriber B"
        case .subscriberK: "subscriber K"
        case .subscriberL: "subscriber L"
        }
    }
}
