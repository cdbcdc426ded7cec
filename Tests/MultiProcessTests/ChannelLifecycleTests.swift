import Glibc
import Interprocess
import Testing

import InterprocessTestSupport

extension MultiProcessTests {
    /// Timeouts, close and drain, and async receiving, with a real child on the other side.
    @Suite struct ChannelLifecycle {
        /// A receive in a child on an empty channel whose sender (this process) is alive times
        /// out after its timeout, including one longer than the liveness interval (the wait is
        /// cut into liveness slices and must still end on time, not report a dead sender).
        @Test(arguments: [50, 350])
        func receiveTimesOutAcrossProcesses(timeoutMilliseconds: Int) throws {
            let scenario = Scenario("chan-receive-timeout")
            defer { scenario.removeAll() }
            let sender = try ChannelSender<ChannelTestMessage>(
                named: scenario.name, capacity: 8, topology: .singleProducerSingleConsumer, mode: .create)
            let child = try Peer("chan-receive-timeout", scenario.name, "\(timeoutMilliseconds)")
            try child.waitFor("waiting")
            let elapsed = try reportedMilliseconds(try child.waitFor("timedout"))
            #expect(elapsed >= timeoutMilliseconds && elapsed < timeoutMilliseconds + 1000)
            #expect(try child.waitForExit() == .exited(0))
            sender.close()
        }

        /// A send in a child on a full channel whose receiver (this process) is alive times out
        /// after its timeout; the messages it sent before are all there.
        @Test(arguments: [ChannelTopology.singleProducerSingleConsumer, .multiProducerMultiConsumer], [50, 350])
        func sendTimesOutAcrossProcesses(topology: ChannelTopology, timeoutMilliseconds: Int) throws {
            let scenario = Scenario("chan-send-timeout")
            defer { scenario.removeAll() }
            var receiver = try ChannelReceiver<ChannelTestMessage>(
                named: scenario.name, capacity: 8, topology: topology, mode: .create)
            let child = try Peer("chan-send-timeout", scenario.name, "\(timeoutMilliseconds)")
            try child.waitFor("waiting")
            let elapsed = try reportedMilliseconds(try child.waitFor("timedout"))
            #expect(elapsed >= timeoutMilliseconds && elapsed < timeoutMilliseconds + 1000)
            #expect(try child.waitForExit() == .exited(0))
            #expect(receiver.depth == 8)
            for i in 0..<8 {
                let m = try receiver.receive(timeout: .seconds(5))
                #expect(m?.isIntact == true && m?.sequence == UInt64(i))
            }
            // The child's sender was dropped when its role ended, which closes it.
            #expect(throws: ChannelError.closed) { try receiver.receive(timeout: .seconds(10)) }
        }

        /// A child sends, closes and exits before anyone receives: a receiver opened afterwards
        /// drains every message and then gets `closed` — not `senderDied`, although the sending
        /// process is gone. Without the close (`noclose`), the same drain ends in `senderDied`.
        @Test(arguments: [ChannelTopology.singleProducerSingleConsumer, .multiProducerMultiConsumer], [true, false])
        func drainAfterTheSenderExited(topology: ChannelTopology, closes: Bool) throws {
            let count: UInt64 = 500
            let scenario = Scenario("chan-drain")
            defer { scenario.removeAll() }
            try scenario.makeChannel(capacity: 1024, topology: topology)
            let producer = try Peer(
                "chan-produce", scenario.name, "adaptive", "0", "\(count)", closes ? "close" : "noclose")
            #expect(try producer.waitFor("done") == "done \(count)")
            #expect(try producer.waitForExit() == .exited(0))
            var receiver = try ChannelReceiver<ChannelTestMessage>(named: scenario.name, mode: .open)
            for i in 0..<count {
                let m = try receiver.receive(timeout: .seconds(5))
                #expect(m?.isIntact == true && m?.sequence == i)
            }
            let start = Deadline.now
            #expect(throws: closes ? ChannelError.closed : ChannelError.senderDied) {
                try receiver.receive(timeout: .seconds(10))
            }
            #expect(elapsedMilliseconds(since: start) < 5000)
        }

        /// A child receives with `for try await` over `messages()` while this process sends:
        /// every message arrives intact and in order, and the sequence ends when the sender
        /// closes.
        @Test(arguments: [ChannelTopology.singleProducerSingleConsumer, .multiProducerMultiConsumer])
        func asyncReceiveInAChild(topology: ChannelTopology) throws {
            let count: UInt64 = 20_000
            let scenario = Scenario("chan-async")
            defer { scenario.removeAll() }
            try scenario.makeChannel(capacity: 64, topology: topology)
            let child = try Peer("chan-async-consume", scenario.name)
            try child.waitFor("ready")
            var sender = try ChannelSender<ChannelTestMessage>(named: scenario.name, mode: .open)
            for i in 0..<count {
                // A pause now and then lets the child's iterator suspend on an empty channel.
                if i % 5000 == 4999 { usleep(20_000) }
                try sender.send(ChannelTestMessage(producer: 0, sequence: i), timeout: .seconds(20))
            }
            sender.close()
            #expect(try child.waitFor("result") == "result closed \(count)")
            #expect(try child.waitForExit() == .exited(0))
        }

        /// A child sending with the async `send` into a full channel whose only receiver is
        /// killed gets `receiverDied` within a bounded time.
        @Test(arguments: [ChannelTopology.singleProducerSingleConsumer, .multiProducerMultiConsumer])
        func asyncSendEndsInReceiverDied(topology: ChannelTopology) throws {
            let scenario = Scenario("chan-async-send-died")
            defer { scenario.removeAll() }
            try scenario.makeChannel(capacity: 16, topology: topology)
            let consumer = try Peer("chan-consume", scenario.name, "adaptive", "1", "-1", "contiguous", "hold", "100")
            try consumer.waitFor("ready")
            let producer = try Peer("chan-async-produce", scenario.name)
            #expect(try consumer.waitFor("holding") == "holding 100")
            consumer.send(SIGKILL)
            let killedAt = Deadline.now
            #expect(try consumer.waitForExit() == .signaled(SIGKILL))
            // 100 received and released; the held one and 15 more fill the 16 slots.
            #expect(try producer.waitFor("receiverDied", timeout: .seconds(20)) == "receiverDied 116")
            #expect(elapsedMilliseconds(since: killedAt) < 5000)
            #expect(try producer.waitForExit() == .exited(0))
        }

        /// A child iterating `messages()` whose sender is killed gets `senderDied` from the
        /// sequence after the messages sent before.
        @Test func asyncReceiveEndsInSenderDied() throws {
            let scenario = Scenario("chan-async-died")
            defer { scenario.removeAll() }
            try scenario.makeChannel(capacity: 64, topology: .singleProducerSingleConsumer)
            let child = try Peer("chan-async-consume", scenario.name)
            try child.waitFor("ready")
            let producer = try Peer("chan-hold-send", scenario.name, "100")
            try producer.waitFor("writing")
            producer.send(SIGKILL)
            #expect(try producer.waitForExit() == .signaled(SIGKILL))
            #expect(try child.waitFor("result", timeout: .seconds(20)) == "result senderDied 100")
            #expect(try child.waitForExit() == .exited(0))
        }
    }
}
