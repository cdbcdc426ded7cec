import SystemPackage

/// What `shm ls` and `shm inspect` show of one object: its header, its file, and whether it
/// could be read.
public struct SharedObjectInfo: Sendable {
    /// The object's name.
    public let name: String
    /// The backing file's path.
    public let path: String
    /// The file's size in bytes.
    public let fileSize: Int
    /// The file's permission bits.
    public let permissions: FilePermissions
    /// The file owner's user id.
    public let ownerUserID: UInt32
    /// The object's header, or why it could not be read.
    public let header: Result<Header, SharedMemoryError>
    /// The processes registered with the object, live and dead (empty if the header is unreadable).
    public let participants: [Participant]
    /// The shared state of a channel (`nil` for other kinds or an unreadable header).
    public let channel: ChannelState?
    /// The shared state of a topic (`nil` for other kinds, an unreadable header, or a geometry
    /// the file does not hold).
    public let topic: TopicState?
    /// The shared state of a service (`nil` for other kinds, an unreadable header, or a
    /// geometry the file does not hold).
    public let service: ServiceState?
    /// The shared state of a blackboard (`nil` for other kinds, an unreadable header, or a layout
    /// the file does not hold).
    public internal(set) var blackboard: BlackboardState? = nil
    /// Live registrations of each role (openers, senders, receivers, publishers, subscribers), counted from the
    /// kernel's locks, so they include registrations the participant table had no slot for.
    /// Empty when the file could not be read.
    public let liveRegistrations: [ParticipantRole: Int]
    /// Whether any live process holds a lock on the object (a registration, a role, a table
    /// slot, a removal in progress): what `shm clean` checks before it removes anything.
    public let isInUse: Bool

    /// Whether all the participant table's slots are taken: further registrations still count
    /// as live (``liveRegistrations``) but are not listed by name.
    public var participantTableIsFull: Bool { participants.count >= ParticipantTable.slotCount }

    /// The participant table's slots, for tools that show how full it is.
    package static var participantTableSlots: Int { ParticipantTable.slotCount }
    /// The byte offset of an object's payload in its file (the header's size), for tools that
    /// tell other languages where to read.
    package static var payloadOffset: Int { SegmentHeader.size }

    /// The validated header fields of an object.
    public struct Header: Sendable {
        /// What the object is.
        public let kind: ObjectKind
        /// The header's layout version.
        public let layoutVersion: UInt32
        /// The layout version of the kind's payload (see ``ObjectKind/layoutVersion``).
        public let kindLayoutVersion: UInt32
        public let totalSize: Int
        public let payloadSize: Int
        public let capacity: Int
        public let elementType: ElementType
        public let creator: ProcessIdentity
        /// Whether the creating process is still running.
        public let creatorIsAlive: Bool
        /// Creation time, nanoseconds since the UNIX epoch.
        public let creationTimeNanoseconds: Int64
        /// The kind-specific parameters (for example an event's reset mode).
        public let kindParameters: [UInt32]
        /// How long the object's name lives.
        public let lifetime: SharedMemory.Lifetime
    }
}
