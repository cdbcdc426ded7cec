import SystemPackage

/// Why a shared-memory object could not be created, opened, validated or removed.
///
/// Every case names the object and says what a user can do about it. Header problems and
/// mismatches with what was asked for are nested (``HeaderProblem``, ``Mismatch``), so a caller
/// can catch them as a group (`catch SharedMemoryError.invalidHeader`). Every `description`
/// (of this and of the library's other errors) is one lowercase sentence without a final
/// period that starts with the object's name when there is one, so it reads well after
/// "error: " or inside another message. Nothing
/// that comes from another process (a header, a size) can make Interprocess crash: it ends up
/// here instead.
public enum SharedMemoryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The name is not acceptable (see ``SegmentName``).
    case invalidName(String, reason: String)
    /// A size or count is out of range (zero, negative or too large).
    case invalidSize(Int, reason: String)
    /// No object with this name exists.
    case notFound(name: String)
    /// `.create` was asked for, but an object with this name already exists.
    case alreadyExists(name: String)
    /// The object exists but this process may not open it (its mode or owner forbid it).
    case permissionDenied(name: String)
    /// The shared-memory file system cannot hold the requested size. Nothing was created.
    case insufficientSpace(name: String, requestedBytes: Int)
    /// The object's header cannot be trusted, so nothing in it was used (see ``HeaderProblem``).
    case invalidHeader(name: String, HeaderProblem)
    /// The object is valid but is not what the open asked for (see ``Mismatch``).
    case mismatch(name: String, Mismatch)
    /// The object's shared contents (a mutex's storage, an event's mode) hold a state that no
    /// Interprocess process writes: another writer overwrote them.
    case corruptContents(name: String, detail: String)
    /// The process that was creating the object died before finishing; remove it and create it
    /// again.
    case creatorDiedDuringInitialization(name: String, creator: ProcessIdentity)
    /// The object was still being initialised when the open deadline passed.
    case stillInitializing(name: String)
    /// An offset and size do not fit in the segment, or are misaligned, for the object to be
    /// placed there.
    case invalidPlacement(offset: Int, size: Int, reason: String)
    /// The name refers to something that is not a regular file — a symbolic link, a FIFO, a
    /// socket, a device or a directory — which Interprocess never follows, opens or maps. Remove
    /// it (`shm clean --include-damaged`) if it is not meant to be there.
    case notARegularFile(name: String, fileType: String)
    /// The object belongs to another user. Opening it would let that user read and rewrite
    /// what this process keeps there, or hold its locks; accept that owner explicitly with the
    /// `owners` option if it is trusted.
    case foreignOwner(name: String, ownerUserID: UInt32)
    /// The file has fewer bytes allocated than its length: touching a missing page could fail
    /// (a `SIGBUS` on a full file system) long after the open. Interprocess creates every object
    /// fully allocated, so this one was made by something else.
    case notFullyAllocated(name: String, allocatedBytes: Int, length: Int)
    /// The object was truncated or had pages removed while this process used it; the lost
    /// range now reads as zeros here and the object can no longer be trusted. Every handle
    /// on it reports this from then on; remove the object and create it again.
    case damaged(name: String)
    /// A descriptor offered for adoption is not sealed against shrinking, so whoever else holds
    /// it could truncate it under this process (see ``SharedMemory/anonymous(size:)``).
    case notSealed(name: String)
    /// This process already maps as many segments as the `SIGBUS` guard watches (`limit`); an
    /// unguarded mapping could kill the process if its file were truncated, so none was made.
    /// Release segments this process no longer uses.
    case mappingLimitReached(name: String, limit: Int)
    /// A message received on a socket did not carry exactly one descriptor of a sealed segment
    /// (no descriptor, several, or ancillary data cut short); every descriptor it carried was
    /// closed.
    case invalidDescriptorMessage(detail: String)
    /// A process that may only read the object holds locks on it that keep this process from
    /// registering or taking a role. Read-only users can deny these locks, never take or fake
    /// them; grant read access only to users you trust not to.
    case lockInterference(name: String)
    /// Another process held the object's removal lock for longer than the open's timeout; a
    /// process that holds it that long is stopped or hostile.
    case removalInProgress(name: String)
    /// The object is open ``SharedMemory/Access/readOnly``, and the operation would write to it
    /// or take a lock that needs write access (a registration, a role, an object placed in it).
    /// Open it ``SharedMemory/Access/readWrite`` (which needs write permission on its file) to
    /// do that.
    case readOnly(name: String)
    /// An unexpected system error; `operation` names the call that failed.
    case unexpected(Errno, operation: String)

    public var description: String {
        switch self {
        case let .invalidName(name, reason):
            "invalid name '\(name)': \(reason)"
        case let .invalidSize(size, reason):
            "invalid size \(size): \(reason)"
        case let .notFound(name):
            "no shared-memory object named '\(name)'"
        case let .alreadyExists(name):
            "a shared-memory object named '\(name)' already exists"
        case let .permissionDenied(name):
            "permission denied opening '\(name)'"
        case let .insufficientSpace(name, bytes):
            "not enough space in the shared-memory file system for '\(name)' (\(bytes) bytes)"
        case let .invalidHeader(name, problem):
            "'\(name)' \(problem)"
        case let .mismatch(name, mismatch):
            "'\(name)' \(mismatch)"
        case let .corruptContents(name, detail):
            "'\(name)' has corrupt contents: \(detail)"
        case let .creatorDiedDuringInitialization(name, creator):
            "the creator of '\(name)' (\(creator)) died while initialising it"
        case let .stillInitializing(name):
            "'\(name)' was still being initialised when the deadline passed"
        case let .invalidPlacement(offset, size, reason):
            "cannot place \(size) bytes at offset \(offset): \(reason)"
        case let .notARegularFile(name, type):
            "'\(name)' is a \(type), not a regular file; it was not opened"
        case let .foreignOwner(name, uid):
            "'\(name)' belongs to user \(uid), not to this user; accept that owner explicitly to open it"
        case let .notFullyAllocated(name, allocated, length):
            "'\(name)' has \(allocated) of its \(length) bytes allocated (a sparse file); it was not opened"
        case let .damaged(name):
            "'\(name)' was truncated or had pages removed while in use; it can no longer be trusted"
        case let .notSealed(name):
            "'\(name)' is not sealed against shrinking; it was not adopted"
        case let .mappingLimitReached(name, limit):
            "cannot map '\(name)': this process already maps \(limit) segments, the most the SIGBUS guard watches"
        case let .invalidDescriptorMessage(detail):
            "the message received does not carry exactly one segment descriptor: \(detail)"
        case let .lockInterference(name):
            "a process that may only read '\(name)' holds locks that block registration on it"
        case let .removalInProgress(name):
            "another process kept removing '\(name)' past the deadline"
        case let .readOnly(name):
            "'\(name)' is open read-only: nothing can be written to it, placed in it or registered with it"
        case let .unexpected(errno, operation):
            "\(operation) failed: \(errno) (errno \(errno.rawValue))"
        }
    }

    /// Why a header was refused.
    public enum HeaderProblem: Sendable, Equatable, CustomStringConvertible {
        /// The backing file is shorter than its header says (or than a header).
        case truncated(expectedBytes: Int, actualBytes: Int)
        /// The file does not start with the Interprocess magic number: it is not an
        /// Interprocess object, or it was overwritten.
        case badMagic
        /// The header was written in a layout version this build does not read.
        case unsupportedVersion(found: UInt32, supported: UInt32)
        /// The header records a layout version of the kind's payload this build does not read
        /// (say, a channel ring of a newer release); nothing of the payload was used.
        case unsupportedKindLayoutVersion(kind: ObjectKind, found: UInt32, supported: UInt32)
        /// The header's fields are inconsistent, or its checksum does not match.
        case corrupt(String)

        /// The problem, as the end of a sentence that starts with the object's name.
        public var description: String {
            switch self {
            case let .truncated(expected, actual): "is truncated: \(actual) bytes where \(expected) are expected"
            case .badMagic: "is not an Interprocess object (bad magic number)"
            case let .unsupportedVersion(found, supported):
                "has header layout version \(found); this build reads version \(supported)"
            case let .unsupportedKindLayoutVersion(kind, found, supported):
                "is a \(kind) of layout version \(found); this build reads \(kind) layout version \(supported)"
            case let .corrupt(detail): "has a corrupt header: \(detail)"
            }
        }
    }

    /// How a valid object differs from what an open asked for.
    public enum Mismatch: Sendable, Equatable, CustomStringConvertible {
        /// Another kind of object (say, a semaphore opened as an array).
        case kind(expected: ObjectKind, found: ObjectKind)
        /// Elements of another type.
        case elementType(expected: ElementType, found: ElementType)
        /// Another number of elements (or bytes).
        case capacity(expected: Int, found: Int)
        /// Another setting (an event's reset mode, a byte channel's maximum message size).
        case configuration(String)

        /// The difference, as the end of a sentence that starts with the object's name.
        public var description: String {
            switch self {
            case let .kind(expected, found): "is a \(found), not a \(expected)"
            case let .elementType(expected, found): "holds \(found), not \(expected)"
            case let .capacity(expected, found): "has capacity \(found), not \(expected)"
            case let .configuration(detail): "was created differently: \(detail)"
            }
        }
    }

    /// Maps the failure of a map of `name`.
    static func from(
        _ failure: FileSystem.MappingError, name: String, operation: String, requestedBytes: Int = 0
    ) -> SharedMemoryError {
        switch failure {
        case .system(let errno): from(errno, name: name, operation: operation, requestedBytes: requestedBytes)
        case .guardFull: .mappingLimitReached(name: name, limit: BusErrorGuard.capacity)
        }
    }

    /// Maps the errno of a failed open, create or map of `name`.
    static func from(_ errno: Errno, name: String, operation: String, requestedBytes: Int = 0) -> SharedMemoryError {
        switch errno {
        case .noSuchFileOrDirectory: .notFound(name: name)
        case .fileExists: .alreadyExists(name: name)
        case .permissionDenied, .notPermitted, .readOnlyFileSystem: .permissionDenied(name: name)
        case .noSpace, .noMemory, .fileTooLarge, .diskQuotaExceeded:
            .insufficientSpace(name: name, requestedBytes: requestedBytes)
        default: .unexpected(errno, operation: operation)
        }
    }
}
