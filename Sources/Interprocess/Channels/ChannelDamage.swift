extension SharedMemory {
    /// Throws `ChannelError.segment(.damaged(name:))` if the channel's segment lost pages.
    ///
    /// Called at the liveness checkpoints of blocked sends and receives, before the peers are
    /// consulted: a damaged segment reads as zeros, which look like a channel nobody ever
    /// opened, so without this check a blocked call would wait on them forever.
    func throwIfDamaged() throws(ChannelError) {
        do { try checkIntact() } catch { throw .segment(error) }
    }
}
