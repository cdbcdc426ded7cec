extension ChannelSender {
    /// Sends `element`, suspending (never blocking a cooperative thread) while the channel is
    /// full.
    ///
    /// Cancelling the task ends the wait at once with ``ChannelError/cancelled``; the element was
    /// not sent then.
    ///
    /// - Throws: ``ChannelError/receiverDied`` or ``ChannelError/receiversClosed`` if the
    ///   channel is full and every receiver died or closed; ``ChannelError/cancelled`` if the
    ///   task is cancelled first.
    public mutating func send(_ element: Element) async throws(ChannelError) {
        while true {
            if try trySend(element) { return }
            if Task.isCancelled { throw .cancelled }
            let ring = self.ring
            let tail = self.tail
            let outcome = await ChannelControl.waitAsync(on: ring.control.notFull, strategy: waitStrategy) {
                ring.hasSpace(forProducerAt: tail) || ring.control.receiversHaveClosed
            }
            // No deadline: the wait ends ready, cancelled (which reads as ready) or at a slice's end.
            _ = try outcome.retries { () throws(ChannelError) in try throwIfReceiversDied() }
        }
    }
}
