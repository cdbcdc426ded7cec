extension ChannelReceiver {
    /// Receives a message, suspending (never blocking a cooperative thread) until one arrives.
    ///
    /// Cancelling the task ends the wait at once with ``ChannelError/cancelled``; no message was
    /// taken then (one that arrives afterwards stays for the next receive).
    ///
    /// - Returns: the message.
    /// - Throws: ``ChannelError/closed`` or ``ChannelError/senderDied`` once the channel is
    ///   drained and no sender can send again (never `senderDied` with
    ///   ``SenderDeathPolicy/awaitSuccessor``); ``ChannelError/cancelled`` if the task is
    ///   cancelled first.
    public mutating func receive() async throws(ChannelError) -> Element {
        while true {
            if let element = try tryReceive() { return element }
            if Task.isCancelled { throw .cancelled }
            let ring = self.ring
            let head = self.head
            let outcome = await ChannelControl.waitAsync(on: ring.control.notEmpty, strategy: waitStrategy) {
                ring.hasMessage(forConsumerAt: head) || ring.isClosedAndDrained(forConsumerAt: head)
            }
            // No deadline: the wait ends ready, cancelled (which reads as ready) or at a slice's end.
            _ = try outcome.retries { () throws(ChannelError) in try throwIfSendersDied() }
        }
    }

    /// The messages of this receiver as an asynchronous sequence, which ends when the channel is
    /// closed and drained and throws ``ChannelError/senderDied`` if the senders died.
    ///
    /// ```swift
    /// for try await job in receiver.messages() { handle(job) }
    /// ```
    ///
    /// The sequence owns the receiving role from then on; it is iterated by one task at a time
    /// (see ``ChannelMessages``).
    public consuming func messages() -> ChannelMessages<Element> {
        ChannelMessages(receiver: self)
    }
}
