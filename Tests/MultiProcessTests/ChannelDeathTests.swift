import Glibc
import Interprocess
import Testing

import InterprocessTestSupport

extension MultiProcessTests {
    /// Channel participants killed with `SIGKILL` mid-stream, and the documented outcomes.
    @Suite struct ChannelDeath {
        /// How long a side may take to notice a dead peer: the documented liveness interval is
        /// 100 ms plus the drain; the bound leaves room for a loaded machine, and only guards
        /// against a hang.
        static let detectionBound = 5_000

        /// Receives `producer 0`'s messages from `next` on, each intact and in sequence, until an
        /// error; returns the next expected sequence and the error. `afterEach` runs after every
        /// message with the count received so far.
        private func receiveSequence(
            _ receiver: inout ChannelReceiver<ChannelTestMessage>, from next: UInt64,
            afterEach: (UInt64) -> Void = { _ in }
        ) -> (next: UInt64, error: ChannelError?) {
            var next = next
            while true {
                do {
                    guard let m = try receiver.receive(timeout: .seconds(20)) else {
                        Issue.record("no message and no error within 20 s after \(next)")
                        return (next, nil)
                    }
                    guard m.isIntact, m.producer == 0, m.sequence == next else {
                        Issue.record("got \(m) (intact: \(m.isIntact)), expected sequence \(next)")
                        return (next, nil)
                    }
                    next += 1
                    afterEach(next)
                } catch {
                    return (next, error)
                }
            }
        }

        /// A producer killed while streaming: the receiver gets an unbroken prefix of its
        /// sequence, every message intact, then `senderDied`, within a bounded time.
        @Test(arguments: [ChannelTopology.singleProducerSingleConsumer, .multiProducerMultiConsumer])
        func producerKilledMidStream(topology: ChannelTopology) throws {
            let scenario = Scenario("chan-kill-producer")
            defer { scenario.removeAll() }
            try scenario.makeChannel(capacity: 64, topology: topology)
            var receiver = try ChannelReceiver<ChannelTestMessage>(named: scenario.name, mode: .open)
            let producer = try Peer("chan-produce", scenario.name, "adaptive", "0", "-1")
            try producer.waitFor("opened")
            var killedAt: Deadline? = nil
            let (received, error) = receiveSequence(&receiver, from: 0) { count in
                if count == 5000 {
                    producer.send(SIGKILL)
                    killedAt = .now
                }
            }
            #expect(error == .senderDied)
            #expect(received >= 5000)
            #expect(try producer.waitForExit() == .signaled(SIGKILL))
            if let killedAt {
                #expect(elapsedMilliseconds(since: killedAt) < Self.detectionBound)
            }
        }

        /// SPSC: a producer killed while blocked on a full ring, at a position that is not a
        /// multiple of the 16-message interval at which it records its position. The kernel
        /// releases its role; a successor producer opens, continues exactly where the dead one
        /// published up to (found by walking past the record), and nothing is lost, repeated
        /// or overwritten: the receiver gets the dead producer's whole sequence, then the
        /// successor's, then `closed`: the successor opened while no other sender was alive, so
        /// it took over the dead one's place, and its close is the last one.
        @Test func spscProducerKilledSuccessorContinuesAfterItsLastMessage() throws {
            let scenario = Scenario("chan-kill-successor")
            defer { scenario.removeAll() }
            try scenario.makeChannel(capacity: 64, topology: .singleProducerSingleConsumer)
            var receiver = try ChannelReceiver<ChannelTestMessage>(named: scenario.name, mode: .open)
            let producer = try Peer("chan-produce", scenario.name, "adaptive", "0", "-1")
            try producer.waitFor("opened")
            // Take 5 so the producer refills the ring up to position 69 and blocks there.
            for i in 0..<5 {
                let m = try receiver.receive(timeout: .seconds(20))
                #expect(m?.sequence == UInt64(i) && m?.isIntact == true)
            }
            let start = Deadline.now
            while receiver.depth < 64 && elapsedMilliseconds(since: start) < Self.detectionBound { usleep(1_000) }
            #expect(receiver.depth == 64)
            producer.send(SIGKILL)
            #expect(try producer.waitForExit() == .signaled(SIGKILL))
            let successor = try Peer("chan-produce", scenario.name, "adaptive", "1", "100")
            try successor.waitFor("opened")
            var expected: (producer: UInt64, sequence: UInt64) = (0, 5)
            var outcome: ChannelError? = nil
            while outcome == nil {
                do {
                    guard let m = try receiver.receive(timeout: .seconds(20)) else {
                        Issue.record("no message and no error within 20 s after \(expected)")
                        break
                    }
                    if expected == (0, 69) { expected = (1, 0) }
                    guard m.isIntact, m.producer == expected.producer, m.sequence == expected.sequence else {
                        Issue.record("got \(m) (intact: \(m.isIntact)), expected \(expected)")
                        break
                    }
                    expected.sequence += 1
                } catch {
                    outcome = error
                }
            }
            #expect(outcome == .closed)
            #expect(expected == (1, 100))
            #expect(try successor.waitFor("done") == "done 100")
            #expect(try successor.waitForExit() == .exited(0))
        }

        /// A producer killed between claiming a slot and publishing it (half of the message
        /// written): the message is never delivered, the ones before it are, then
        /// `senderDied`. For MPMC this is the documented "hole" case.
        @Test(arguments: [ChannelTopology.singleProducerSingleConsumer, .multiProducerMultiConsumer])
        func halfWrittenMessageIsNeverDelivered(topology: ChannelTopology) throws {
            let scenario = Scenario("chan-half-written")
            defer { scenario.removeAll() }
            try scenario.makeChannel(capacity: 16, topology: topology)
            var receiver = try ChannelReceiver<ChannelTestMessage>(named: scenario.name, mode: .open)
            let producer = try Peer("chan-hold-send", scenario.name, "10")
            try producer.waitFor("writing")
            for i in 0..<10 {
                let m = try receiver.receive(timeout: .seconds(5))
                #expect(m?.isIntact == true && m?.sequence == UInt64(i))
            }
            // Claimed, half-written, not published: invisible while the sender lives.
            #expect(try receiver.receive(timeout: .milliseconds(150)) == nil)
            producer.send(SIGKILL)
            let killedAt = Deadline.now
            #expect(try producer.waitForExit() == .signaled(SIGKILL))
            #expect(throws: ChannelError.senderDied) { try receiver.receive(timeout: .seconds(20)) }
            #expect(elapsedMilliseconds(since: killedAt) < Self.detectionBound)
        }

        /// MPMC: a sender killed between claiming and publishing leaves a hole. Receivers report
        /// `senderDied` at the hole although another sender is alive (a dead sender is
        /// registered and holds the slot they wait on); what the live sender sent after the hole
        /// stays behind it.
        @Test func mpmcHoleFromADeadSenderWhileAnotherLives() throws {
            let scenario = Scenario("chan-mpmc-hole")
            defer { scenario.removeAll() }
            try scenario.makeChannel(capacity: 16, topology: .multiProducerMultiConsumer)
            var receiver = try ChannelReceiver<ChannelTestMessage>(named: scenario.name, mode: .open)
            var liveSender = try ChannelSender<ChannelTestMessage>(named: scenario.name, mode: .open)
            let producer = try Peer("chan-hold-send", scenario.name, "5")
            try producer.waitFor("writing")
            for i in 0..<3 {
                let sent = try liveSender.trySend(ChannelTestMessage(producer: 1, sequence: UInt64(i)))
                #expect(sent)
            }
            for i in 0..<5 {
                let m = try receiver.receive(timeout: .seconds(5))
                #expect(m?.isIntact == true && m?.producer == 0 && m?.sequence == UInt64(i))
            }
            producer.send(SIGKILL)
            let killedAt = Deadline.now
            #expect(try producer.waitForExit() == .signaled(SIGKILL))
            #expect(throws: ChannelError.senderDied) { try receiver.receive(timeout: .seconds(20)) }
            #expect(elapsedMilliseconds(since: killedAt) < Self.detectionBound)
            #expect(receiver.depth == 4, "the hole and the live sender's 3 messages")
            liveSender.close()
        }

        /// SPSC: a consumer killed while reading a message in place (taken, not released). The
        /// kernel releases its role lock, a new receiver opens and gets that message again
        /// (at-least-once for the in-flight message) and everything after it in order; the
        /// producer (which retries if it saw `receiverDied` in the gap) finishes.
        @Test func spscConsumerKilledMidStreamNextReceiverContinues() throws {
            let total: UInt64 = 20_000
            let scenario = Scenario("chan-kill-consumer")
            defer { scenario.removeAll() }
            try scenario.makeChannel(capacity: 64, topology: .singleProducerSingleConsumer)
            let consumer = try Peer(
                "chan-consume", scenario.name, "adaptive", "1", "\(total)", "contiguous", "hold", "5000")
            try consumer.waitFor("ready")
            let producer = try Peer("chan-produce", scenario.name, "adaptive", "0", "\(total)", "retry")
            #expect(try consumer.waitFor("holding") == "holding 5000")
            consumer.send(SIGKILL)
            #expect(try consumer.waitForExit() == .signaled(SIGKILL))
            var receiver = try ChannelReceiver<ChannelTestMessage>(named: scenario.name, mode: .open)
            let (next, error) = receiveSequence(&receiver, from: 5000)
            #expect(error == .closed)
            #expect(next == total)
            #expect(try producer.waitFor("done") == "done \(total)")
            #expect(try producer.waitForExit() == .exited(0))
        }

        /// MPMC: a consumer killed while holding a claimed slot. That message is lost (it is
        /// neither released nor delivered again); a new receiver continues after it, and once the
        /// producer laps the ring to the held slot it gets `receiverDied` (the slot will never be
        /// freed), after which the receiver drains and gets `senderDied`.
        @Test func mpmcConsumerKilledHoldingASlot() throws {
            let capacity: UInt64 = 64
            let scenario = Scenario("chan-kill-mpmc-consumer")
            defer { scenario.removeAll() }
            try scenario.makeChannel(capacity: Int(capacity), topology: .multiProducerMultiConsumer)
            let consumer = try Peer("chan-consume", scenario.name, "adaptive", "1", "-1", "contiguous", "hold", "500")
            try consumer.waitFor("ready")
            let producer = try Peer("chan-produce", scenario.name, "adaptive", "0", "-1")
            #expect(try consumer.waitFor("holding") == "holding 500")
            consumer.send(SIGKILL)
            #expect(try consumer.waitForExit() == .signaled(SIGKILL))
            var receiver = try ChannelReceiver<ChannelTestMessage>(named: scenario.name, mode: .open)
            let (next, error) = receiveSequence(&receiver, from: 501)
            // The producer stops at the held slot, one lap after it.
            #expect(next == 500 + capacity)
            #expect(error == .senderDied)
            #expect(try producer.waitFor("receiverDied") == "receiverDied")
            #expect(try producer.waitForExit() == .exited(0))
        }

        /// A producer blocked on a full channel whose only consumer is killed gets
        /// `receiverDied` within a bounded time.
        @Test(arguments: [ChannelTopology.singleProducerSingleConsumer, .multiProducerMultiConsumer])
        func blockedProducerGetsReceiverDied(topology: ChannelTopology) throws {
            let scenario = Scenario("chan-receiver-died")
            defer { scenario.removeAll() }
            try scenario.makeChannel(capacity: 16, topology: topology)
            let consumer = try Peer("chan-consume", scenario.name, "adaptive", "1", "-1", "contiguous", "hold", "100")
            try consumer.waitFor("ready")
            let producer = try Peer("chan-produce", scenario.name, "adaptive", "0", "-1")
            try consumer.waitFor("holding")
            consumer.send(SIGKILL)
            let killedAt = Deadline.now
            #expect(try consumer.waitForExit() == .signaled(SIGKILL))
            try producer.waitFor("receiverDied", timeout: .seconds(20))
            #expect(elapsedMilliseconds(since: killedAt) < Self.detectionBound)
            #expect(try producer.waitForExit() == .exited(0))
        }
    }
}
