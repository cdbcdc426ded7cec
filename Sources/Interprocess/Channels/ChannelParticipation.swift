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

    init(segment: SharedMemory, control: ChannelControl, role: ParticipantRole, topology: ChannelTopology) throws(ChannelError) {
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
        if role == .sender {
            control.openSenders.pointee.wrappingAdd(1, ordering: .sequentiallyConsistent)
            // A new sender reopens a channel whose previous senders all closed.
            control.closed.pointee.store(0, ordering: .sequentiallyConsistent)
        } else {
            control.openReceivers.pointee.wrappingAdd(1, ordering: .sequentiallyConsistent)
        }
    }

    /// Ends the participation once: the last sender to close marks the channel closed and wakes
    /// every receiver.
    func end() {
        // Relaxed exchange: only its atomicity matters (end runs once).
        guard !ended.exchange(true, ordering: .relaxed) else { return }
        if role == .sender {
            if control.openSenders.pointee.wrappingSubtract(1, ordering: .sequentiallyConsistent).newValue == 0 {
                // SYNC POINT: releasing (sequentially consistent); a receiver that reads
                // `closed == 1` with acquire sees every message published before it.
                control.closed.pointee.store(1, ordering: .sequentiallyConsistent)
                control.notEmpty.wakeAll()
            }
        } else {
            control.openReceivers.pointee.wrappingSubtract(1, ordering: .sequentiallyConsistent)
            control.notFull.wakeAll()
        }
        segment.deregister(registration)
        if let roleByte { segment.unlockByte(roleByte) }
    }

    deinit { end() }
}
