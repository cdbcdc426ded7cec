import Testing

@testable import Interprocess

/// `TrafficProbe` (what `shm hz` samples): counters read through a read-only mapping.
@Suite struct TrafficProbeTests {
    @Test func topicCountersArePublishedAndTakenMessages() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let configuration = TopicConfiguration(capacity: 4, maximumSubscribers: 2, overflow: .dropOldest)
        var publisher = try TopicPublisher<UInt64>(named: name, configuration: configuration, mode: .create)
        var subscriber = try TopicSubscriber<UInt64>(named: name)
        let probe = try TrafficProbe(named: name)
        #expect(probe.subject == .topic(configuration, isByteTopic: false))
        for i in 0..<7 as Range<UInt64> { try publisher.publish(i) }
        #expect(try subscriber.tryReceive() == 3)
        var reading = probe.read()
        #expect(reading.published == [0: 7])
        // Seven published into a queue of four: three dropped, one taken, three queued.
        #expect(reading.consumed[0]?.taken == 1)
        #expect(reading.consumed[0]?.lag == 3)
        let generation = try #require(reading.consumed[0]?.generation)
        subscriber.close()
        let successor = try TopicSubscriber<UInt64>(named: name)
        reading = probe.read()
        #expect(reading.consumed[0]?.generation != generation)
        #expect(reading.consumed[0]?.lag == 0)
        #expect(!probe.isDamaged)
        successor.close()
        publisher.close()
    }

    @Test func channelCountersAreSentAndReceivedPositions() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var sender = try ChannelSender<UInt32>(named: name, capacity: 16, mode: .create)
        var receiver = try ChannelReceiver<UInt32>(named: name)
        let probe = try TrafficProbe(named: name)
        #expect(probe.subject == .channel(.singleProducerSingleConsumer, isByteChannel: false))
        // An SPSC producer records its position only every few messages: the probe walks on.
        for i in 0..<5 as Range<UInt32> { #expect(try sender.trySend(i)) }
        #expect(try receiver.tryReceive() == 0)
        let reading = probe.read()
        #expect(reading.sent == 5 && reading.received == 1 && reading.depth == 4)
        sender.close()
        receiver.close()
    }

    @Test func byteChannelCountersAreBytes() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var sender = try ByteChannelSender(named: name, bufferSize: 1024, maximumMessageSize: 100, mode: .create)
        let probe = try TrafficProbe(named: name)
        #expect(probe.subject == .channel(.singleProducerSingleConsumer, isByteChannel: true))
        #expect(try sender.send([1, 2, 3], timeout: .zero))
        #expect(probe.read().sent > 3)
        sender.close()
    }

    @Test func otherKindsAreRefused() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try ProcessSemaphore(named: name, initialValue: 0, mode: .create)
        #expect(throws: SharedMemoryError.self) { _ = try TrafficProbe(named: name) }
        #expect(throws: SharedMemoryError.notFound(name: name + "x")) { _ = try TrafficProbe(named: name + "x") }
    }
}
