import Foundation
import Synchronization
import Testing

@_spi(Layout) @testable import Interprocess

/// `SharedObjectRegistry.inspect` on topics: configuration, publisher and subscriber slots,
/// liveness from the slot locks, lag and missed counts, and hostile words clamped.
@Suite struct TopicInspectionTests {
    @Test func inspectShowsSlotsLagAndMissedCounts() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let configuration = TopicConfiguration(
            capacity: 4, maximumSubscribers: 3, maximumPublishers: 2, history: 2, overflow: .dropOldest)
        var publisher = try TopicPublisher<UInt64>(named: name, configuration: configuration, mode: .create)
        var first = try TopicSubscriber<UInt64>(named: name)
        let second = try TopicSubscriber<UInt64>(named: name)
        for i in 0..<10 as Range<UInt64> { try publisher.publish(i) }
        #expect(try first.tryReceive() == 6)

        let info = try SharedObjectRegistry.inspect(named: name)
        let topic = try #require(info.topic)
        #expect(topic.configuration == configuration)
        #expect(topic.maximumMessageSize == 8)
        #expect(topic.publishers.count == 1)
        #expect(topic.publishers.first?.slot == 0)
        #expect(topic.publishers.first?.state == .open)
        #expect(topic.publishers.first?.isAlive == true)
        #expect(topic.publishers.first?.nextSequence == 10)
        #expect(topic.livePublishers == 1 && topic.liveSubscribers == 2)
        #expect(topic.subscribers.map(\.slot) == [0, 1])
        #expect(topic.subscribers.allSatisfy { $0.isActive && $0.isAlive })
        // Capacity 4: the publisher dropped the 6 oldest of 10 for each; the first took one more.
        #expect(topic.subscribers.map(\.lag) == [3, 4])
        #expect(topic.subscribers.map(\.missed) == [6, 6])
        #expect(info.liveRegistrations[.publisher] == 1)
        #expect(info.liveRegistrations[.subscriber] == 2)
        #expect(info.channel == nil)

        publisher.close()
        second.close()
        let after = try #require(try SharedObjectRegistry.inspect(named: name).topic)
        #expect(after.publishers.first?.state == .closed)
        #expect(after.publishers.first?.isAlive == false)
        #expect(after.publishers.first?.nextSequence == 10)
        #expect(after.subscribers.map(\.slot) == [0])
        first.close()
    }

    @Test func byteTopicsAreInspectedToo() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var publisher = try ByteTopicPublisher(
            named: name, maximumMessageSize: 1000, configuration: TopicConfiguration(capacity: 8), mode: .create)
        let subscriber = try ByteTopicSubscriber(named: name)
        try publisher.publish([1, 2, 3])
        let info = try SharedObjectRegistry.inspect(named: name)
        #expect(try info.header.get().kind == .byteTopic)
        let topic = try #require(info.topic)
        #expect(topic.maximumMessageSize == 1000)
        #expect(topic.subscribers.map(\.lag) == [1])
        #expect(topic.publishers.map(\.nextSequence) == [1])
        subscriber.close()
        publisher.close()
    }

    /// A slot whose state word says active, with no process holding its lock, is reported dead;
    /// queue words another process scribbled over are clamped, never trusted.
    @Test func hostileWordsAreClampedAndLivenessComesFromTheLocks() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let configuration = TopicConfiguration(capacity: 8, maximumSubscribers: 4, maximumPublishers: 2)
        let publisher = try TopicPublisher<UInt32>(named: name, configuration: configuration, mode: .create)
        let subscriber = try TopicSubscriber<UInt32>(named: name)
        let geometry = try #require(
            TopicGeometry(kindParameters: publisher.segment.kindParameters, capacity: publisher.segment.capacity))
        let layout = try #require(geometry.layout(payloadBytes: publisher.segment.bytes.count))
        let base = publisher.segment.bytes.baseAddress!
        func store64(_ offset: Int, _ value: UInt64) {
            (base + offset).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.store(value, ordering: .relaxed)
        }
        func store32(_ offset: Int, _ value: UInt32) {
            (base + offset).assumingMemoryBound(to: Atomic<UInt32>.self).pointee.store(value, ordering: .relaxed)
        }
        // Subscriber slot 2: "active", but nobody holds it; its queue from publisher 1 claims a
        // depth far beyond the capacity and a huge drop count.
        store32(layout.subscriberRecords + 2 * layout.subscriberRecordSize + TopicGeometry.subscriberState, 1)
        let queue = layout.queues + (1 * geometry.subscribers + 2) * layout.queueSize
        store64(queue + TopicGeometry.queueTailRecord, 1 << 40)
        store64(queue + TopicGeometry.queueHead, 3)
        store64(queue + TopicGeometry.queueDropped, .max)
        // Subscriber 0's queue from publisher 0: a head beyond the tail.
        store64(layout.queues + TopicGeometry.queueHead, 1 << 50)
        // Subscriber slot 3: leaving (closed, holding samples), with nobody holding it.
        store32(layout.subscriberRecords + 3 * layout.subscriberRecordSize + TopicGeometry.subscriberState, 2)
        // Publisher slot 1: a state no publisher writes.
        store32(layout.publisherRecords + layout.publisherRecordSize + TopicGeometry.publisherState, 77)

        let topic = try #require(try SharedObjectRegistry.inspect(named: name).topic)
        #expect(topic.publishers.map(\.slot) == [0, 1])
        #expect(topic.publishers.map(\.state) == [.open, .invalid(77)])
        #expect(topic.publishers.map(\.isAlive) == [true, false])
        #expect(topic.subscribers.map(\.slot) == [0, 2, 3])
        #expect(topic.subscribers.map(\.isAlive) == [true, false, false])
        #expect(topic.subscribers.map(\.state) == [.active, .active, .leaving])
        #expect(topic.subscribers.map(\.lag) == [0, 8, 0])
        #expect(topic.subscribers.map(\.missed) == [0, Int.max, 0])
        subscriber.close()
        publisher.close()
    }

    /// A topic's endpoints register as publishers and subscribers (not openers): that alone
    /// must keep `shm clean --unused` away from it.
    @Test func aTopicWithLiveEndpointsIsInUse() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let publisher = try TopicPublisher<UInt16>(
            named: name, configuration: TopicConfiguration(capacity: 2), mode: .create)
        let subscriber = try TopicSubscriber<UInt16>(named: name)
        var info = try SharedObjectRegistry.inspect(named: name)
        #expect(info.isInUse)
        #expect(SharedObjectRegistry.staleness(of: info, scope: .unused) == nil)
        publisher.close()
        info = try SharedObjectRegistry.inspect(named: name)
        #expect(info.isInUse)
        subscriber.close()
        info = try SharedObjectRegistry.inspect(named: name)
        #expect(!info.isInUse)
        #expect(SharedObjectRegistry.staleness(of: info, scope: .unused) == .unused)
        #expect(info.topic?.publishers.map(\.state) == [.closed])
        #expect(info.topic?.subscribers.isEmpty == true)
    }

    @Test func heldBytesFindsEveryLockInARange() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let configuration = TopicConfiguration(capacity: 2, maximumSubscribers: 64)
        let publisher = try TopicPublisher<UInt8>(named: name, configuration: configuration, mode: .create)
        let s0 = try TopicSubscriber<UInt8>(named: name)
        let s1 = try TopicSubscriber<UInt8>(named: name)
        let s2 = try TopicSubscriber<UInt8>(named: name)
        let s3 = try TopicSubscriber<UInt8>(named: name)
        let s4 = try TopicSubscriber<UInt8>(named: name)
        let s5 = try TopicSubscriber<UInt8>(named: name)
        // Leave holes: slots 1 and 4 free.
        s1.close()
        s4.close()
        let fd = open(backingPath(name), O_RDONLY)
        defer { close(fd) }
        let held = TopicView.heldBytes(fd, start: TopicSegment.subscriberLock(0), count: 64)
        #expect(held == [0, 2, 3, 5])
        #expect(TopicView.heldBytes(fd, start: TopicSegment.publisherLock(0), count: 1) == [0])
        // The query budget spent: what is left counts as held.
        #expect(TopicView.heldBytes(fd, start: TopicSegment.subscriberLock(0), count: 64, limit: 1).count > 1)
        s0.close()
        s2.close()
        s3.close()
        s5.close()
        publisher.close()
    }
}
