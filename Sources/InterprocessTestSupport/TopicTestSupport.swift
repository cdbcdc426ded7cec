import Interprocess

/// A digest of the messages a topic subscriber received, in order: the peer's subscriber roles
/// report it, the multi-process tests compare it with the digest of what was published.
package struct TopicTestDigest: Equatable, CustomStringConvertible {
    /// An FNV-style fold over every (producer, sequence), order-sensitive.
    package private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325
    /// The messages folded in.
    package private(set) var count = 0

    package init() {}

    /// Folds in message `sequence` of `producer`.
    package mutating func add(producer: UInt64, sequence: UInt64) {
        for word in [producer, sequence] {
            value = (value ^ word) &* 0x0000_0100_0000_01B3
            value ^= value >> 29
        }
        count += 1
    }

    /// The digest of `producer`'s messages `sequences`, in order.
    package static func of(producer: UInt64, sequences: Range<UInt64>) -> TopicTestDigest {
        var digest = TopicTestDigest()
        for sequence in sequences { digest.add(producer: producer, sequence: sequence) }
        return digest
    }

    /// "COUNT HEX", as the peer reports it.
    package var description: String { "\(count) \(String(value, radix: 16))" }
}

/// The topic the hostile-neighbour test attacks, shared by the test (which creates it) and the
/// peer's scribbler (which computes where each part of it lies).
package enum HostileTopic {
    /// Small queues, two publisher slots (a second publisher can join after the attack), a
    /// history (the join path reads the history ring and the descriptors).
    package static func configuration(_ overflow: TopicConfiguration.OverflowPolicy) -> TopicConfiguration {
        TopicConfiguration(
            capacity: 16, maximumSubscribers: 4, maximumPublishers: 2, history: 4, overflow: overflow)
    }

    /// The parts of the topic's payload a scribbler can aim at, by name: payload byte ranges of
    /// a topic of `ChannelTestMessage`s of `configuration`.
    package static func regions(_ configuration: TopicConfiguration) -> [String: Range<Int>] {
        let geometry = TopicGeometry(
            configuration: configuration, maximumMessageSize: MemoryLayout<ChannelTestMessage>.size,
            alignment: MemoryLayout<ChannelTestMessage>.alignment)
        guard let layout = geometry.layout(payloadBytes: Int.max) else { return [:] }
        return [
            "control": 0..<layout.publisherRecords,
            "publisher-records": layout.publisherRecords..<layout.subscriberRecords,
            "subscriber-records": layout.subscriberRecords..<layout.queues,
            "queues": layout.queues..<layout.descriptors,
            "descriptors": layout.descriptors..<layout.chunks,
            // Publisher 0's first two cache lines: its state and its counters, among them the
            // history counts a joining subscriber reads twice while it pins a window (the
            // scribbler finds them by their values: see the `topic-scribble` role).
            "history-counts": layout.publisherRecords..<(layout.publisherRecords + 128),
            "everything": 0..<layout.payloadSize
        ]
    }
}
