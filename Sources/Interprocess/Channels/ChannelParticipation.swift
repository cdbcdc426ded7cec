import Synchronization

/// The registration of one channel handle: its participant-table slot, its share of the open
/// sender/receiver counts, and (for single-producer/consumer roles) the role lock.
///
/// A class so that its `deinit` ends the participation when the owning `~Copyable` handle is
/// dropped without an explicit close.
final class ChannelParticipation: @unchecked Sendable {
    // The role locks are bytes of the header's reserved area (1024..<1088), locked with OFD
    // locks like the participant slots: the kernel guarantees one holder and releases it when
    // the holder dies.
    static let senderRoleByte = 1024
    static let receiverRoleByte = 1025

    let segment: SharedMemory
    let control: ChannelControl
    let role: ParticipantRole
    let registration: ParticipantRegistration
    let roleByte: Int?
    private let ended = Atomic<Bool>(false)

    init(segment: SharedMemory, control: ChannelControl, role: ParticipantRole, topology: ChannelTopology) throws(ChannelError) {
        var roleByte: Int? = nil
        if topology == .singleProducerSingleConsumer {
            let byte = role == .sender ? ChannelParticipation.senderRoleByte : ChannelParticipation.receiverRoleByte
            guard segment.tryLockByte(byte) else { throw .roleTaken(role) }
            roleByte = byte
        }
        let registration: ParticipantRegistration?
        do { registration = try segment.register(as: role) } catch {
            if let roleByte { segment.unlockByte(roleByte) }
            throw .segment(error)
        }
        guard let registration else {
            if let roleByte { segment.unlockByte(roleByte) }
            throw .tooManyParticipants
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
