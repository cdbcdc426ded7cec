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

    /// What an opening may do with the object's bytes.
    ///
    /// A process that may only read an object's file (its mode gives this user read permission
    /// only, or the file system is mounted read-only) opens it ``readOnly``: the file is opened
    /// `O_RDONLY` and mapped `PROT_READ`, and its header is validated exactly as for any other
    /// open. Such an opening writes nothing, and so takes nothing that needs writing:
    /// - no presence lock and no participant-table entry (locks that stand for a user are write
    ///   locks, which the kernel grants only through a descriptor opened for writing; see
    ///   <doc:SecurityAndHostilePeers>). It is not counted or shown as a user, does not keep a
    ///   ``Lifetime/removedWithLastUser`` object alive, and does not stop a removal: the name
    ///   can be removed while it is open (its mapping stays valid, and shows the file it
    ///   mapped);
    /// - ``register(as:)`` and placing an object in the segment (``ProcessMutex/init(in:at:)``
    ///   and its siblings) throw ``SharedMemoryError/readOnly(name:)``;
    ///   ``withUnsafeMutableBytes(_:)`` must not be called (it stops the process rather than
    ///   let a write reach the read-only mapping); ``withUnsafeBytes(_:)`` reads as usual.
    ///
    /// Questions about other processes' locks (is the writer alive? how many users?) are
    /// queries, which work through a read-only descriptor.
    public enum Access: Sendable, Hashable {
        /// Read and write the object (the default of every opening).
        case readWrite
        /// Only read the object: opened `O_RDONLY`, mapped `PROT_READ`.
        case readOnly
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
