import Synchronization

/// The registration of one channel handle: its participant-table slot, its share of the open
/// sender/receiver counts, and (for single-producer/consumer roles) the role lock.
///
/// A class so that its `deinit` ends the participation when the owning `~Copyable` handle is
/// dropped without an explicit close.
final class ChannelParticipation: @unchecked Sendable {
    // The role locks are write locks on bytes of the header's reserved area (see ObjectLocks):
    // the kernel guarantees one holder and releases it when the holder dies, and only a
    // descriptor opened for writing can take one.

    let segment: SharedMemory
    let control: ChannelControl
    let role: ParticipantRole
    let registration: ParticipantRegistration
    let roleByte: Int64?
    private let ended = Atomic<Bool>(false)

    init(segment: SharedMemory, control: ChannelControl, role: ParticipantRole, topology: ChannelTopology)
        throws(ChannelError)
    {
        var roleByte: Int64? = nil
        if topology == .singleProducerSingleConsumer {
            let byte = role == .sender ? ObjectLocks.senderRoleByte : ObjectLocks.receiverRoleByte
            let attempt: ObjectLocks.Attempt
            do { attempt = try segment.tryLockByte(byte) } catch { throw .segment(error) }
            switch attempt {
            case .taken: roleByte = byte
            case .heldByWriter: throw .roleTaken(role)
            case .blockedByReader: throw .segment(.lockInterference(name: segment.displayName))
            }
        }
        let registration: ParticipantRegistration
        do { registration = try segment.register(as: role) } catch {
            if let roleByte { segment.unlockByte(roleByte) }
            throw .segment(error)
        }
        self.segment = segment
        self.control = control
        self.role = role
        self.registration = registration
        self.roleByte = roleByte
        let count = role == .sender ? control.openSenders : control.openReceivers
        // Read before looking for live peers (see `recordAbandonedClaims`). Relaxed: ordered by
        // the system calls of the liveness scan that follows.
        let claimsEnd = control.producerIndex.pointee.load(ordering: .relaxed)
        // Sequentially consistent, like every access to the counts and the close marks here and
        // in `end`: the marks' protocol (`receiversHaveClosed`: an opener counts itself before it
        // clears the mark, a closer uncounts itself before it sets it) needs all of them in one
        // total order, which acquire/release alone does not give between different words.
        let before = count.pointee.load(ordering: .sequentiallyConsistent)
        let alone = ChannelPeers(segment: segment, control: control).counts(role).live <= 1
        // Taking over: when no other participant of our role is alive, every one the count
        // still holds died without closing. Counting ourselves as the only one (compare and
        // swap from the value read *before* the scan) lets our clean close be the last one, so
        // a successor's close closes the channel instead of leaving it "died" for good. Any
        // opener or closer that moved the count since we read it makes the exchange fail, and
        // we count ourselves on top instead: the count is never too low.
        let tookOver =
            alone && before != 0
            // Sequentially consistent: a change of a count (see `before`).
            && count.pointee.compareExchange(
                expected: before, desired: 1, successOrdering: .sequentiallyConsistent,
                failureOrdering: .sequentiallyConsistent
            ).exchanged
        // Sequentially consistent: a change of a count (see `before`).
        if !tookOver { count.pointee.wrappingAdd(1, ordering: .sequentiallyConsistent) }
        if role == .sender {
            // A new sender reopens a channel whose previous senders all closed. Sequentially
            // consistent, after counting ourselves: a close mark (see `before`).
            control.closed.pointee.store(0, ordering: .sequentiallyConsistent)
            // A claim below `claimsEnd` that is not published is a dead sender's: nobody alive
            // will ever publish it (receivers that await a successor skip it).
            if alone && topology == .multiProducerMultiConsumer { control.recordAbandonedClaims(below: claimsEnd) }
        } else {
            // Sequentially consistent, after counting ourselves: see `receiversHaveClosed`.
            control.receiversClosed.pointee.store(0, ordering: .sequentiallyConsistent)
        }
    }

    /// Ends the participation once: the last sender to close marks the channel closed and wakes
    /// every receiver; the last receiver to close marks the receivers closed and wakes every
    /// sender.
    func end() {
        // Relaxed exchange: only its atomicity matters (end runs once); the counts below order
        // themselves.
        guard !ended.exchange(true, ordering: .relaxed) else { return }
        if role == .sender {
            // Sequentially consistent: a change of a count (see `init`), before the mark.
            if control.openSenders.pointee.wrappingSubtract(1, ordering: .sequentiallyConsistent).newValue == 0 {
                // SYNC POINT: releasing (sequentially consistent); a receiver that reads
                // `closed == 1` with acquire sees every message published before it.
                control.closed.pointee.store(1, ordering: .sequentiallyConsistent)
                control.notEmpty.wakeAll()
            }
        } else {
            // Sequentially consistent: a change of a count (see `init`), before the mark.
            if control.openReceivers.pointee.wrappingSubtract(1, ordering: .sequentiallyConsistent).newValue == 0 {
                // SYNC POINT: releasing (sequentially consistent), after uncounting ourselves;
                // pairs with the acquiring load in `receiversHaveClosed`: a sender that reads 1
                // sees every slot we released, so it reports `receiversClosed` only for a ring
                // that is still full.
                control.receiversClosed.pointee.store(1, ordering: .sequentiallyConsistent)
            }
            control.notFull.wakeAll()
        }
        segment.deregister(registration)
        if let roleByte { segment.unlockByte(roleByte) }
    }

    deinit { end() }
}
