extension SharedMemory {
    /// How to open a named object.
    public enum OpenMode: Sendable, Hashable {
        /// Create a new object; fail with ``SharedMemoryError/alreadyExists(name:)`` if the
        /// name is taken.
        case create
        /// Open an existing object; fail with ``SharedMemoryError/notFound(name:)`` otherwise.
        case open
        /// Open the object if it exists, create it otherwise.
        case openOrCreate
    }

    /// How long a named object keeps its name.
    public enum Lifetime: Sendable, Hashable {
        /// Until someone removes it (``remove()``, ``remove(named:)``, `shm rm`), like a file.
        /// `shm clean` leaves it alone unless asked to include persistent objects.
        case persistent
        /// Until the last process using it releases it or exits. When every user was killed,
        /// the next process that opens the name, or `shm clean`, removes it first. Who counts
        /// as a user is decided by kernel locks, never by a header field (see
        /// <doc:SecurityAndHostilePeers>).
        case removedWithLastUser
    }

    /// Which owners of an existing object an open accepts.
    ///
    /// Opening an object another user owns lets that user read and rewrite everything kept in
    /// it and hold its locks forever, so by default only objects of the calling process's
    /// effective user are opened; any other owner is refused with
    /// ``SharedMemoryError/foreignOwner(name:ownerUserID:)``, and ``OpenMode/openOrCreate``
    /// never silently joins an object another user planted under the name.
    public struct OwnerPolicy: Sendable, Hashable {
        /// The accepted owners besides the current user; `nil` accepts every owner.
        let others: Set<UInt32>?

        /// Only the calling process's effective user (the default).
        public static let currentUser = OwnerPolicy(others: [])
        /// Every owner: for objects whose contents this process does not need to trust.
        public static let anyUser = OwnerPolicy(others: nil)
        /// The current user and the users `userIDs` (for example `[0]` to open objects a root
        /// service created for everyone).
        public static func trusting(userIDs: Set<UInt32>) -> OwnerPolicy { OwnerPolicy(others: userIDs) }

        /// Whether an object owned by `ownerUserID` may be opened.
        public func accepts(ownerUserID: UInt32) -> Bool {
            ownerUserID == FileSystem.effectiveUserID || others.map { $0.contains(ownerUserID) } ?? true
        }
    }
}
