import SystemPackage

/// The receiving side of a typed publish-subscribe topic: receives every message of every
/// publisher.
///
/// ```swift
/// var subscriber = try TopicSubscriber<Reading>(named: "sensors")
/// while let reading = try subscriber.receive(timeout: .seconds(1)) {
///     print(reading)
/// }
/// ```
///
/// A subscriber owns one of the topic's subscriber slots (``TopicConfiguration/maximumSubscribers``)
/// while it is open. When it joins it first receives each publisher's last
/// ``TopicConfiguration/history`` messages, then everything published after. Messages of one
/// publisher arrive in the order it published them; those of several publishers are interleaved.
///
/// With ``TopicConfiguration/OverflowPolicy/dropOldest`` a subscriber that falls behind loses its
/// oldest messages: ``missedMessages`` counts them exactly, and every ``Sample`` says how many
/// were lost right before it.
///
/// It is `~Copyable` because it owns its slot, and `Sendable`. A subscriber killed in any state
/// (holding samples, or while a publisher waits on its full queue) never holds a publisher back
/// once detected, and its slot is free for the next subscriber, which joins without any manual
/// step.
///
/// See <doc:PublishSubscribe>.
public struct TopicSubscriber<Element: BitwiseCopyable>: ~Copyable, Sendable {
    @usableFromInline let core: TopicSubscriberCore

    /// How a blocked receive waits for a message.
    public var waitStrategy: WaitStrategy

    /// The topic's configuration.
    public var configuration: TopicConfiguration { core.topic.geometry.configuration }
    /// The topic's segment.
    public var segment: SharedMemory { core.topic.segment }
    /// The messages publishers dropped from this subscriber's queue before it took them
    /// (``TopicConfiguration/OverflowPolicy/dropOldest`` only), in total since it joined.
    public var missedMessages: Int { core.missedMessages }

    /// Opens (or creates) the topic `name` as a subscriber.
    ///
    /// - Parameters:
    ///   - name: the topic's name.
    ///   - configuration: required to create; checked when opening (`nil` accepts the existing
    ///     topic's).
    ///   - mode: create, open, or either.
    ///   - permissions: the file mode of a new topic (default `0600`).
    ///   - lifetime: how long a new topic's name lives (default ``SharedMemory/Lifetime/persistent``).
    ///   - owners: the owners of an existing topic this open accepts (default: only the current
    ///     user).
    ///   - waitStrategy: how blocked receives wait (default ``WaitStrategy/adaptive``).
    ///   - timeout: how long to wait for a topic another process is still initialising.
    /// - Throws: ``TopicError``; ``TopicError/endpointLimitReached(_:maximum:)`` when every
    ///   subscriber slot has a live subscriber.
    public init(
        named name: String, configuration: TopicConfiguration? = nil, mode: SharedMemory.OpenMode = .openOrCreate,
        permissions: FilePermissions = [.ownerRead, .ownerWrite], lifetime: SharedMemory.Lifetime = .persistent,
        owners: SharedMemory.OwnerPolicy = .currentUser, waitStrategy: WaitStrategy = .adaptive,
        timeout: Duration = .seconds(5)
    ) throws(TopicError) {
        let topic = try TopicSegment.openTyped(
            Element.self, name: name, configuration: configuration, mode: mode, permissions: permissions,
            lifetime: lifetime, owners: owners, timeout: timeout)
        self.core = try TopicSubscriberCore(topic: topic)
        self.waitStrategy = waitStrategy
    }

    // MARK: - Receiving

    /// Takes the next message if one is ready, without waiting.
    /// - Throws: ``TopicError/closed`` once every publisher closed and everything was taken.
    @inlinable
    public mutating func tryReceive() throws(TopicError) -> Element? {
        // Inlinable so the copy specialises for `Element` in the caller.
        while let address = try core.peek() {
            let element = address.loadUnaligned(as: Element.self)
            if core.commitPeeked() { return element }
        }
        if core.isClosedAndDrained() { throw .closed }
        return nil
    }

    /// Takes the next message, waiting at most `timeout` (`nil`: as long as it takes).
    /// - Returns: the message, or `nil` if the deadline passed first.
    /// - Throws: ``TopicError/closed``, ``TopicError/publisherDied``.
    @inlinable
    public mutating func receive(timeout: Duration? = nil) throws(TopicError) -> Element? {
        if let element = try tryReceive() { return element }
        // The clock is read only once a wait is needed.
        let deadline = Deadline(timeout: timeout)
        while true {
            guard try core.waitForMessage(strategy: waitStrategy, deadline: deadline) else { return nil }
            if let element = try tryReceive() { return element }
        }
    }

    /// Takes the messages that are ready, up to `buffer.count`, waiting at most `timeout` for the
    /// first.
    /// - Returns: how many were stored at the start of `buffer` (0: the deadline passed).
    @inlinable
    public mutating func receive(into buffer: UnsafeMutableBufferPointer<Element>, timeout: Duration? = nil)
        throws(TopicError) -> Int
    {
        guard !buffer.isEmpty else { return 0 }
        var deadline: Deadline? = nil
        while true {
            var count = 0
            while count < buffer.count, let address = try core.peek() {
                let element = address.loadUnaligned(as: Element.self)
                if core.commitPeeked() {
                    buffer[count] = element
                    count += 1
                }
            }
            if count > 0 { return count }
            if core.isClosedAndDrained() { throw .closed }
            if deadline == nil { deadline = Deadline(timeout: timeout) }
            guard try core.waitForMessage(strategy: waitStrategy, deadline: deadline!) else { return 0 }
        }
    }

    /// Takes the next message in place, without copying it, if one is ready.
    /// - Throws: ``TopicError/sampleLimitReached(maximum:)`` when
    ///   ``TopicConfiguration/maximumHeldSamples`` samples are held; ``TopicError/closed``.
    public mutating func tryReceiveSample() throws(TopicError) -> Sample? {
        if let (pending, copy) = try core.takeSample() { return Sample(core: core, pending: pending, history: copy) }
        if core.isClosedAndDrained() { throw .closed }
        return nil
    }

    /// Takes the next message in place, without copying it, waiting at most `timeout`.
    /// - Returns: the sample, or `nil` if the deadline passed first.
    public mutating func receiveSample(timeout: Duration? = nil) throws(TopicError) -> Sample? {
        if let sample = try tryReceiveSample() { return sample }
        let deadline = Deadline(timeout: timeout)
        while true {
            guard try core.waitForMessage(strategy: waitStrategy, deadline: deadline) else { return nil }
            if let sample = try tryReceiveSample() { return sample }
        }
    }

    /// Leaves the topic: publishers stop queueing to this subscriber at once; its slot is free
    /// once every sample it handed out is released too. Dropping the subscriber does the same.
    public consuming func close() {}

    deinit { core.leave() }
}

extension TopicSubscriber {
    /// A message read in place in shared memory: its slot stays the subscriber's until the
    /// sample is dropped, whatever the publishers do (with ``TopicConfiguration/OverflowPolicy/dropOldest``
    /// too).
    ///
    /// A subscriber holds at most ``TopicConfiguration/maximumHeldSamples`` at once; a sample
    /// keeps the subscription alive after its subscriber is closed, until it is dropped.
    public struct Sample: ~Copyable, Sendable {
        let hold: SampleHold

        /// The messages the publisher dropped right before this one (0 unless the topic drops).
        public var missedBefore: Int { hold.pending.missedBefore }
        /// The publisher's sequence number of this message (consecutive for one publisher slot).
        public var sequence: UInt64 { hold.pending.sequence }
        /// The publisher slot it came from.
        public var publisher: Int { hold.pending.publisher }

        init(
            core: TopicSubscriberCore, pending: TopicSubscriberCore.Pending,
            history: TopicSubscriberCore.HistoryMessage?
        ) {
            hold = SampleHold(core: core, pending: pending, history: history)
        }

        /// The message (a copy of it).
        public var value: Element { hold.address.loadUnaligned(as: Element.self) }

        /// Calls `body` with the message in place.
        public func withUnsafePointer<R, E: Error>(_ body: (UnsafePointer<Element>) throws(E) -> R) throws(E) -> R {
            try body(hold.address.assumingMemoryBound(to: Element.self))
        }
    }
}
