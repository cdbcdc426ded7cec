/// The messages of a ``ChannelReceiver`` as an `AsyncSequence`.
///
/// Made by ``ChannelReceiver/messages()``, which consumes the receiver: the sequence owns the
/// receiving role from then on, and iterating it is the only way to receive.
///
/// ## One task at a time, checked by the compiler
/// The sequence and its iterator share one receiver, which is not safe to use from two tasks
/// at once. Neither type is `Sendable`: a sequence can be handed to another task only by giving
/// it away (a `sending` transfer, as into `Task { … }`), after which the compiler refuses any
/// use of it, or of a copy, in the task that gave it. So every copy and every iterator of one
/// sequence stay in one isolation domain, and their `next()` calls never overlap. The iterator
/// runs in its caller's isolation (``Iterator/next(isolation:)``), so iterating from an actor
/// sends nothing across a boundary.
///
/// ## Errors
/// The iteration throws ``ChannelError``: the errors of ``ChannelReceiver/receive()``, with
/// ``ChannelError/closed`` turned into the end of the sequence. Cancelling the iterating task
/// throws ``ChannelError/cancelled``; the sequence can be iterated again afterwards, and no
/// message is lost.
public struct ChannelMessages<Element: BitwiseCopyable>: AsyncSequence {
    public typealias Failure = ChannelError

    /// The receiver every copy of the sequence and every iterator share.
    final class Box {
        var receiver: ChannelReceiver<Element>
        /// Set once the channel is closed and drained: the sequence has ended.
        var finished = false
        init(receiver: consuming ChannelReceiver<Element>) { self.receiver = receiver }
    }

    let box: Box

    init(receiver: consuming ChannelReceiver<Element>) { box = Box(receiver: receiver) }

    public func makeAsyncIterator() -> Iterator { Iterator(box: box) }

    /// The iterator of ``ChannelMessages``; like the sequence, not `Sendable`.
    public struct Iterator: AsyncIteratorProtocol {
        public typealias Failure = ChannelError

        let box: Box

        /// The next message, or `nil` once the channel is closed and drained; runs in the
        /// caller's isolation.
        /// - Throws: ``ChannelError/senderDied`` and the other errors of
        ///   ``ChannelReceiver/receive()``, ``ChannelError/cancelled`` included.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(ChannelError) -> Element? {
            guard !box.finished else { return nil }
            do {
                return try await box.receiver.receive()
            } catch .closed {
                box.finished = true
                return nil
            }
        }

        /// The next message, or `nil` once the channel is closed and drained.
        /// - Throws: as ``next(isolation:)``.
        public mutating func next() async throws(ChannelError) -> Element? {
            try await next(isolation: nil)
        }
    }
}

@available(*, unavailable, message: "iterate a channel's messages from one task; see ChannelMessages")
extension ChannelMessages: Sendable {}

@available(*, unavailable, message: "iterate a channel's messages from one task; see ChannelMessages")
extension ChannelMessages.Iterator: Sendable {}
