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
        while let pending = try core.next() {
            let bytes = Array(UnsafeRawBufferPointer(start: pending.pointer, count: pending.length))
            if core.commit(pending) { return bytes }
        }
        if core.isClosedAndDrained() { throw .closed }
        return nil
    }

    /// Takes the next message, waiting at most `timeout` (`nil`: as long as it takes).
    /// - Returns: the message, or `nil` if the deadline passed first.
    public mutating func receive(timeout: Duration? = nil) throws(TopicError) -> [UInt8]? {
        if let bytes = try tryReceive() { return bytes }
        let deadline = Deadline(timeout: timeout)
        while true {
            guard try core.waitForMessage(strategy: waitStrategy, deadline: deadline) else { return nil }
            if let bytes = try tryReceive() { return bytes }
        }
    }

    /// Takes the next message in place, without copying it, waiting at most `timeout`.
    /// - Throws: ``TopicError/sampleLimitReached(maximum:)``, ``TopicError/closed``.
    public mutating func receiveSample(timeout: Duration? = nil) throws(TopicError) -> Sample? {
        var deadline: Deadline? = nil
        while true {
            if let (pending, copy) = try core.takeSample() {
                return Sample(core: core, pending: pending, history: copy)
            }
            if core.isClosedAndDrained() { throw .closed }
            if deadline == nil { deadline = Deadline(timeout: timeout) }
            guard try core.waitForMessage(strategy: waitStrategy, deadline: deadline!) else { return nil }
        }
    }

    /// Leaves the topic: publishers stop queueing to this subscriber at once; its slot is free
    /// once every sample it handed out is released too. Dropping the subscriber does the same.
    public consuming func close() {}

    deinit { core.leave() }

    /// A byte message read in place (see ``TopicSubscriber/Sample``).
    public struct Sample: ~Copyable, Sendable {
        let hold: SampleHold

        /// The message's size in bytes.
        public var count: Int { hold.pending.length }
        /// The messages the publisher dropped right before this one.
        public var missedBefore: Int { hold.pending.missedBefore }
        /// The publisher's sequence number of this message.
        public var sequence: UInt64 { hold.pending.sequence }
        /// The publisher slot it came from.
        public var publisher: Int { hold.pending.publisher }

        init(
            core: TopicSubscriberCore, pending: TopicSubscriberCore.Pending,
            history: TopicSubscriberCore.HistoryMessage?
        ) {
            hold = SampleHold(core: core, pending: pending, history: history)
        }

        /// Calls `body` with the message's bytes in place.
        public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
            try body(UnsafeRawBufferPointer(start: hold.address, count: count))
        }
    }
}
