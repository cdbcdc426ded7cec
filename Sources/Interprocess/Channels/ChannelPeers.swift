/// What one side of a channel knows about the other side's participants.
struct ChannelPeers {
    let segment: SharedMemory
    let control: ChannelControl

    /// Live and dead registrations of `role` in the participant table.
    func counts(_ role: ParticipantRole) -> (live: Int, dead: Int) {
        var live = 0, dead = 0
        for p in segment.participants where p.role == role {
            if p.isAlive { live += 1 } else { dead += 1 }
        }
        return (live, dead)
    }

    /// Whether participants of `role` opened the channel and none of them is alive, although
    /// not all of them closed it: they died.
    func allGone(_ role: ParticipantRole, live: Int) -> Bool {
        // Relaxed: a snapshot for a diagnosis that is repeated every liveness interval.
        let open = (role == .sender ? control.openSenders : control.openReceivers).pointee.load(ordering: .relaxed)
        return live == 0 && open > 0
    }
}
