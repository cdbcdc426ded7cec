extension ChannelControl.WaitOutcome {
    /// The end of every blocked channel operation's wait: whether to try the operation again.
    ///
    /// `.ready`: try again. At the end of a liveness slice, and at the deadline too, `checkPeers`
    /// runs first and throws what it finds (a dead peer, a damaged segment): a caller polling
    /// with timeouts shorter than the liveness interval only ever reaches its deadline, and must
    /// hear of a death all the same. Then a slice's end tries again and the deadline does not
    /// (the caller reports its timeout).
    @inline(__always)
    func retries(checkingPeers checkPeers: () throws(ChannelError) -> Void) throws(ChannelError) -> Bool {
        switch self {
        case .ready:
            return true
        case .timedOut:
            try checkPeers()
            return false
        case .checkLiveness:
            try checkPeers()
            return true
        }
    }
}
