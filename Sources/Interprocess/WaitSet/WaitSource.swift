/// What a wait set needs of one source, whatever its kind: the wake words its wakers use, a
/// readiness check, and optionally a time at which it fires and a liveness check.
///
/// Adding a kind of source is building one of these (see `WaitSet+Sources.swift`): every object
/// of the library that sleeps through `WaiterGatedWake` already has the words and the check its
/// own blocking wait uses, and its wakers need no change, because a wait set is only another
/// sleeper announced on the same words.
package struct WaitSource {
    /// The pairs whose wakers announce a change of this source; the wait set announces itself
    /// on each, re-checks, and sleeps on their words.
    package var wakes: [WaiterGatedWake]
    /// Whether the source is ready: 0 if not, else how many times it fired since the last
    /// report. A counted source (a notifier, an interval, an auto-reset event, a semaphore unit)
    /// consumes what it reports; a level one (a readable channel) reports 1 and stays ready
    /// until its owner acts on it. Called on the waiting thread only, never concurrently.
    package var check: () -> Int
    /// The next time the source fires by time alone (timers), or `nil`.
    package var nextDeadline: (() -> Deadline?)?
    /// Checked when a participant of `peerSegment` exits, when one registers or deregisters (its
    /// participant-table change word), once when the wait set first sleeps after a change of
    /// its sources, and on a slow schedule (see `WaitSet.Core`): `true` when a
    /// peer of the source died or its segment is damaged, so that its owner's next operation
    /// reports the error (the source is reported as fired, with a count of 1, and checked again
    /// every liveness interval while it stays so).
    package var peerGone: (() -> Bool)?
    /// The segment whose participants are the peers `peerGone` is about: the wait set watches
    /// their processes' exits. `nil` with a `peerGone`: checked on the slow schedule only.
    package var peerSegment: SharedMemory?
    /// What keeps the source's memory mapped while the wait set refers to it (a ring, a topic
    /// core, a segment), whatever happens to the user's handle.
    package var keepAlive: AnyObject?

    /// A source of `wakes`, ready when `check` says so.
    package init(
        wakes: [WaiterGatedWake], keepAlive: AnyObject?, check: @escaping () -> Int,
        nextDeadline: (() -> Deadline?)? = nil, peerGone: (() -> Bool)? = nil, peerSegment: SharedMemory? = nil
    ) {
        self.wakes = wakes
        self.keepAlive = keepAlive
        self.check = check
        self.nextDeadline = nextDeadline
        self.peerGone = peerGone
        self.peerSegment = peerSegment
    }

    /// A level-triggered source of one wake pair: ready (count 1) while `ready` holds.
    package static func level(
        _ wake: WaiterGatedWake, keepAlive: AnyObject?, peerGone: (() -> Bool)? = nil, peerSegment: SharedMemory? = nil,
        ready: @escaping () -> Bool
    ) -> WaitSource {
        WaitSource(
            wakes: [wake], keepAlive: keepAlive, check: { ready() ? 1 : 0 }, peerGone: peerGone,
            peerSegment: peerSegment)
    }
}
