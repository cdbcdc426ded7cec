import Foundation
import Glibc
import Interprocess
import Testing

import InterprocessTestSupport

// Publish-subscribe with real processes: fan-out, drop-oldest under a stopped subscriber, late
// joiners, subscribers and publishers killed in every state, the async sequence across
// processes. The roles the children play are in `Sources/InterprocessTestPeer/TopicRoles.swift`;
// every message is a checksummed `ChannelTestMessage`, and every subscriber child checks its
// sequence itself and reports what it received as a `TopicTestDigest`.

extension Scenario {
    /// Creates the topic named after the scenario with no endpoint left open: a subscriber
    /// creates it and leaves (a publisher that closed would mark the topic closed).
    func makeTopic(_ configuration: TopicConfiguration) throws {
        try TopicSubscriber<ChannelTestMessage>(named: name, configuration: configuration, mode: .create).close()
    }
}

/// The result line a `topic-subscribe` child says after receiving producer 0's `sequences`,
/// in order, with `missed` messages missed, until `end`.
func topicResult(_ end: String, _ sequences: Range<Int>, missed: Int = 0) -> String {
    "result \(end) \(TopicTestDigest.of(producer: 0, sequences: UInt64(sequences.lowerBound)..<UInt64(sequences.upperBound))) \(missed)"
}

/// The (count, missed) of a lossy subscriber's "result END COUNT DIGEST MISSED" line that ended
/// with `end`.
func lossyResult(_ line: String, end: String) throws -> (count: Int, missed: Int) {
    let words = line.split(separator: " ")
    guard words.count == 5, words[0] == "result", words[1] == end, let count = Int(words[2]),
        let missed = Int(words[4])
    else {
        throw Peer.Failure(description: "expected 'result \(end) COUNT DIGEST MISSED', got '\(line)'")
    }
    return (count, missed)
}

extension Peer {
    /// Reads lines until one that starts with `prefix` (whole words), and returns it.
    @discardableResult
    func waitForLine(startingWith prefix: String, timeout: Duration = .seconds(30)) throws -> String {
        let deadline = Deadline(timeout: timeout)
        let word = String(prefix.split(separator: " ").first ?? "")
        while true {
            let line = try waitFor(word, timeout: deadline.remaining ?? .zero)
            if line == prefix || line.hasPrefix(prefix + " ") { return line }
        }
    }

    /// Waits until the kernel reports the child stopped (`SIGSTOP` is delivered asynchronously).
    func waitUntilStopped(timeout: Duration = .seconds(10)) throws {
        let deadline = Deadline(timeout: timeout)
        while !deadline.hasPassed {
            // /proc/PID/stat: "PID (COMM) STATE …"; the command may hold spaces, the state
            // follows the last ')'.
            if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")"),
                stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first == "T"
            {
                return
            }
            usleep(1_000)
        }
        throw Peer.Failure(description: "\(self) did not stop within \(timeout)")
    }
}

extension MultiProcessTests {
    /// One publisher, many subscriber processes: every message to every subscriber, in order.
    @Suite struct TopicFanOut {
        /// Eight subscriber processes (half of them reading in place, as samples) and a publisher
        /// process (every other message written in place through a loan), `block` policy: every
        /// subscriber receives all 20 000 messages, intact and in order, and misses none.
        @Test func everySubscriberProcessReceivesEveryMessageInOrder() throws {
            let total = 20_000
            let scenario = Scenario("topic-fanout")
            defer { scenario.removeAll() }
            try scenario.makeTopic(TopicConfiguration(capacity: 64, maximumSubscribers: 8))
            let subscribers = try (0..<8).map { i in
                try Peer("topic-subscribe", arguments: [scenario.name, "0", "0"] + (i % 2 == 0 ? [] : ["samples"]))
            }
            for subscriber in subscribers { try subscriber.waitFor("ready") }
            let publisher = try Peer("topic-publish", scenario.name, "0", "\(total)", "loans")
            for subscriber in subscribers {
                #expect(try subscriber.waitFor("result", timeout: .seconds(120)) == topicResult("closed", 0..<total))
                expectExitedNormally(subscriber)
            }
            #expect(try publisher.waitFor("done", timeout: .seconds(30)) == "done \(total)")
            expectExitedNormally(publisher)
        }

        /// A publisher process publishes 100 messages to a topic with a history of 8 before any
        /// subscriber exists; a subscriber process started then receives exactly the last 8,
        /// then the 50 published after it joined. One started after the publisher closed
        /// receives the last 8 and then `closed`.
        @Test func aLateJoinerProcessReceivesExactlyTheHistoryThenTheNewMessages() throws {
            let (history, before, after) = (8, 100, 50)
            let scenario = Scenario("topic-late")
            defer { scenario.removeAll() }
            try scenario.makeTopic(TopicConfiguration(capacity: 16, maximumSubscribers: 4, history: history))
            let publisher = try Peer("topic-publish", scenario.name, "0", "\(before + after)", "pause-at", "\(before)")
            #expect(try publisher.waitFor("published") == "published \(before)")
            let late = try Peer("topic-subscribe", scenario.name, "0", "\(before - history)")
            try late.waitFor("ready")
            try publisher.tell("go")
            #expect(try late.waitFor("result") == topicResult("closed", (before - history)..<(before + after)))
            expectExitedNormally(late)
            #expect(try publisher.waitFor("done") == "done \(before + after)")
            expectExitedNormally(publisher)

            let afterClose = try Peer("topic-subscribe", scenario.name, "0", "\(before + after - history)")
            #expect(
                try afterClose.waitFor("result") == topicResult("closed", (before + after - history)..<(before + after))
            )
            expectExitedNormally(afterClose)
        }
    }

    /// Byte topics across processes: messages of every length, by copy, in place and loaned.
    @Suite struct ByteTopicProcesses {
        /// A byte-topic publisher process (every other message written in place through a loan,
        /// lengths 16 to 52 bytes) and three subscriber processes, one reading in place, one
        /// joining late (history 4): each receives every message it should, intact and in order.
        @Test func byteMessagesReachEverySubscriberProcessIntact() throws {
            let (total, rejoin, history) = (5_000, 2_000, 4)
            let scenario = Scenario("topic-bytes")
            defer { scenario.removeAll() }
            try ByteTopicSubscriber(
                named: scenario.name, maximumMessageSize: 64,
                configuration: TopicConfiguration(capacity: 32, maximumSubscribers: 4, history: history), mode: .create
            ).close()
            let early = try [[], ["samples"]].map {
                try Peer("topic-byte-subscribe", arguments: [scenario.name, "0", "0"] + $0)
            }
            for subscriber in early { try subscriber.waitFor("ready") }
            let publisher = try Peer("topic-byte-publish", scenario.name, "0", "\(total)", "pause-at", "\(rejoin)")
            #expect(try publisher.waitFor("published", timeout: .seconds(60)) == "published \(rejoin)")
            let late = try Peer("topic-byte-subscribe", scenario.name, "0", "\(rejoin - history)")
            try late.waitFor("ready")
            try publisher.tell("go")
            for subscriber in early {
                #expect(try subscriber.waitFor("result", timeout: .seconds(60)) == topicResult("closed", 0..<total))
            }
            #expect(
                try late.waitFor("result", timeout: .seconds(60)) == topicResult("closed", (rejoin - history)..<total))
            #expect(try publisher.waitFor("done") == "done \(total)")
            for peer in early + [late, publisher] { expectExitedNormally(peer) }
        }
    }

    /// `dropOldest`: the publisher never waits, and a lagging subscriber learns exactly what it
    /// missed.
    @Suite struct TopicDropOldest {
        /// Two subscriber processes take message 0; one is then stopped (`SIGSTOP`) while this
        /// process publishes 20 000 more with `tryPublish`, every one of which is published at
        /// once (none is refused, and all of them take a bounded time, whatever the stopped
        /// subscriber's full queue). After `SIGCONT` and 100 more, and the close, each subscriber
        /// checked that every message it took was intact, its sequence only increased, and each
        /// sample's `missedBefore` is the gap before it (summing to `missedMessages`); here,
        /// received + missed is exactly what was published, and the stopped one missed nearly
        /// everything.
        @Test func aStoppedSubscriberNeverHoldsThePublisherBackAndCountsWhatItMissed() throws {
            let (capacity, stalledCount, afterCount) = (64, 20_000, 100)
            let total = 1 + stalledCount + afterCount
            let scenario = Scenario("topic-drop")
            defer { scenario.removeAll() }
            var publisher = try TopicPublisher<ChannelTestMessage>(
                named: scenario.name,
                configuration: TopicConfiguration(capacity: capacity, maximumSubscribers: 2, overflow: .dropOldest),
                mode: .create)
            let stalled = try Peer("topic-subscribe", scenario.name, "0", "0", "lossy", "first")
            let running = try Peer("topic-subscribe", scenario.name, "0", "0", "lossy", "first")
            try stalled.waitFor("ready")
            try running.waitFor("ready")
            #expect(try publisher.tryPublish(ChannelTestMessage(producer: 0, sequence: 0)))
            #expect(try stalled.waitFor("first") == "first 0")
            #expect(try running.waitFor("first") == "first 0")

            stalled.send(SIGSTOP)
            try stalled.waitUntilStopped()
            let start = Deadline.now
            var refused: [Int] = []
            for sequence in 1...stalledCount {
                if try !publisher.tryPublish(ChannelTestMessage(producer: 0, sequence: UInt64(sequence))) {
                    refused.append(sequence)
                }
            }
            let elapsed = elapsedMilliseconds(since: start)
            #expect(refused.isEmpty, "refused while a subscriber was stopped: \(refused.prefix(8))")
            // A guard against waiting only (each publish is microseconds; a blocked one would
            // take forever).
            #expect(elapsed < 20_000, "\(stalledCount) publishes took \(elapsed) ms")
            stalled.send(SIGCONT)
            for sequence in (1 + stalledCount)..<total {
                #expect(try publisher.tryPublish(ChannelTestMessage(producer: 0, sequence: UInt64(sequence))))
            }
            publisher.close()

            let stalledResult = try lossyResult(stalled.waitFor("result", timeout: .seconds(60)), end: "closed")
            #expect(stalledResult.count + stalledResult.missed == total, "\(stalledResult)")
            // Stopped after taking message 0, it can have kept at most its queue of those published
            // while it was stopped.
            #expect(stalledResult.missed >= stalledCount - capacity - 1, "\(stalledResult)")
            let runningResult = try lossyResult(running.waitFor("result", timeout: .seconds(60)), end: "closed")
            #expect(runningResult.count + runningResult.missed == total, "\(runningResult)")
            expectExitedNormally(stalled)
            expectExitedNormally(running)
        }
    }

    /// Subscribers and publishers killed with `SIGKILL` in the states that matter.
    @Suite struct TopicDeath {
        /// How long the survivors may take to notice a death: the liveness interval is 100 ms
        /// (a full queue of a dead subscriber is noticed at once); the bound leaves room for a
        /// loaded machine and a sanitizer, and only guards against a hang.
        static let detectionBound = 5_000

        /// A subscriber process holding a sample (`holding`: killed before the publisher fills
        /// its queue; `blocked`: killed while the `block`-policy publisher process waits on its
        /// full queue, at message 22 = the 5 taken + the held one + 16 queued). The publisher goes
        /// on within the bound, the other subscriber receives every message in order, and with
        /// `maximumSubscribers` (2) reached before the kill, a new subscriber process takes the
        /// dead one's slot without any manual step and receives everything published after it
        /// joined; a third subscriber is refused before the kill and again once the newcomer
        /// holds the slot.
        @Test(arguments: ["holding", "blocked"])
        func aKilledSubscriberHoldsNobodyBackAndItsSlotIsReused(when: String) throws {
            let (total, rejoin) = (5_000, 3_000)
            let scenario = Scenario("topic-kill-sub")
            defer { scenario.removeAll() }
            try scenario.makeTopic(TopicConfiguration(capacity: 16, maximumSubscribers: 2))
            let victim = try Peer("topic-subscribe", scenario.name, "0", "0", "hold", "5")
            let witness = try Peer("topic-subscribe", scenario.name, "0", "0", "samples")
            try victim.waitFor("ready")
            try witness.waitFor("ready")
            let limit = TopicError.endpointLimitReached(.subscriber, maximum: 2)
            #expect(throws: limit) { _ = try TopicSubscriber<ChannelTestMessage>(named: scenario.name, mode: .open) }

            var arguments = [scenario.name, "0", "\(total)", "report-full", "pause-at", "\(rejoin)"]
            if when == "holding" { arguments += ["pause-at", "10"] }
            let publisher = try Peer("topic-publish", arguments: arguments)
            #expect(try victim.waitFor("holding") == "holding 5")
            if when == "holding" {
                #expect(try publisher.waitFor("published") == "published 10")
            } else {
                try publisher.waitForLine(startingWith: "full 22")
            }
            victim.send(SIGKILL)
            let killedAt = Deadline.now
            #expect(try victim.waitForExit() == .signaled(SIGKILL))
            if when == "holding" { try publisher.tell("go") }
            // Full at 22 either way (the dead subscriber's queue), then on at once.
            try publisher.waitForLine(startingWith: "unblocked 22", timeout: .seconds(20))
            #expect(elapsedMilliseconds(since: killedAt) < Self.detectionBound)
            #expect(try publisher.waitFor("published", timeout: .seconds(60)) == "published \(rejoin)")

            let newcomer = try Peer("topic-subscribe", scenario.name, "0", "\(rejoin)")
            try newcomer.waitFor("ready")
            #expect(throws: limit) { _ = try TopicSubscriber<ChannelTestMessage>(named: scenario.name, mode: .open) }
            try publisher.tell("go")
            #expect(try witness.waitFor("result", timeout: .seconds(60)) == topicResult("closed", 0..<total))
            #expect(try newcomer.waitFor("result", timeout: .seconds(60)) == topicResult("closed", rejoin..<total))
            #expect(try publisher.waitFor("done") == "done \(total)")
            for peer in [witness, newcomer, publisher] { expectExitedNormally(peer) }
        }

        /// A publisher process killed mid-loan: it published 10 messages, then loaned a slot and
        /// wrote half of message 10 into it. Nothing of that message is ever delivered: this
        /// process's subscriber and a subscriber process receive 0..<10, intact, then
        /// `publisherDied` (within the bound); a subscriber process joining after the crash gets
        /// the history (the last 4, all whole) and `publisherDied`. A new publisher process then
        /// takes over the only publisher slot, and its messages (another producer's, 0..<100)
        /// reach this process's subscriber after the dead one's, then `closed`.
        @Test func aPublisherKilledMidLoanDeliversNothingTornAndASuccessorTakesOver() throws {
            let (published, history) = (10, 4)
            let scenario = Scenario("topic-kill-pub")
            defer { scenario.removeAll() }
            var subscriber = try TopicSubscriber<ChannelTestMessage>(
                named: scenario.name,
                configuration: TopicConfiguration(capacity: 64, maximumSubscribers: 4, history: history),
                mode: .create)
            let child = try Peer("topic-subscribe", scenario.name, "0", "0")
            try child.waitFor("ready")
            let publisher = try Peer("topic-publish", scenario.name, "0", "\(published)", "half-loan")
            try publisher.waitFor("writing")
            for sequence in 0..<UInt64(published) {
                let m = try subscriber.receive(timeout: .seconds(10))
                #expect(m == ChannelTestMessage(producer: 0, sequence: sequence))
            }
            // Loaned and half-written: invisible while the publisher lives.
            #expect(try subscriber.receive(timeout: .milliseconds(150)) == nil)
            publisher.send(SIGKILL)
            let killedAt = Deadline.now
            #expect(try publisher.waitForExit() == .signaled(SIGKILL))
            #expect(throws: TopicError.publisherDied) { try subscriber.receive(timeout: .seconds(20)) }
            #expect(elapsedMilliseconds(since: killedAt) < Self.detectionBound)
            #expect(try child.waitFor("result") == topicResult("publisherDied", 0..<published))
            expectExitedNormally(child)

            let late = try Peer("topic-subscribe", scenario.name, "0", "\(published - history)")
            #expect(try late.waitFor("result") == topicResult("publisherDied", (published - history)..<published))
            expectExitedNormally(late)

            let successor = try Peer("topic-publish", scenario.name, "1", "100")
            try successor.waitFor("opened")
            for sequence in 0..<UInt64(100) {
                let m = try subscriber.receive(timeout: .seconds(10))
                #expect(m == ChannelTestMessage(producer: 1, sequence: sequence))
                guard m == ChannelTestMessage(producer: 1, sequence: sequence) else { break }
            }
            #expect(throws: TopicError.closed) { try subscriber.receive(timeout: .seconds(20)) }
            #expect(try successor.waitFor("done") == "done 100")
            expectExitedNormally(successor)
        }
    }

    /// The async sequence across processes.
    @Suite struct TopicAsync {
        /// This process iterates `messages()` while a publisher process publishes 5 000 messages
        /// and closes: the loop receives every one in order and ends. A watchdog cancels the
        /// iteration (`TopicError.cancelled`) if it has not ended in 60 s.
        @Test func theAsyncSequenceEndsWhenThePublisherProcessCloses() async throws {
            let total = 5_000
            let scenario = Scenario("topic-async")
            defer { scenario.removeAll() }
            let received = try await withThrowingTaskGroup(of: Int?.self) { group in
                group.addTask {
                    let subscriber = try TopicSubscriber<ChannelTestMessage>(
                        named: scenario.name, configuration: TopicConfiguration(capacity: 16), mode: .create)
                    let messages = subscriber.messages()
                    let publisher = try Peer("topic-publish", scenario.name, "0", "\(total)")
                    var next: UInt64 = 0
                    for try await m in messages {
                        guard m == ChannelTestMessage(producer: 0, sequence: next) else {
                            Issue.record("got \(m), expected message \(next)")
                            break
                        }
                        next += 1
                    }
                    #expect(try publisher.waitFor("done") == "done \(total)")
                    expectExitedNormally(publisher)
                    return Int(next)
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(60))
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first
            }
            #expect(received == total, "nil: the sequence had not ended after 60 s")
        }
    }

    /// Two separately built executables share a topic through a stable type name (the test
    /// peer publishes its own `PeerReading`, this process subscribes with its own
    /// `TestReading`; see `StableIdentity` for channels).
    @Suite struct TopicStableIdentity {
        @Test func aTopicIsSharedAcrossExecutablesByStableName() throws {
            let scenario = Scenario("topic-stable")
            defer { scenario.removeAll() }
            var subscriber = try TopicSubscriber<TestReading>(
                named: scenario.name, configuration: TopicConfiguration(capacity: 16), mode: .create)
            let publisher = try Peer("stable-topic-publish", scenario.name, "100")
            try publisher.waitFor("opened")
            for sequence in 0..<UInt64(100) {
                let reading = try subscriber.receive(timeout: .seconds(10))
                #expect(reading == TestReading(sequence: sequence, celsius: Double(sequence) / 4))
            }
            #expect(try publisher.waitFor("done") == "done 100")
            expectExitedNormally(publisher)
            #expect(throws: TopicError.closed) { try subscriber.receive(timeout: .seconds(10)) }
        }

        /// Without a stable name the same layout is another type: the peer's open is refused
        /// with the element-type mismatch (exit status 3: an error it did not expect).
        @Test func withoutAStableNameTheTopicIsRefused() throws {
            let scenario = Scenario("topic-unnamed")
            defer { scenario.removeAll() }
            let subscriber = try TopicSubscriber<UnnamedReading>(
                named: scenario.name, configuration: TopicConfiguration(capacity: 16), mode: .create)
            let publisher = try Peer("stable-topic-publish", scenario.name, "1")
            #expect(throws: Peer.Failure.self) { try publisher.waitFor("opened", timeout: .seconds(20)) }
            #expect(try publisher.waitForExit() == .exited(3))
            let error = publisher.lines.last ?? ""
            #expect(error.contains("UnnamedReading") && error.contains("interprocess.tests.Reading.v1"), "\(error)")
            subscriber.close()
        }
    }
}
