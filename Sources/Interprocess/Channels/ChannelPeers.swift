/// Liveness of a channel's senders and receivers, from the kernel's locks.
struct ChannelPeers {
    let segment: SharedMemory
    let control: ChannelControl

    /// Live registrations of `role` (this handle's own included), counted from their presence
    /// locks however many there are, and the participants that opened without closing and are
    /// no longer alive: they died.
    ///
    /// The open count (`openSenders`/`openReceivers`) rises after a registration takes its
    /// presence lock and falls before it releases it, so it exceeds the live count only by
    /// participants that died without closing (or while another is between those two steps,
    /// which the next liveness check sees through).
    func counts(_ role: ParticipantRole) -> (live: Int, dead: Int) {
        let live = segment.liveRegistrations(of: role)
        // Relaxed: a snapshot for a diagnosis that is repeated every liveness interval.
        let open = Int((role == .sender ? control.openSenders : control.openReceivers).pointee.load(ordering: .relaxed))
        return (live, max(0, open - live))
    }

    /// Whether participants of `role` opened the channel and none of them is alive, although
    /// not all of them closed it: they died.
    func allGone(_ role: ParticipantRole, live: Int) -> Bool {
        // Relaxed: as in `counts`.
        let open = (role == .sender ? control.openSenders : control.openReceivers).pointee.load(ordering: .relaxed)
        return live == 0 && open > 0
    }
}
