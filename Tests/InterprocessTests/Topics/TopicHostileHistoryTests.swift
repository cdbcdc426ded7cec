import Synchronization
import Testing

@testable import Interprocess

/// A history entry whose descriptor says the message is shorter than the element.
///
/// The descriptor's length is a word any participant can write; a history copy of that many
/// bytes, loaded as a whole `Element`, would read past the copy (found by the fuzzer, input
/// `Fuzz/corpus/regression-crash-topic-history-length`).
/// A typed message is always one whole element: the copy takes the element's size, never the
/// descriptor's length.
@Suite struct TopicHostileHistoryTests {
    @Test func aShortHistoryMessageIsNeverReadAsAnElement() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var publisher = try TopicPublisher<UInt64>(
            named: name, configuration: TopicConfiguration(capacity: 4, history: 2), mode: .create)
        try publisher.publish(0x1122_3344_5566_7788)
        // The one chunk in the history: its descriptor's length becomes 1.
        let geometry = try #require(
            TopicGeometry(kindParameters: publisher.segment.kindParameters, capacity: publisher.segment.capacity))
        let layout = try #require(geometry.layout(payloadBytes: publisher.segment.bytes.count))
        let base = publisher.segment.bytes.baseAddress!
        let ring = base + layout.publisherRecords + TopicGeometry.historyRing
        let chunk = Int(ring.assumingMemoryBound(to: Atomic<UInt32>.self).pointee.load(ordering: .relaxed))
        let descriptor = base + layout.descriptors + chunk * TopicGeometry.descriptorSize
        (descriptor + TopicGeometry.descriptorLength).assumingMemoryBound(to: Atomic<UInt32>.self).pointee.store(
            1, ordering: .relaxed)

        var subscriber = try TopicSubscriber<UInt64>(named: name)
        // A typed message is one whole element whatever its descriptor says: the element
        // published, never a read past a shorter copy.
        #expect(try subscriber.tryReceive() == 0x1122_3344_5566_7788)
        subscriber.close()
        publisher.close()
    }
}
