import Synchronization

extension ChannelControl {
    /// Waits like ``wait(on:strategy:deadline:_:)`` without blocking the calling task's thread:
    /// polls briefly in place (the adaptive spin), then sleeps on an offload thread.
    ///
    /// Cancelling the task wakes the offload thread at once (a spurious wake-up for other
    /// sleepers on the same word, which they tolerate); the caller then sees
    /// `Task.isCancelled`.
    func waitAsync(on words: WakeWords, strategy: WaitStrategy, _ ready: @escaping @Sendable () -> Bool) async -> WaitOutcome {
        // Spin in place first: while traffic flows this is as fast as the synchronous path and
        // no thread hop happens. The spin is bounded by the adaptive budget even for `.spin`,
        // because spinning on a cooperative thread starves other tasks.
        let spinEnd = Deadline.after(strategy == .block ? .zero : ChannelControl.adaptiveSpin)
        var iterations = 0
        while !spinEnd.hasPassed || iterations < 64 {
            if ready() { return .ready }
            CPU.relax()
            iterations &+= 1
            if iterations & 63 == 0 && spinEnd.hasPassed { break }
        }
        let cancelled = CancellationFlag()
        let control = self
        let outcome = await withTaskCancellationHandler {
            await BlockingOffload.run {
                control.wait(on: words, strategy: .block, deadline: .after(ChannelControl.livenessInterval)) {
                    ready() || cancelled.isSet
                }
            }
        } onCancel: {
            cancelled.set()
            words.wakeAll()
        }
        // The offload wait's only deadline is the liveness slice, so its `.timedOut` means the
        // slice ended: for our callers, which have no deadline, the time to check for dead peers
        // (an async side whose peers died learns of it only there).
        return outcome == .timedOut ? .checkLiveness : outcome
    }

    /// A flag set once by a cancellation handler.
    final class CancellationFlag: Sendable {
        private let value = Atomic<Bool>(false)
        // Relaxed: the flag carries no data; the releasing sequence bump of the `wakeAll` that
        // follows `set` orders it before the woken waiter's next look.
        func set() { value.store(true, ordering: .relaxed) }
        var isSet: Bool { value.load(ordering: .relaxed) }
    }
}

extension ChannelReceiver {
    /// Receives a message, suspending (never blocking a cooperative thread) until one arrives.
    ///
    /// - Returns: the message.
    /// - Throws: ``ChannelError/closed`` or ``ChannelError/senderDied`` once the channel is
    ///   drained and no sender can send again (never `senderDied` with
    ///   ``SenderDeathPolicy/awaitSuccessor``); `CancellationError` if the task is cancelled.
    public mutating func receive() async throws -> Element {
        while true {
            if let element = try tryReceive() { return element }
            try Task.checkCancellation()
            let ring = self.ring
            let head = self.head
            let outcome = await ring.control.waitAsync(on: ring.control.notEmpty, strategy: waitStrategy) {
                ring.hasMessage(forConsumerAt: head) || ring.isClosedAndDrained(forConsumerAt: head)
            }
            if outcome == .checkLiveness { try throwIfSendersDied() }
        }
    }

    /// The messages of this receiver as an asynchronous sequence, which ends when the channel is
    /// closed and drained and throws ``ChannelError/senderDied`` if the senders died.
    ///
    /// ```swift
    /// for try await job in receiver.messages() { handle(job) }
    /// ```
    public consuming func messages() -> ChannelMessages<Element> {
        ChannelMessages(receiver: self)
    }
}

extension ChannelSender {
    /// Sends `element`, suspending (never blocking a cooperative thread) while the channel is
    /// full.
    ///
    /// - Throws: ``ChannelError/receiverDied`` or ``ChannelError/receiversClosed`` if the
    ///   channel is full and every receiver died or closed; `CancellationError` if the task is
    ///   cancelled (the element was then not sent).
    public mutating func send(_ element: Element) async throws {
        while true {
            if try trySend(element) { return }
            try Task.checkCancellation()
            let ring = self.ring
            let tail = self.tail
            let outcome = await ring.control.waitAsync(on: ring.control.notFull, strategy: waitStrategy) {
                ring.hasSpace(forProducerAt: tail) || ring.control.receiversHaveClosed
            }
            if outcome == .checkLiveness { try ring.segment.throwIfDamaged() }
            if outcome == .checkLiveness && ring.receiversDied() { throw ChannelError.receiverDied }
        }
    }
}

/// The messages of a ``ChannelReceiver`` as an `AsyncSequence`.
///
/// Made by ``ChannelReceiver/messages()``, which consumes the receiver: the sequence owns the
/// receiving role from then on, and iterating it is the only way to receive. Iterate it from
/// one task at a time.
public struct ChannelMessages<Element: BitwiseCopyable>: AsyncSequence, Sendable {
    final class Box: @unchecked Sendable {
        // @unchecked: used by one iterating task at a time, as documented.
        var receiver: ChannelReceiver<Element>
        var finished = false
        init(receiver: consuming ChannelReceiver<Element>) { self.receiver = receiver }
    }

    let box: Box

    init(receiver: consuming ChannelReceiver<Element>) { box = Box(receiver: receiver) }

    public func makeAsyncIterator() -> Iterator { Iterator(box: box) }

    /// The iterator of ``ChannelMessages``.
    public struct Iterator: AsyncIteratorProtocol {
        let box: Box

        /// The next message, or `nil` once the channel is closed and drained.
        /// - Throws: ``ChannelError/senderDied`` and the other errors of
        ///   ``ChannelReceiver/receive()``; `CancellationError`.
        public mutating func next() async throws -> Element? {
            guard !box.finished else { return nil }
            do {
                return try await box.receiver.receive()
            } catch ChannelError.closed {
                box.finished = true
                return nil
            }
        }
    }
}
