/// Liveness of a channel's senders and receivers, from the kernel's locks.
struct ChannelPeers {
    let segment: SharedMemory
    let control: ChannelControl

    /// Live registrations of `role` (this handle's own included), counted from their presence
    /// locks however many there are, and how many participants of the role are known to have
    /// died without closing.
    ///
    /// Two pieces of evidence of a death, and the larger wins. The open count
    /// (`openSenders`/`openReceivers`) rises after a registration takes its presence lock and
    /// falls before it releases it, so it exceeds the live count only by participants that died
    /// without closing (or while another is between those two steps, which the next liveness
    /// check sees through). It stops showing a death once a successor that opened alone took
    /// over the dead ones' share (see `ChannelParticipation`); the table's entries of dead
    /// participants still show it then, as long as the table had room for them.
    func counts(_ role: ParticipantRole) -> (live: Int, dead: Int) {
        let live = segment.liveRegistrations(of: role)
        // Relaxed: a snapshot for a diagnosis that is repeated every liveness interval.
        let open = Int((role == .sender ? control.openSenders : control.openReceivers).pointee.load(ordering: .relaxed))
        let deadInTable = segment.participants.lazy.filter { $0.role == role && !$0.isAlive }.count
        return (live, max(open - live, deadInTable, 0))
    }

    /// Whether participants of `role` opened the channel and none of them is alive, although
    /// not all of them closed it: they died.
    func allGone(_ role: ParticipantRole, live: Int) -> Bool {
        // Relaxed: as in `counts`.
        let open = (role == .sender ? control.openSenders : control.openReceivers).pointee.load(ordering: .relaxed)
        return live == 0 && open > 0
    }
}
