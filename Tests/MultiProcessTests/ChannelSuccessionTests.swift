import Glibc
import Interprocess
import Testing

import InterprocessTestSupport

extension MultiProcessTests {
    /// One side of a channel ends — the receivers close, or the last sender dies — and what the
    /// other side then sees, with real children on either side.
    @Suite struct ChannelSuccession {
        /// Messages (typed) or bytes (byte channels) in the ring, from inspection: it reads the
        /// control words without taking a role.
        private func depth(_ name: String) -> Int? {
            (try? SharedObjectRegistry.inspect(named: name))?.channel?.depth
        }

        // MARK: - The receivers closed

        /// A child blocked in a send with no timeout on a full channel is released with
        /// `receiversClosed` when the only receiver (this process) closes, from the blocking,
        /// in-place, batch and async sends, SPSC and MPMC. It used to wait forever. The
        /// messages stay for a successor receiver.
        @Test(
            arguments: [ChannelTopology.singleProducerSingleConsumer, .multiProducerMultiConsumer],
            ["send", "inplace", "batch", "async"])
        func blockedSenderLearnsTheReceiversClosed(topology: ChannelTopology, mode: String) throws {
            let scenario = Scenario("chan-receivers-closed")
            defer { scenario.removeAll() }
            let receiver = try ChannelReceiver<ChannelTestMessage>(
                named: scenario.name, capacity: 8, topology: topology, mode: .create)
            let child = try Peer("chan-send-blocked", scenario.name, mode)
            #expect(try child.waitFor("waiting") == "waiting 8")
            // Long enough for the send to go to sleep and through a liveness check, which must
            // not report anything: the receiver is alive.
            usleep(300_000)
            let closedAt = Deadline.now
            receiver.close()
            let line = try child.waitFor(["receiversClosed", "sent"], timeout: .seconds(10))
            #expect(line.hasPrefix("receiversClosed"), "\(line)")
            #expect(elapsedMilliseconds(since: closedAt) < 2_000)
            #expect(try child.waitForExit() == .exited(0))
            // A receiver that opens later gets what was sent, then `closed` (the child closed).
            var successor = try ChannelReceiver<ChannelTestMessage>(named: scenario.name, mode: .open)
            for i in 0..<8 {
                let m = try successor.receive(timeout: .seconds(5))
                #expect(m?.isIntact == true && m?.sequence == UInt64(i))
            }
            #expect(throws: ChannelError.closed) { try successor.receive(timeout: .seconds(10)) }
        }

        /// The same with a byte channel.
        @Test func blockedByteSenderLearnsTheReceiverClosed() throws {
            let scenario = Scenario("chan-byte-receivers-closed")
            defer { scenario.removeAll() }
            let receiver = try ByteChannelReceiver(
                named: scenario.name, bufferSize: 1024, maximumMessageSize: 64, mode: .create)
            let child = try Peer("chan-byte-send-blocked", scenario.name)
            let waiting = try child.waitFor("waiting")
            let filled = Int(waiting.split(separator: " ").last ?? "") ?? 0
            #expect(filled > 0)
            usleep(300_000)
            let closedAt = Deadline.now
            receiver.close()
            let line = try child.waitFor(["receiversClosed", "sent"], timeout: .seconds(10))
            #expect(line.hasPrefix("receiversClosed"), "\(line)")
            #expect(elapsedMilliseconds(since: closedAt) < 2_000)
            #expect(try child.waitForExit() == .exited(0))
            var successor = try ByteChannelReceiver(named: scenario.name, mode: .open)
            for i in 0..<filled {
                let bytes = try successor.receive(timeout: .seconds(5))
                let parsed = bytes.flatMap(ByteTestMessage.parse)
                #expect(parsed?.producer == 0 && parsed?.sequence == UInt64(i))
            }
            #expect(throws: ChannelError.closed) { try successor.receive(timeout: .seconds(10)) }
        }

        // MARK: - The last sender died

        /// A sender killed mid-stream; a receiver (a child) in `.awaitSuccessor` stays in its
        /// blocking receive: it takes every message the dead sender published (the depth drops
        /// to 0, so nothing published is left behind — with MPMC after stepping over a slot the
        /// sender may have died holding), waits through several liveness checks with no sender
        /// alive (with `.report` it would end in `senderDied` there), then gets the successor's
        /// messages. Both sequences arrive whole and in order, and the successor's close ends
        /// the stream in `closed`.
        @Test(arguments: [ChannelTopology.singleProducerSingleConsumer, .multiProducerMultiConsumer])
        func awaitingReceiverContinuesWithTheSuccessor(topology: ChannelTopology) throws {
            let scenario = Scenario("chan-await-successor")
            defer { scenario.removeAll() }
            try scenario.makeChannel(capacity: 64, topology: topology)
            let consumer = try Peer("chan-consume", scenario.name, "adaptive", "2", "-1", "contiguous", "await")
            try consumer.waitFor("ready")
            let producer = try Peer("chan-produce", scenario.name, "adaptive", "0", "-1")
            try producer.waitFor("progress")
            producer.send(SIGKILL)
            #expect(try producer.waitForExit() == .signaled(SIGKILL))
            let killedAt = Deadline.now
            while depth(scenario.name) != 0 && elapsedMilliseconds(since: killedAt) < 10_000 { usleep(1_000) }
            #expect(depth(scenario.name) == 0)
            usleep(400_000)
            let successor = try Peer("chan-produce", scenario.name, "adaptive", "1", "500")
            #expect(try successor.waitFor("done") == "done 500")
            #expect(try successor.waitForExit() == .exited(0))
            let (end, total, counts) = try consumerResult(try consumer.waitFor("result", timeout: .seconds(20)))
            #expect(end == "closed")
            #expect(counts.count == 2 && counts[0] >= 1000 && counts[1] == 500, "\(counts)")
            #expect(total == counts.reduce(0, +))
            #expect(try consumer.waitForExit() == .exited(0))
        }

        /// The last sender died in the middle of a send (claimed, half written, not published);
        /// a receiver opens afterwards. Opening succeeds with either policy, and the dead
        /// sender's ten published messages arrive. Then `.report` gets `senderDied`, while
        /// `.awaitSuccessor` waits (its timed receive returns `nil`, not an error, through
        /// several liveness checks), and takes a successor's messages, then `closed`. The
        /// half-written message is never delivered (SPSC: the successor writes over it; MPMC:
        /// the receiver steps over its slot).
        @Test(
            arguments: [ChannelTopology.singleProducerSingleConsumer, .multiProducerMultiConsumer],
            [SenderDeathPolicy.report, .awaitSuccessor])
        func receiverOpeningAfterTheLastSenderDied(topology: ChannelTopology, policy: SenderDeathPolicy) throws {
            let scenario = Scenario("chan-open-after-death")
            defer { scenario.removeAll() }
            try scenario.makeChannel(capacity: 16, topology: topology)
            let dead = try Peer("chan-hold-send", scenario.name, "10")
            try dead.waitFor("writing")
            dead.send(SIGKILL)
            #expect(try dead.waitForExit() == .signaled(SIGKILL))
            var receiver = try ChannelReceiver<ChannelTestMessage>(
                named: scenario.name, mode: .open, senderDeath: policy)
            for i in 0..<10 {
                let m = try receiver.receive(timeout: .seconds(5))
                #expect(m?.isIntact == true && m?.producer == 0 && m?.sequence == UInt64(i))
            }
            switch policy {
            case .report:
                #expect(throws: ChannelError.senderDied) { try receiver.receive(timeout: .seconds(10)) }
            case .awaitSuccessor:
                #expect(try receiver.receive(timeout: .milliseconds(400)) == nil)
                let successor = try Peer("chan-produce", scenario.name, "adaptive", "1", "100")
                for i in 0..<100 {
                    let m = try receiver.receive(timeout: .seconds(10))
                    guard m?.isIntact == true && m?.producer == 1 && m?.sequence == UInt64(i) else {
                        Issue.record("got \(String(describing: m)), expected the successor's \(i)")
                        return
                    }
                }
                #expect(throws: ChannelError.closed) { try receiver.receive(timeout: .seconds(10)) }
                #expect(try successor.waitFor("done") == "done 100")
                #expect(try successor.waitForExit() == .exited(0))
            }
        }

        /// MPMC: the successor opens at once, while the receivers have not reached the dead
        /// sender's claimed slot, and stays alive (blocked on the ring, which the claim keeps
        /// from draining). Receivers in `.awaitSuccessor` step over the claim all the same (the
        /// successor recorded, when it opened alone, that every claim before it is dead) and
        /// take its messages; `.report` receivers report `senderDied` at the claim.
        @Test(arguments: [SenderDeathPolicy.report, .awaitSuccessor])
        func mpmcReceiversStepOverADeadClaimWhileTheSuccessorLives(policy: SenderDeathPolicy) throws {
            let scenario = Scenario("chan-mpmc-dead-claim")
            defer { scenario.removeAll() }
            try scenario.makeChannel(capacity: 16, topology: .multiProducerMultiConsumer)
            let dead = try Peer("chan-hold-send", scenario.name, "10")
            try dead.waitFor("writing")
            dead.send(SIGKILL)
            #expect(try dead.waitForExit() == .signaled(SIGKILL))
            let successor = try Peer("chan-produce", scenario.name, "adaptive", "1", "100")
            try successor.waitFor("opened")
            var receiver = try ChannelReceiver<ChannelTestMessage>(
                named: scenario.name, mode: .open, senderDeath: policy)
            for i in 0..<10 {
                let m = try receiver.receive(timeout: .seconds(5))
                #expect(m?.isIntact == true && m?.producer == 0 && m?.sequence == UInt64(i))
            }
            switch policy {
            case .report:
                #expect(throws: ChannelError.senderDied) { try receiver.receive(timeout: .seconds(10)) }
            case .awaitSuccessor:
                for i in 0..<100 {
                    let m = try receiver.receive(timeout: .seconds(10))
                    guard m?.isIntact == true && m?.producer == 1 && m?.sequence == UInt64(i) else {
                        Issue.record("got \(String(describing: m)), expected the successor's \(i)")
                        return
                    }
                }
                #expect(throws: ChannelError.closed) { try receiver.receive(timeout: .seconds(10)) }
                #expect(try successor.waitFor("done") == "done 100")
                #expect(try successor.waitForExit() == .exited(0))
            }
        }

        /// A byte channel whose sender died (exited without closing) after 20 messages: a
        /// receiver opening afterwards gets them; `.report` then `senderDied`, `.awaitSuccessor`
        /// a `nil` timed receive and then the successor's 20 messages and `closed`.
        @Test(arguments: [SenderDeathPolicy.report, .awaitSuccessor])
        func byteReceiverAfterTheSenderDied(policy: SenderDeathPolicy) throws {
            let scenario = Scenario("chan-byte-after-death")
            defer { scenario.removeAll() }
            try ByteChannelReceiver.createChannel(named: scenario.name, bufferSize: 4096, maximumMessageSize: 100)
            let dead = try Peer("chan-byte-produce", scenario.name, "0", "20", "noclose")
            #expect(try dead.waitFor("done") == "done 20")
            #expect(try dead.waitForExit() == .exited(0))
            var receiver = try ByteChannelReceiver(named: scenario.name, mode: .open, senderDeath: policy)
            func expectMessages(from producer: UInt64) throws {
                for i in 0..<20 {
                    let parsed = try receiver.receive(timeout: .seconds(10)).flatMap(ByteTestMessage.parse)
                    guard parsed?.producer == producer && parsed?.sequence == UInt64(i) else {
                        Issue.record("got \(String(describing: parsed)), expected (\(producer), \(i))")
                        return
                    }
                }
            }
            try expectMessages(from: 0)
            switch policy {
            case .report:
                #expect(throws: ChannelError.senderDied) { try receiver.receive(timeout: .seconds(10)) }
            case .awaitSuccessor:
                #expect(try receiver.receive(timeout: .milliseconds(400)) == nil)
                let successor = try Peer("chan-byte-produce", scenario.name, "1", "20")
                try expectMessages(from: 1)
                #expect(throws: ChannelError.closed) { try receiver.receive(timeout: .seconds(10)) }
                #expect(try successor.waitFor("done") == "done 20")
                #expect(try successor.waitForExit() == .exited(0))
            }
        }
    }
}
