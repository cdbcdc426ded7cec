import SystemPackage

/// The receiving side of a publish-subscribe topic of byte messages (see ``TopicSubscriber``,
/// whose guarantees hold here too).
///
/// ```swift
/// var subscriber = try ByteTopicSubscriber(named: "frames")
/// if let frame = try subscriber.receive(timeout: .seconds(1)) { print(frame.count) }
/// ```
public struct ByteTopicSubscriber: ~Copyable, Sendable {
    let core: TopicSubscriberCore

    /// How a blocked receive waits for a message.
    public var waitStrategy: WaitStrategy

    /// The topic's configuration.
    public var configuration: TopicConfiguration { core.topic.geometry.configuration }
    /// The largest message, in bytes.
    public var maximumMessageSize: Int { core.topic.geometry.maximumMessageSize }
    /// The topic's segment.
    public var segment: SharedMemory { core.topic.segment }
    /// The messages publishers dropped before this subscriber took them, in total.
    public var missedMessages: Int { core.missedMessages }

    /// Opens (or creates) the byte topic `name` as a subscriber (the parameters as for
    /// ``ByteTopicPublisher/init(named:maximumMessageSize:configuration:mode:permissions:lifetime:owners:waitStrategy:timeout:)``).
    public init(
        named name: String, maximumMessageSize: Int? = nil, configuration: TopicConfiguration? = nil,
        mode: SharedMemory.OpenMode = .openOrCreate, permissions: FilePermissions = [.ownerRead, .ownerWrite],
        lifetime: SharedMemory.Lifetime = .persistent, owners: SharedMemory.OwnerPolicy = .currentUser,
        waitStrategy: WaitStrategy = .adaptive, timeout: Duration = .seconds(5)
    ) throws(TopicError) {
        let topic = try TopicSegment.openBytes(
            name: name, maximumMessageSize: maximumMessageSize, configuration: configuration, mode: mode,
            permissions: permissions, lifetime: lifetime, owners: owners, timeout: timeout)
        self.core = try TopicSubscriberCore(topic: topic)
        self.waitStrategy = waitStrategy
    }

    /// Takes the next message if one is ready, without waiting.
    /// - Throws: ``TopicError/closed`` once every publisher closed and everything was taken.
    public mutating func tryReceive() throws(TopicError) -> [UInt8]? {
        if let bytes = try core.take(
            asSample: false, { Array(UnsafeRawBufferPointer(start: $0.pointer, count: $0.length)) })
        {
            return bytes
        }
        if core.isClosedAndDrained() { throw .closed }
        return nil
    }

    /// Takes the next message, waiting at most `timeout` (`nil`: as long as it takes).
    /// - Returns: the message, or `nil` if the deadline passed first.
    public mutating func receive(timeout: Duration? = nil) throws(TopicError) -> [UInt8]? {
        let deadline = Deadline(timeout: timeout)
        while true {
            if let bytes = try tryReceive() { return bytes }
            guard try core.waitForMessage(strategy: waitStrategy, deadline: deadline) else { return nil }
        }
    }

    /// Takes the next message in place, without copying it, waiting at most `timeout`.
    /// - Throws: ``TopicError/sampleLimitReached(maximum:)``, ``TopicError/closed``.
    public mutating func receiveSample(timeout: Duration? = nil) throws(TopicError) -> Sample? {
        let deadline = Deadline(timeout: timeout)
        while true {
            if let sample = try core.take(asSample: true, { Sample(core: core, taken: $0) }) { return sample }
            if core.isClosedAndDrained() { throw .closed }
            guard try core.waitForMessage(strategy: waitStrategy, deadline: deadline) else { return nil }
        }
    }

    /// Leaves the topic: publishers stop queueing to this subscriber at once; its slot is free
    /// once every sample it handed out is released too. Dropping the subscriber does the same.
    public consuming func close() {}

    deinit { core.leave() }

    /// A byte message read in place (see ``TopicSubscriber/Sample``).
    // @unchecked: the address is into the topic's mapping (or a history copy), which `core` (or
    // `history`) keeps alive; nobody writes there while the sample holds it.
    public struct Sample: ~Copyable, @unchecked Sendable {
        let core: TopicSubscriberCore
        let hazard: Int
        let address: UnsafeRawPointer
        let history: TopicSubscriberCore.HistoryMessage?
        /// The message's size in bytes.
        public let count: Int
        /// The messages the publisher dropped right before this one.
        public let missedBefore: Int
        /// The publisher's sequence number of this message.
        public let sequence: UInt64
        /// The publisher slot it came from.
        public let publisher: Int

        init(core: TopicSubscriberCore, taken: TopicSubscriberCore.Taken) {
            self.core = core
            self.hazard = taken.hazard
            self.address = taken.pointer
            self.history = taken.history
            self.count = taken.length
            self.missedBefore = taken.missedBefore
            self.sequence = taken.sequence
            self.publisher = taken.publisher
        }

        /// Calls `body` with the message's bytes in place.
        public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
            try body(UnsafeRawBufferPointer(start: address, count: count))
        }

        deinit { if hazard >= 0 { core.releaseHazard(hazard) } }
    }
}
