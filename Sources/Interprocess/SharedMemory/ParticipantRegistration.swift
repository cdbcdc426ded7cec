/// A registration with an object, returned by ``SharedMemory/register(as:)``.
public struct ParticipantRegistration: Sendable, Hashable {
    /// The participant-table slot that shows it, or `nil` when the table was full: the
    /// registration counts for liveness all the same (see ``SharedObjectInfo/liveRegistrations``).
    public let slot: Int?
    /// The role registered.
    public let role: ParticipantRole
    /// The presence byte whose write lock is the registration (see `ObjectLocks`).
    let presenceByte: Int64
}
