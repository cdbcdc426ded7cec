extension TopicSubscriberCore {
    /// Waits for a message without blocking a cooperative thread (the sleep runs on an offload
    /// thread, after a short spin in place).
    /// - Throws: ``TopicError/cancelled``, and the errors of ``throwIfPublishersGone()`` at each
    ///   liveness interval.
    func waitForMessageAsync(strategy: WaitStrategy) async throws(TopicError) {
        if Task.isCancelled { throw .cancelled }
        let outcome = await ChannelControl.waitAsync(on: notEmpty, strategy: strategy) {
            self.hasMessage() || self.isClosedAndDrained()
        }
        if outcome != .ready { try throwIfPublishersGone() }
    }
}

extension TopicSubscriber {
    /// Takes the next message, suspending (never blocking a cooperative thread) until one comes.
    /// - Throws: ``TopicError/closed``, ``TopicError/publisherDied``, ``TopicError/cancelled``
    ///   (nothing was taken).
    public mutating func receive() async throws(TopicError) -> Element {
        while true {
            if let element = try tryReceive() { return element }
            try await core.waitForMessageAsync(strategy: waitStrategy)
        }
    }

    /// The messages as an `AsyncSequence` that ends when the topic is closed and drained; it owns
    /// the subscriber from then on.
    public consuming func messages() -> TopicMessages<Element> { TopicMessages(subscriber: self) }
}

extension ByteTopicSubscriber {
    /// Takes the next message, suspending (never blocking a cooperative thread) until one comes.
    /// - Throws: ``TopicError/closed``, ``TopicError/publisherDied``, ``TopicError/cancelled``.
    public mutating func receive() async throws(TopicError) -> [UInt8] {
        while true {
            if let bytes = try tryReceive() { return bytes }
            try await core.waitForMessageAsync(strategy: waitStrategy)
        }
    }
}

extension TopicPublisherCore {
    /// Waits for room without blocking a cooperative thread.
    func waitForSpaceAsync(strategy: WaitStrategy) async throws(TopicError) {
        guard overflow == .block else { return }
        if !hasSpace() { checkFullConnections() }
        while !hasSpace() {
            if Task.isCancelled { throw .cancelled }
            let outcome = await ChannelControl.waitAsync(on: space, strategy: strategy) { self.hasSpace() }
            if outcome != .ready {
                do { try topic.segment.checkIntact() } catch { throw .segment(error) }
                checkFullConnections()
            }
        }
    }
}

extension TopicPublisher {
    /// Publishes `element`, suspending (never blocking a cooperative thread) while a live
    /// subscriber's queue is full.
    /// - Throws: ``TopicError/cancelled`` (nothing was published).
    public mutating func publish(_ element: Element) async throws(TopicError) {
        try await core.waitForSpaceAsync(strategy: waitStrategy)
        _ = try tryPublish(element)
    }
}

/// The messages of a ``TopicSubscriber`` as an `AsyncSequence`.
///
/// Made by ``TopicSubscriber/messages()``, which consumes the subscriber. Like
/// ``ChannelMessages``, neither the sequence nor its iterator is `Sendable`: every copy stays in
/// one isolation domain, so `next()` calls never overlap. ``TopicError/closed`` ends the
/// sequence; the other errors of ``TopicSubscriber/receive()`` are thrown, cancellation as
/// ``TopicError/cancelled`` (the sequence can be iterated again, and no message is lost).
public struct TopicMessages<Element: BitwiseCopyable>: AsyncSequence {
    public typealias Failure = TopicError

    final class Box {
        var subscriber: TopicSubscriber<Element>
        var finished = false
        init(subscriber: consuming TopicSubscriber<Element>) { self.subscriber = subscriber }
    }

    let box: Box

    init(subscriber: consuming TopicSubscriber<Element>) { box = Box(subscriber: subscriber) }

    public func makeAsyncIterator() -> Iterator { Iterator(box: box) }

    /// The iterator of ``TopicMessages``; like the sequence, not `Sendable`.
    public struct Iterator: AsyncIteratorProtocol {
        public typealias Failure = TopicError

        let box: Box

        /// The next message, or `nil` once the topic is closed and drained; runs in the caller's
        /// isolation.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(TopicError) -> Element? {
            guard !box.finished else { return nil }
            do {
                return try await box.subscriber.receive()
            } catch .closed {
                box.finished = true
                return nil
            }
        }

        /// The next message, or `nil` once the topic is closed and drained.
        public mutating func next() async throws(TopicError) -> Element? { try await next(isolation: nil) }
    }
}

@available(*, unavailable, message: "iterate a topic's messages from one task; see TopicMessages")
extension TopicMessages: Sendable {}

@available(*, unavailable, message: "iterate a topic's messages from one task; see TopicMessages")
extension TopicMessages.Iterator: Sendable {}
