/// What one side of a channel knows about the other side's participants.
struct ChannelPeers {
    let segment: SharedMemory
    let control: ChannelControl

    /// Live and dead participants of `role`.
    ///
    /// Live: the registrations of `role` whose presence locks are held (this handle's own
    /// included), counted from the kernel's locks, never from the participant table. The table
    /// shows at most 47 participants, and a registration finds no slot when the table is full
    /// or when a process that may only read the object read-locks the free slots; counting the
    /// table made such a live sender (or receiver) look dead, so a receiver reported
    /// `senderDied` while its sender was alive and silent. Dead: the handles that opened the
    /// channel and neither closed nor still hold their registration (killed), from the open
    /// count; a handle registers before it counts itself open and stops counting itself before
    /// it deregisters, so a handle opening or closing meanwhile never adds a dead one.
    func counts(_ role: ParticipantRole) -> (live: Int, dead: Int) {
        let live = segment.liveRegistrations(of: role)
        // Relaxed: a snapshot for a diagnosis that is repeated every liveness interval.
        let open = Int((role == .sender ? control.openSenders : control.openReceivers).pointee.load(ordering: .relaxed))
        return (live, max(0, open - live))
    }

    /// Whether participants of `role` opened the channel and none of them is alive, although
    /// not all of them closed it: they died.
    func allGone(_ role: ParticipantRole, live: Int) -> Bool {
        // Relaxed: a snapshot for a diagnosis that is repeated every liveness interval.
        let open = (role == .sender ? control.openSenders : control.openReceivers).pointee.load(ordering: .relaxed)
        return live == 0 && open > 0
    }
}
