import Testing

@testable import Interprocess

/// What senders see once every receiver closed: room is still used (the messages wait for a
/// successor receiver), a full ring is `receiversClosed` from every kind of send, and a receiver
/// that opens lifts it.
@Suite struct ChannelReceiversClosedTests {
    static let topologies = [ChannelTopology.singleProducerSingleConsumer, .multiProducerMultiConsumer]

    /// Holds a sender for an async task (used by one task at a time).
    final class SenderBox: @unchecked Sendable {
        var sender: ChannelSender<Int>
        init(_ sender: consuming ChannelSender<Int>) { self.sender = sender }
    }

    @Test(arguments: topologies)
    func aFullRingWithTheReceiversClosedIsReportedByEverySend(topology: ChannelTopology) async throws {
        let name = uniqueName("receivers-closed-\(topology)")
        defer { removeQuietly(name) }
        let box = SenderBox(try ChannelSender<Int>(named: name, capacity: 4, topology: topology, mode: .create))
        let receiver = try ChannelReceiver<Int>(named: name, mode: .open)
        #expect(try box.sender.trySend(0))
        receiver.close()
        // Room left: sends still succeed, for a receiver that opens later.
        for i in 1..<4 { #expect(try box.sender.trySend(i)) }
        #expect(throws: ChannelError.receiversClosed) { _ = try box.sender.trySend(4) }
        // (Timeouts only so that a regression fails instead of hanging; the sends without one
        // are the multi-process tests'.)
        let start = Deadline.now
        #expect(throws: ChannelError.receiversClosed) { try box.sender.send(4, timeout: .seconds(2)) }
        var called = false
        #expect(throws: ChannelError.receiversClosed) {
            try box.sender.send(timeout: .seconds(2)) {
                called = true
                $0.initialize(to: 4)
            }
        }
        #expect(!called)
        #expect(throws: ChannelError.receiversClosed) { try box.sender.send(contentsOf: [4, 5], timeout: .seconds(2)) }
        // None of them waited for room.
        #expect(millisecondsSince(start) < 1_500)
        // The async send has no timeout: a canceller ends it after 2 s, which would show as a
        // `ChannelError.cancelled`. (Not timed: with the tests running side by side, the task itself
        // may start late.)
        let send = Task { try await box.sender.send(4) }
        let canceller = Task {
            try await Task.sleep(for: .seconds(2))
            send.cancel()
        }
        await #expect(throws: ChannelError.receiversClosed) { try await send.value }
        canceller.cancel()

        // A receiver that opens lifts it, and gets the messages kept for it.
        var successor = try ChannelReceiver<Int>(named: name, mode: .open)
        #expect(try box.sender.trySend(4) == false)
        #expect(try successor.receive(timeout: .seconds(1)) == 0)
        #expect(try box.sender.trySend(4))
        var got: [Int] = []
        while let value = try successor.tryReceive() { got.append(value) }
        #expect(got == [1, 2, 3, 4])
        // Dropping the box closes the sender.
        _ = consume box
        #expect(throws: ChannelError.closed) { try successor.receive(timeout: .seconds(1)) }
    }

    /// A batch that fills the ring after some messages returns the count it sent; the next
    /// send reports `receiversClosed`.
    @Test(arguments: topologies)
    func aBatchReturnsWhatItSentBeforeTheRingFilled(topology: ChannelTopology) throws {
        let name = uniqueName("receivers-closed-batch-\(topology)")
        defer { removeQuietly(name) }
        var sender = try ChannelSender<Int>(named: name, capacity: 4, topology: topology, mode: .create)
        try ChannelReceiver<Int>(named: name, mode: .open).close()
        // (The timeout only bounds a regression, which would wait it out.)
        let start = Deadline.now
        #expect(try sender.send(contentsOf: [0, 1, 2, 3, 4, 5], timeout: .seconds(2)) == 4)
        #expect(throws: ChannelError.receiversClosed) { try sender.send(contentsOf: [4, 5], timeout: .seconds(2)) }
        #expect(millisecondsSince(start) < 1_500)
        sender.close()
    }

    /// A channel no receiver ever opened is not "closed by its receivers": a full ring there is
    /// a plain "full" (the receiver may come), and so is one made by `createChannel`.
    @Test(arguments: topologies)
    func noReceiverYetIsNotReceiversClosed(topology: ChannelTopology) throws {
        let name = uniqueName("receivers-none-\(topology)")
        defer { removeQuietly(name) }
        try ChannelReceiver<Int>.createChannel(named: name, capacity: 2, topology: topology)
        var sender = try ChannelSender<Int>(named: name, mode: .open)
        #expect(try sender.trySend(0) && sender.trySend(1))
        #expect(try sender.trySend(2) == false)
        #expect(try sender.send(2, timeout: .milliseconds(20)) == false)
        sender.close()
        #expect(throws: ChannelError.segment(.alreadyExists(name: name))) {
            try ChannelReceiver<Int>.createChannel(named: name, capacity: 2, topology: topology)
        }
    }

    /// The mark needs the count at 0: a receiver that is open although the mark says 1 (an
    /// opener that cleared it before a concurrent last close set it) keeps senders waiting.
    @Test func theMarkWithAnOpenReceiverIsNotClosed() throws {
        let name = uniqueName("receivers-mark-race")
        defer { removeQuietly(name) }
        var sender = try ChannelSender<Int>(named: name, capacity: 2, mode: .create)
        let receiver = try ChannelReceiver<Int>(named: name, mode: .open)
        #expect(try sender.trySend(0) && sender.trySend(1))
        // The interleaving "closer decrements, opener counts and clears, closer sets".
        sender.ring.control.receiversClosed.pointee.store(1, ordering: .sequentiallyConsistent)
        #expect(try sender.trySend(2) == false)
        receiver.close()
        #expect(throws: ChannelError.receiversClosed) { _ = try sender.trySend(2) }
        sender.close()
    }

    @Test func byteChannel() throws {
        let name = uniqueName("receivers-closed-bytes")
        defer { removeQuietly(name) }
        var sender = try ByteChannelSender(named: name, bufferSize: 128, maximumMessageSize: 16, mode: .create)
        let receiver = try ByteChannelReceiver(named: name, mode: .open)
        receiver.close()
        // Room left: sends succeed; the first that finds no room reports it.
        var sent = 0
        while true {
            do {
                guard try sender.send([UInt8](repeating: UInt8(sent), count: 16), timeout: .zero) else {
                    Issue.record("a full ring with the receiver closed was a plain timeout")
                    break
                }
                sent += 1
            } catch {
                #expect(error == .receiversClosed)
                break
            }
        }
        #expect(sent == 5)  // 128 bytes of 24-byte frames
        let start = Deadline.now
        // (The timeout only bounds a regression, which would wait it out.)
        #expect(throws: ChannelError.receiversClosed) { try sender.send([1], timeout: .seconds(2)) }
        #expect(millisecondsSince(start) < 1_500)
        var successor = try ByteChannelReceiver(named: name, mode: .open)
        #expect(try sender.send([9], timeout: .zero) == false)
        for i in 0..<sent {
            #expect(try successor.receive(timeout: .seconds(1)) == [UInt8](repeating: UInt8(i), count: 16))
        }
        sender.close()
        #expect(throws: ChannelError.closed) { try successor.receive(timeout: .seconds(1)) }
    }
}
