/// One entry of an object's participant table.
public struct Participant: Sendable, Hashable {
    /// The slot in the table.
    public let slot: Int
    /// What the participant registered as.
    public let role: ParticipantRole
    /// The participant's process.
    public let process: ProcessIdentity
    /// When it registered (nanoseconds since the UNIX epoch; display only).
    public let registeredAtNanoseconds: Int64
    /// Whether the participant is still registered by a live process.
    public let isAlive: Bool
}
