import Glibc
import Synchronization
import SystemPackage

/// A region of memory that several processes map at the same time.
///
/// A segment is either *named* — a file in the shared-memory directory (`/dev/shm`) that any
/// process with permission can open by name — or *anonymous* — a `memfd` that only processes
/// which inherit or receive its descriptor can map.
///
/// ```swift
/// let segment = try SharedMemory(named: "frames", mode: .openOrCreate, size: 1 << 20)
/// segment.bytes.storeBytes(of: 42, as: Int.self)
/// ```
///
/// Every segment starts with a versioned header (kind, element type, sizes, creator) that
/// openers validate before touching the payload; ``bytes`` is the payload after that header.
///
/// ## Creation is atomic
/// A creator builds the whole segment in an unnamed file (`O_TMPFILE`): it sizes it, reserves
/// its pages with `posix_fallocate` (so a full `/dev/shm` is ``SharedMemoryError/insufficientSpace(name:requestedBytes:)``
/// now rather than a `SIGBUS` later), writes the header and the payload's initial contents, and
/// only then gives it its name with `link`. No process can ever open a half-built segment, and a
/// creator that crashes leaves nothing behind. When several processes race with
/// ``OpenMode/openOrCreate``, exactly one `link` succeeds; the others open the winner's segment.
///
/// ## Lifetime
/// The mapping lives as long as this object. The name lives until someone calls ``remove()`` or
/// ``remove(named:)`` (or, with `removeOnDeinit`, until this object is released): Interprocess
/// never unlinks a name nobody asked it to unlink.
public final class SharedMemory: @unchecked Sendable {
    // @unchecked Sendable: every stored property is immutable after init; the mapped bytes are
    // shared memory whose synchronisation is the user's (or the object's built on it).

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

    /// The directory holding named segments: `/dev/shm`, or the value of the environment
    /// variable `INTERPROCESS_SHM_DIRECTORY` (for tests and containers with another tmpfs).
    public static var directory: String {
        if let value = getenv("INTERPROCESS_SHM_DIRECTORY") {
            let s = String(cString: value)
            if !s.isEmpty { return s }
        }
        return "/dev/shm"
    }

    /// The object's name, or `nil` for an anonymous segment.
    public let name: SegmentName?
    /// What the segment holds.
    public let kind: ObjectKind
    /// The element type recorded at creation (``ElementType/none`` for untyped objects).
    public let elementType: ElementType
    /// The element count for typed objects, the payload size in bytes for raw segments.
    public let capacity: Int
    /// The process that created the segment.
    public let creator: ProcessIdentity
    /// Whether this call created the segment (as opposed to opening an existing one).
    public let wasCreated: Bool
    /// The payload: the bytes after the header, page-aligned, zero-filled at creation unless an
    /// initializer wrote them.
    ///
    /// The buffer is valid only while this object lives: keep a reference to the segment for as
    /// long as you use the bytes (`try SharedMemory(…).bytes[0]` reads unmapped memory).
    public let bytes: UnsafeMutableRawBufferPointer
    /// The kind-specific parameters recorded at creation.
    let kindParameters: [UInt32]

    let mapping: UnsafeMutableRawPointer
    let mappedLength: Int
    let descriptor: Int32
    let removeOnDeinit: Bool
    /// The participant-table slots this object holds the write locks of (see ParticipantTable).
    let heldSlots = PlatformLock<Set<Int>>([])
    /// The presence bytes this object holds, and their roles (see ObjectLocks).
    let heldPresence = PlatformLock<[Int64: ParticipantRole]>([:])
    /// This object's own registration as an opener.
    private var openerRegistration: ParticipantRegistration? = nil
    /// Process mutexes in this mapping that threads of this process hold (see `ProcessMutex`):
    /// while it is non-zero the mapping must outlive this object, because the kernel writes
    /// into a held robust mutex when its owner dies.
    let heldMutexCount = Atomic<Int>(0)

    /// How long the name lives (``Lifetime/persistent`` for anonymous segments).
    public let lifetime: Lifetime

    /// The payload size in bytes.
    public var size: Int { bytes.count }

    /// The descriptor of the backing file, valid while this object lives (to pass an anonymous
    /// segment to a child process, for example).
    public var fileDescriptor: FileDescriptor { FileDescriptor(rawValue: descriptor) }

    /// The header of the mapping.
    var header: SegmentHeader { SegmentHeader(base: mapping) }

    // MARK: - Public creation

    /// Creates or opens the named raw segment of `size` payload bytes.
    ///
    /// - Parameters:
    ///   - name: the object's name (see ``SegmentName`` for the rules).
    ///   - mode: create, open, or either.
    ///   - size: the payload size in bytes. When opening an existing segment it must equal
    ///     the size it was created with; pass `nil` with ``OpenMode/open`` to accept any size.
    ///   - permissions: the file mode of a new segment. The default, `0600`, lets only this
    ///     user open it; wider modes are never applied unless asked for.
    ///   - lifetime: how long a new segment's name lives (default ``Lifetime/persistent``;
    ///     an existing object keeps the lifetime it was created with).
    ///   - owners: the owners of an existing object this open accepts (default: only the
    ///     current user; see ``OwnerPolicy``).
    ///   - timeout: how long to wait for a segment another process is still initialising.
    ///   - removeOnDeinit: remove the name when this object is released (only if this call
    ///     created it).
    ///   - initializer: run by the creator only, before any other process can see the segment,
    ///     to fill the payload (for example to initialise a ``ProcessMutex`` placed in it). If it
    ///     throws, nothing is created and the error is rethrown.
    /// - Throws: ``SharedMemoryError``.
    public convenience init(
        named name: String,
        mode: OpenMode = .openOrCreate,
        size: Int?,
        permissions: FilePermissions = [.ownerRead, .ownerWrite],
        lifetime: Lifetime = .persistent,
        owners: OwnerPolicy = .currentUser,
        timeout: Duration = .seconds(5),
        removeOnDeinit: Bool = false,
        initializer: ((UnsafeMutableRawBufferPointer) throws(SharedMemoryError) -> Void)? = nil
    ) throws(SharedMemoryError) {
        let segmentName = try SegmentName(name)
        if let size, size <= 0 { throw .invalidSize(size, reason: "a segment needs at least one byte") }
        if size == nil && mode != .open {
            throw .invalidSize(0, reason: "a size is required to create a segment")
        }
        let layout = Layout(
            kind: .segment, payloadSize: size ?? 0, capacity: size ?? 0, elementType: .none,
            kindParameters: [], checksCapacity: size != nil, lifetime: lifetime)
        try self.init(
            name: segmentName, mode: mode, layout: layout, permissions: permissions, owners: owners, timeout: timeout,
            removeOnDeinit: removeOnDeinit, initialize: { (payload) throws(SharedMemoryError) in try initializer?(payload) })
    }

    /// Opens the existing object `name`, of whatever kind, without taking any role in it.
    ///
    /// Holding it keeps a ``Lifetime/removedWithLastUser`` object alive (a supervisor that
    /// creates a channel for worker processes holds it this way while they come and go), and
    /// ``bytes`` shows its raw payload. Nothing about the object is changed.
    /// - Throws: ``SharedMemoryError``.
    public convenience init(
        existing name: String, owners: OwnerPolicy = .currentUser, timeout: Duration = .seconds(5)
    ) throws(SharedMemoryError) {
        var layout = Layout(
            kind: .segment, payloadSize: 0, capacity: 0, elementType: .none, kindParameters: [], checksCapacity: false)
        layout.acceptsAnyKind = true
        try self.init(
            name: try SegmentName(name), mode: .open, layout: layout, permissions: [], owners: owners,
            timeout: timeout, initialize: { _ in })
    }

    /// Creates an anonymous segment of `size` payload bytes, backed by a sealed `memfd`.
    ///
    /// Share it with a child process by letting the child inherit ``fileDescriptor`` (clear its
    /// close-on-exec flag first) and open it there with ``init(adopting:allowingUnsealed:)``,
    /// or pass it to any process over a Unix socket with ``send(over:)`` and
    /// ``init(receivingFrom:)``.
    ///
    /// Once built, the file is sealed (`F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`): whoever
    /// else comes to hold its descriptor can write to it but never change its size, so it
    /// cannot truncate it under this process's mapping. (Punching holes is not prevented — only
    /// a write seal would prevent it, and the segment must stay writable — but a memfd's holes
    /// read back as zeros and refill on touch; see <doc:Robustness>.)
    /// - Throws: ``SharedMemoryError``.
    public static func anonymous(size: Int) throws(SharedMemoryError) -> SharedMemory {
        guard size > 0 else { throw .invalidSize(size, reason: "a segment needs at least one byte") }
        let layout = Layout(
            kind: .segment, payloadSize: size, capacity: size, elementType: .none, kindParameters: [],
            checksCapacity: true)
        let total = try layout.totalSize()
        let fd: Int32
        do { fd = try FileSystem.memfd(name: "interprocess") } catch {
            throw SharedMemoryError.from(error, name: "<anonymous>", operation: "memfd_create", requestedBytes: total)
        }
        do throws(SharedMemoryError) {
            let (mapping, _) = try build(fd: fd, layout: layout, total: total, name: "<anonymous>", initialize: { _ in })
            // F_SEAL_SHRINK: no holder can truncate the file, which would turn every later touch
            //   of the lost pages, in every process mapping it, into a SIGBUS.
            // F_SEAL_GROW: the size stays the one the header records, so every adopter's
            //   validation sees file and header agree, and no holder can make the file (and the
            //   memory charged for it) larger than the segment.
            // F_SEAL_SEAL: the seals are final. Without it a holder could add F_SEAL_FUTURE_WRITE
            //   and make every later writable mapping, hence every later adoption, fail.
            do { try FileSystem.addSeals(fd, [.shrink, .grow, .seal]) } catch {
                FileSystem.unmap(mapping, length: total)
                throw SharedMemoryError.unexpected(error, operation: "fcntl(F_ADD_SEALS)")
            }
            let presence: Int64
            do { presence = try ObjectLocks.takePresence(fd, role: .opener, name: "<anonymous>") } catch {
                FileSystem.unmap(mapping, length: total)
                throw error
            }
            return SharedMemory(
                name: nil, fields: layout.fields(total: total), mapping: mapping, mappedLength: total,
                descriptor: fd, wasCreated: true, removeOnDeinit: false, openerPresence: presence)
        } catch {
            FileSystem.close(fd)
            throw error
        }
    }

    /// Opens a segment from a descriptor this process inherited or received.
    ///
    /// The file is opened anew (as a new open file description); the caller keeps ownership of
    /// `descriptor`.
    ///
    /// The file must be sealed against shrinking, as ``anonymous(size:)`` seals its memfd:
    /// otherwise whoever else holds a descriptor of it could truncate it under this process.
    /// Pass `allowingUnsealed: true` to adopt an unsealed file anyway (a named segment's
    /// descriptor, say, whose file any process with write permission can truncate): such a
    /// segment is protected only by the `SIGBUS` guard, which keeps the process alive and makes
    /// the segment report ``isDamaged`` once it lost pages.
    /// - Parameters:
    ///   - descriptor: a descriptor of the segment's file.
    ///   - allowingUnsealed: adopt a file that is not sealed against shrinking.
    /// - Throws: ``SharedMemoryError/notSealed(name:)`` for an unsealed file (unless allowed);
    ///   another ``SharedMemoryError`` if the descriptor does not hold a valid segment.
    public convenience init(adopting descriptor: FileDescriptor, allowingUnsealed: Bool = false) throws(SharedMemoryError) {
        // Reopen through /proc rather than dup: a dup shares the open file description, and
        // with it the participant-table locks of whoever else holds it (see ParticipantTable).
        let fd: Int32
        do { fd = try FileSystem.open("/proc/self/fd/\(descriptor.rawValue)", flags: O_RDWR) } catch {
            // No such entry means no such descriptor.
            let errno = error == .noSuchFileOrDirectory ? Errno.badFileDescriptor : error
            throw SharedMemoryError.unexpected(errno, operation: "open(/proc/self/fd/\(descriptor.rawValue))")
        }
        let name = "<fd \(descriptor.rawValue)>"
        do throws(SharedMemoryError) {
            if !allowingUnsealed {
                // Checked on the file we opened, so that what is checked is what is mapped.
                let seals: FileSystem.Seals
                do { seals = try FileSystem.seals(fd) } catch {
                    throw SharedMemoryError.unexpected(error, operation: "fcntl(F_GET_SEALS)")
                }
                guard seals.contains(.shrink) else { throw SharedMemoryError.notSealed(name: name) }
            }
            let presence = try ObjectLocks.takePresence(fd, role: .opener, name: name)
            let (mapping, length, fields) = try SharedMemory.validate(
                fd: fd, name: name, expected: nil, deadline: .after(.seconds(5)))
            self.init(
                name: nil, fields: fields, mapping: mapping, mappedLength: length, descriptor: fd,
                wasCreated: false, removeOnDeinit: false, openerPresence: presence)
        } catch {
            FileSystem.close(fd)
            throw error
        }
    }

    // MARK: - Removal

    /// Removes the name of the segment `name`; processes that have it open keep their mapping.
    ///
    /// - Throws: ``SharedMemoryError/notFound(name:)`` if no such object exists,
    ///   ``SharedMemoryError/invalidName(_:reason:)``, ``SharedMemoryError/permissionDenied(name:)``.
    public static func remove(named name: String) throws(SharedMemoryError) {
        let segmentName = try SegmentName(name)
        do { try FileSystem.unlink(segmentName.path(in: directory)) } catch {
            throw SharedMemoryError.from(error, name: name, operation: "unlink")
        }
    }

    /// Whether an object named `name` exists (of any kind, valid or not).
    public static func exists(named name: String) -> Bool {
        guard let segmentName = try? SegmentName(name) else { return false }
        return entryExists(segmentName.path(in: directory))
    }

    /// Removes this segment's name, if the name still refers to this segment.
    ///
    /// If another process removed the name and created a new object under it since, that new
    /// object is left alone and this throws ``SharedMemoryError/notFound(name:)``.
    /// - Throws: ``SharedMemoryError``.
    public func remove() throws(SharedMemoryError) {
        guard let name else { return }  // anonymous: nothing to unlink
        let path = name.path(in: SharedMemory.directory)
        guard ObjectLocks.names(path, descriptor) else { throw .notFound(name: name.rawValue) }
        do { try FileSystem.unlink(path) } catch {
            throw SharedMemoryError.from(error, name: name.rawValue, operation: "unlink")
        }
    }

    deinit {
        // SYNC POINT: acquiring; pairs with the releasing decrement in `ProcessMutex.unlock`,
        // so a mutex released by another thread of this process is seen as released here.
        if heldMutexCount.load(ordering: .acquiring) != 0 {
            // A thread of this process holds a mutex in this mapping. The kernel writes into
            // a held robust mutex when its owner exits, and the owner death must stay visible
            // to the other processes: the mapping, the descriptor and the registrations stay
            // for the life of the process (a deliberate leak; see `ProcessMutex`).
            return
        }
        if let name, lifetime == .removedWithLastUser {
            // Still holding our own presence, which our own queries do not see: the object is
            // removed only if no other user holds it.
            _ = ObjectLocks.removeIfUnused(descriptor, path: name.path(in: SharedMemory.directory))
        }
        if let openerRegistration { deregister(openerRegistration) }
        if removeOnDeinit && wasCreated { try? remove() }
        FileSystem.unmap(mapping, length: mappedLength)
        FileSystem.close(descriptor)
    }

    // MARK: - The shared creation and opening path

    /// What a typed object expects of its segment.
    struct Layout {
        var kind: ObjectKind
        var payloadSize: Int
        var capacity: Int
        var elementType: ElementType
        var kindParameters: [UInt32]
        /// Whether an existing segment's capacity must equal `capacity` (false to accept any,
        /// for `.open` without a size).
        var checksCapacity: Bool
        /// The lifetime of a new object (an existing object keeps the one it was created with).
        var lifetime: Lifetime = .persistent
        /// Whether an existing object of any kind is accepted (``SharedMemory/init(existing:owners:timeout:)``).
        var acceptsAnyKind = false

        func totalSize() throws(SharedMemoryError) -> Int {
            let page = FileSystem.pageSize
            let (sum, overflow) = payloadSize.addingReportingOverflow(SegmentHeader.size + page - 1)
            guard !overflow, payloadSize >= 0 else {
                throw .invalidSize(payloadSize, reason: "too large")
            }
            return sum / page * page
        }

        func fields(total: Int) -> SegmentHeader.Fields {
            SegmentHeader.Fields(
                kind: kind, totalSize: total, payloadSize: payloadSize, capacity: capacity,
                creator: .current, creationTime: FileSystem.wallClockNanoseconds, elementType: elementType,
                kindParameters: kindParameters, lifetime: lifetime)
        }
    }

    private init(
        name: SegmentName?, fields: SegmentHeader.Fields, mapping: UnsafeMutableRawPointer, mappedLength: Int,
        descriptor: Int32, wasCreated: Bool, removeOnDeinit: Bool, registersAsOpener: Bool = true,
        openerPresence: Int64
    ) {
        self.name = name
        self.kind = fields.kind
        self.elementType = fields.elementType
        self.capacity = fields.capacity
        self.creator = fields.creator
        self.kindParameters = fields.kindParameters
        self.wasCreated = wasCreated
        self.mapping = mapping
        self.mappedLength = mappedLength
        self.descriptor = descriptor
        self.removeOnDeinit = removeOnDeinit
        self.bytes = UnsafeMutableRawBufferPointer(start: mapping + SegmentHeader.size, count: fields.payloadSize)
        self.lifetime = name == nil ? .persistent : fields.lifetime
        // Every open holds an opener presence lock from before it validated the object (the
        // removal protocol needs it; see ObjectLocks) until this object is released. Opener
        // handles are also shown in the table; channels show their handles' roles instead.
        if registersAsOpener {
            self.openerRegistration = register(as: .opener, presenceByte: openerPresence)
        } else {
            heldPresence.withLock { $0[openerPresence] = .opener }
        }
    }

    /// Creates or opens `name` for an object of `layout`; the creator runs `initialize` on the
    /// payload before the segment becomes visible.
    ///
    /// Opening (see `ObjectLocks` for the protocol): the directory entry is opened without
    /// following links and refused unless it is a regular file of an accepted owner; the opener
    /// takes its presence lock, waits out any removal in progress and checks that the name still
    /// refers to the file it holds; only then does it map and validate. An object whose users
    /// are all gone and that was created ``Lifetime/removedWithLastUser`` is removed and treated
    /// as absent.
    convenience init(
        name: SegmentName, mode: OpenMode, layout: Layout, permissions: FilePermissions,
        owners: OwnerPolicy = .currentUser, timeout: Duration, removeOnDeinit: Bool = false,
        registersAsOpener: Bool = true,
        initialize: (UnsafeMutableRawBufferPointer) throws(SharedMemoryError) -> Void
    ) throws(SharedMemoryError) {
        let deadline = Deadline(timeout: timeout)
        let directory = SharedMemory.directory
        let path = name.path(in: directory)
        // A removal between a failed create and the following open (or the reverse) sends us
        // round again; a bounded number of rounds keeps a pathological remove/create storm
        // from spinning forever.
        for _ in 0..<64 {
            if mode != .create {
                let opened: (fd: Int32, presence: Int64)?
                do throws(SharedMemoryError) {
                    opened = try SharedMemory.openForUse(path: path, name: name.rawValue, owners: owners, deadline: deadline)
                } catch {
                    guard case .notFound = error, mode == .openOrCreate else { throw error }
                    opened = nil  // absent: create it below
                }
                if let (fd, presence) = opened {
                    let usable: (UnsafeMutableRawPointer, Int, SegmentHeader.Fields)?
                    do throws(SharedMemoryError) {
                        usable = try SharedMemory.validateForUse(fd: fd, path: path, name: name.rawValue, layout: layout, mode: mode, deadline: deadline)
                    } catch {
                        FileSystem.close(fd)
                        throw error
                    }
                    guard let (mapping, length, fields) = usable else {
                        // Removed as dead (or taken over): start over, as if it had been absent.
                        FileSystem.close(fd)
                        if mode == .open { throw .notFound(name: name.rawValue) }
                        continue
                    }
                    self.init(
                        name: name, fields: fields, mapping: mapping, mappedLength: length,
                        descriptor: fd, wasCreated: false, removeOnDeinit: false,
                        registersAsOpener: registersAsOpener, openerPresence: presence)
                    return
                }
            }
            let total = try layout.totalSize()
            let created = try SharedMemory.createAndPublish(
                path: path, directory: directory, name: name.rawValue, layout: layout, total: total,
                permissions: permissions, initialize: initialize)
            if let (fd, mapping, presence) = created {
                self.init(
                    name: name, fields: layout.fields(total: total), mapping: mapping, mappedLength: total,
                    descriptor: fd, wasCreated: true, removeOnDeinit: removeOnDeinit,
                    registersAsOpener: registersAsOpener, openerPresence: presence)
                return
            }
            // Someone else published first, or a dead transient object holds the name.
            if mode == .create {
                if SharedMemory.removeIfAbandoned(path: path, name: name.rawValue, owners: owners, deadline: deadline) {
                    continue
                }
                throw .alreadyExists(name: name.rawValue)
            }
        }
        throw .unexpected(.resourceTemporarilyUnavailable, operation: "open or create '\(name)' (raced too often)")
    }

    /// Opens the object file at `path` for use: a regular file of an accepted owner, opened for
    /// reading and writing, with this opener's presence lock taken and no removal able to
    /// unlink it unnoticed. Returns `nil` when the name was removed or replaced meanwhile (the
    /// caller starts over).
    private static func openForUse(
        path: String, name: String, owners: OwnerPolicy, deadline: Deadline
    ) throws(SharedMemoryError) -> (fd: Int32, presence: Int64)? {
        let (fd, _) = try openObjectFile(path: path, name: name, writable: true, owners: owners)
        do {
            let presence = try ObjectLocks.takePresence(fd, role: .opener, name: name)
            guard try ObjectLocks.survivesRemoval(fd, path: path, name: name, deadline: deadline) else {
                FileSystem.close(fd)
                return nil
            }
            return (fd, presence)
        } catch {
            FileSystem.close(fd)
            throw error
        }
    }

    /// Maps and validates an object opened with ``openForUse(path:name:owners:deadline:)``.
    /// Returns `nil` when the object turned out to be dead and was removed: a
    /// ``Lifetime/removedWithLastUser`` object whose users are all gone (killed: a user that
    /// leaves normally removes it), or, for ``OpenMode/openOrCreate``, an object whose foreign
    /// creator died initialising it and that nobody holds. The caller still owns `fd`.
    private static func validateForUse(
        fd: Int32, path: String, name: String, layout: Layout, mode: OpenMode, deadline: Deadline
    ) throws(SharedMemoryError) -> (UnsafeMutableRawPointer, Int, SegmentHeader.Fields)? {
        let validated: (UnsafeMutableRawPointer, Int, SegmentHeader.Fields)
        do throws(SharedMemoryError) {
            validated = try validate(fd: fd, name: name, expected: layout, deadline: deadline)
        } catch {
            guard case .creatorDiedDuringInitialization = error, mode == .openOrCreate else { throw error }
            // Interprocess publishes objects only once ready, so this one was left by another
            // writer of the format. Take it over only if nobody holds it: a forged state word
            // must not let an opener remove a live object.
            let removal = ObjectLocks.removeIfUnused(fd, path: path)
            guard removal == .removed || removal == .replaced else { throw error }
            return nil
        }
        let (mapping, length, fields) = validated
        if fields.lifetime == .removedWithLastUser && !ObjectLocks.hasOtherLiveUser(fd) {
            FileSystem.unmap(mapping, length: length)
            // A dead object that cannot be removed must say why now: starting over would find
            // it again each round and end in `.unexpected` (raced too often), and `.open` would
            // report `.notFound` for an object still holding the name.
            switch ObjectLocks.removeIfUnused(fd, path: path) {
            case .removed, .replaced, .inUse:
                return nil  // gone, or taken up by another opener meanwhile: start over
            case .busy:
                // Another remover's write lock: it finishes, and the next round sees the result.
                if ObjectLocks.removalIsHeld(fd) { return nil }
                // Only read locks in the way: a read-only process keeps everyone from removing it.
                throw .lockInterference(name: name)
            case .failed(let errno):
                throw SharedMemoryError.from(errno, name: name, operation: "unlink")
            }
        }
        return validated
    }

    /// Opens the directory entry `path` as a regular file of an owner `owners` accepts, without
    /// following a symbolic link, blocking on a FIFO or opening a device: the entry itself is
    /// examined first (through an `O_PATH` descriptor) and only a regular file is opened for
    /// I/O, through that same inode.
    static func openObjectFile(
        path: String, name: String, writable: Bool, owners: OwnerPolicy
    ) throws(SharedMemoryError) -> (fd: Int32, status: stat) {
        let (entry, status) = try examineEntry(path: path, name: name)
        defer { FileSystem.close(entry) }
        guard FileSystem.isRegularFile(status) else {
            throw .notARegularFile(name: name, fileType: FileSystem.typeDescription(status.st_mode))
        }
        guard owners.accepts(ownerUserID: status.st_uid) else {
            throw .foreignOwner(name: name, ownerUserID: status.st_uid)
        }
        do { return (try FileSystem.reopen(entry, flags: writable ? O_RDWR : O_RDONLY), status) } catch {
            throw SharedMemoryError.from(error, name: name, operation: "open")
        }
    }

    /// The directory entry `path` itself, opened for no I/O (see `FileSystem.openEntry`), and
    /// its status: what every opener and inspector looks at before deciding to open anything.
    /// The caller closes the descriptor.
    static func examineEntry(path: String, name: String) throws(SharedMemoryError) -> (entry: Int32, status: stat) {
        let entry: Int32
        do { entry = try FileSystem.openEntry(path) } catch {
            throw SharedMemoryError.from(error, name: name, operation: "open")
        }
        do { return (entry, try FileSystem.status(entry)) } catch {
            FileSystem.close(entry)
            throw SharedMemoryError.from(error, name: name, operation: "fstat")
        }
    }

    /// Removes the object at `path` if it is a ``Lifetime/removedWithLastUser`` object whose
    /// users are all gone; returns whether the name is free now.
    static func removeIfAbandoned(path: String, name: String, owners: OwnerPolicy, deadline: Deadline) -> Bool {
        // Anything that cannot be opened and validated is not known to be dead: the name stays taken.
        guard let (fd, _) = try? openObjectFile(path: path, name: name, writable: true, owners: owners) else { return false }
        defer { FileSystem.close(fd) }
        guard let (mapping, length, fields) = try? validate(fd: fd, name: name, expected: nil, deadline: .now) else {
            return false
        }
        FileSystem.unmap(mapping, length: length)
        guard fields.lifetime == .removedWithLastUser else { return false }
        let outcome = ObjectLocks.removeIfUnused(fd, path: path)
        return outcome == .removed || outcome == .replaced
    }

    static func entryExists(_ path: String) -> Bool { (try? FileSystem.linkStatus(path: path)) != nil }

    /// Builds a complete segment in an unnamed file and links it at `path`.
    /// Returns `nil` if the name was taken first.
    private static func createAndPublish(
        path: String, directory: String, name: String, layout: Layout, total: Int,
        permissions: FilePermissions,
        initialize: (UnsafeMutableRawBufferPointer) throws(SharedMemoryError) -> Void
    ) throws(SharedMemoryError) -> (Int32, UnsafeMutableRawPointer, Int64)? {
        var temporaryPath: String? = nil
        let fd: Int32
        do {
            fd = try FileSystem.openUnnamed(inDirectory: directory, mode: permissions.rawValue)
        } catch let error where error == .notSupported || error == .isDirectory || error == .invalidArgument {
            // A file system without O_TMPFILE: build under a hidden temporary name instead.
            let temp = directory + "/.interprocess-tmp-\(ProcessIdentity.current.pid)-\(nextTemporaryID())"
            do {
                // O_EXCL never follows a link planted under the temporary name.
                fd = try FileSystem.open(temp, flags: O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode: permissions.rawValue)
            } catch {
                throw SharedMemoryError.from(error, name: name, operation: "open", requestedBytes: total)
            }
            temporaryPath = temp
        } catch {
            throw SharedMemoryError.from(error, name: name, operation: "open(O_TMPFILE)", requestedBytes: total)
        }
        var published = false
        defer {
            if let temporaryPath { try? FileSystem.unlink(temporaryPath) }
            if !published { FileSystem.close(fd) }
        }
        // The creation mode is filtered by the umask; set it exactly as asked.
        do { try FileSystem.changeMode(fd, to: permissions.rawValue) } catch {
            throw SharedMemoryError.from(error, name: name, operation: "fchmod")
        }
        let (mapping, _) = try build(fd: fd, layout: layout, total: total, name: name, initialize: initialize)
        // The creator's presence exists before the name does, so no removal can ever find a
        // just-published object without a live user.
        let presence: Int64
        do { presence = try ObjectLocks.takePresence(fd, role: .opener, name: name) } catch {
            FileSystem.unmap(mapping, length: total)
            throw error
        }
        do {
            if let temporaryPath {
                try FileSystem.link(temporaryPath, to: path)
            } else {
                try FileSystem.link(descriptor: fd, to: path)
            }
        } catch {
            FileSystem.unmap(mapping, length: total)
            if error == .fileExists { return nil }
            throw SharedMemoryError.from(error, name: name, operation: "link")
        }
        published = true
        return (fd, mapping, presence)
    }

    /// Sizes, reserves, maps and initialises `fd`, and marks its header ready.
    private static func build(
        fd: Int32, layout: Layout, total: Int, name: String,
        initialize: (UnsafeMutableRawBufferPointer) throws(SharedMemoryError) -> Void
    ) throws(SharedMemoryError) -> (UnsafeMutableRawPointer, Int) {
        do {
            try FileSystem.truncate(fd, to: total)
            // Reserve every page now: on tmpfs, pages are otherwise allocated on first touch,
            // and a full file system then kills the toucher with SIGBUS.
            try FileSystem.reserve(fd, length: total)
        } catch {
            throw SharedMemoryError.from(error, name: name, operation: "reserve", requestedBytes: total)
        }
        let mapping: UnsafeMutableRawPointer
        // Populated at once: every page was reserved just above.
        do { mapping = try FileSystem.map(fd, length: total, writable: true, pages: .immediately) } catch {
            throw SharedMemoryError.from(error, name: name, operation: "mmap", requestedBytes: total)
        }
        let header = SegmentHeader(base: mapping)
        // Relaxed: nobody else can see this file yet (it has no name); the release store of
        // `.ready` below is what publishes.
        header.state.pointee.store(SegmentHeader.State.initializing.rawValue, ordering: .relaxed)
        header.write(layout.fields(total: total))
        do {
            try initialize(UnsafeMutableRawBufferPointer(start: mapping + SegmentHeader.size, count: layout.payloadSize))
        } catch {
            FileSystem.unmap(mapping, length: total)
            throw error
        }
        // SYNC POINT: publishes the header fields and the initialised payload; pairs with the
        // acquiring load of the state word in `validate`.
        header.state.pointee.store(SegmentHeader.State.ready.rawValue, ordering: .releasing)
        return (mapping, total)
    }

    /// Maps `fd` and validates its header against `expected` (`nil`: any kind).
    ///
    /// A sparse file is refused before anything is mapped; the mapping is not populated until
    /// the header is valid, and then through `MADV_POPULATE_WRITE`, which reports a page that
    /// cannot be provided as an error instead of a `SIGBUS`.
    static func validate(
        fd: Int32, name: String, expected: Layout?, deadline: Deadline
    ) throws(SharedMemoryError) -> (UnsafeMutableRawPointer, Int, SegmentHeader.Fields) {
        let status: stat
        do { status = try FileSystem.status(fd) } catch {
            throw SharedMemoryError.from(error, name: name, operation: "fstat")
        }
        let fileSize = Int(status.st_size)
        guard fileSize >= SegmentHeader.size else {
            throw .truncated(name: name, expectedBytes: SegmentHeader.size, actualBytes: fileSize)
        }
        try checkFullyAllocated(status, name: name)
        let mapping: UnsafeMutableRawPointer
        // Not populated: populating maps every page of a file whose header is not checked yet,
        // allocating holes on tmpfs and silently skipping those that do not fit.
        do { mapping = try FileSystem.map(fd, length: fileSize, writable: true, pages: .onFirstTouch) } catch {
            throw SharedMemoryError.from(error, name: name, operation: "mmap", requestedBytes: fileSize)
        }
        do throws(SharedMemoryError) {
            let fields = try checkHeader(
                SegmentHeader(base: mapping), name: name, mappedBytes: fileSize, expected: expected,
                deadline: deadline)
            // Now build the page tables, as MAP_POPULATE did (it keeps first-touch faults out of
            // the channels' hot loops); a page lost since the allocation check above is an error
            // here, not a signal later.
            do { try FileSystem.prefault(mapping, length: fileSize) } catch {
                switch error {
                case .badAddress: throw SharedMemoryError.damaged(name: name)
                case .noMemory: throw SharedMemoryError.insufficientSpace(name: name, requestedBytes: fileSize)
                default: throw SharedMemoryError.unexpected(error, operation: "madvise(MADV_POPULATE_WRITE)")
                }
            }
            return (mapping, fileSize, fields)
        } catch {
            FileSystem.unmap(mapping, length: fileSize)
            throw error
        }
    }

    /// Refuses a regular file with fewer bytes allocated than its page-rounded length: its holes
    /// would be allocated on first touch, and on a full file system that touch is a `SIGBUS`
    /// (long after the open). Interprocess creates every file fully allocated
    /// (`posix_fallocate`), so a sparse one was made by something else.
    static func checkFullyAllocated(_ status: stat, name: String) throws(SharedMemoryError) {
        guard status.st_mode & S_IFMT == S_IFREG else { return }
        let length = Int(status.st_size)
        let page = FileSystem.pageSize
        let (sum, overflow) = length.addingReportingOverflow(page - 1)
        let rounded = overflow ? Int.max : sum / page * page
        // st_blocks counts 512-byte units, whatever the file system's block size.
        let (allocated, tooMany) = Int(status.st_blocks).multipliedReportingOverflow(by: 512)
        guard tooMany || allocated >= rounded else {
            throw .notFullyAllocated(name: name, allocatedBytes: allocated, length: length)
        }
    }

    /// Validates a mapped header: magic, version, state (waiting for `ready` until
    /// `deadline`), checksum and sizes, then kind, element type and capacity against
    /// `expected`.
    static func checkHeader(
        _ header: SegmentHeader, name: String, mappedBytes: Int, expected: Layout?, deadline: Deadline
    ) throws(SharedMemoryError) -> SegmentHeader.Fields {
        guard header.magicValue == SegmentHeader.magic else { throw .badMagic(name: name) }
        guard header.versionValue == SegmentHeader.layoutVersion else {
            throw .unsupportedVersion(name: name, found: header.versionValue, supported: SegmentHeader.layoutVersion)
        }
        try waitUntilReady(header, name: name, deadline: deadline)
        let fields = try header.read(name: name, mappedBytes: mappedBytes)
        guard let expected, !expected.acceptsAnyKind else { return fields }
        guard fields.kind == expected.kind else {
            throw .kindMismatch(name: name, expected: expected.kind, found: fields.kind)
        }
        guard fields.elementType == expected.elementType else {
            throw .elementTypeMismatch(name: name, expected: expected.elementType, found: fields.elementType)
        }
        if expected.checksCapacity && fields.capacity != expected.capacity {
            throw .capacityMismatch(name: name, expected: expected.capacity, found: fields.capacity)
        }
        // The payload must hold what the kind needs: a hostile header must not make us read
        // past the mapping.
        let minimumPayload = expected.kind == .segment ? 0 : expected.minimumPayload(capacity: fields.capacity)
        guard fields.payloadSize >= minimumPayload else {
            throw .corruptHeader(name: name, detail: "payload of \(fields.payloadSize) bytes for capacity \(fields.capacity)")
        }
        return fields
    }

    /// Waits for the state word to read `ready`.
    ///
    /// Segments Interprocess creates are published only once ready (see "Creation is
    /// atomic"), so this waits only for segments made by other writers of the format, or for
    /// a creator that died (`creatorDiedDuringInitialization`).
    static func waitUntilReady(_ header: SegmentHeader, name: String, deadline: Deadline) throws(SharedMemoryError) {
        while true {
            // SYNC POINT: pairs with the creator's releasing store of `.ready` in `build`; after
            // it every header field and the payload's initial contents are visible.
            let raw = header.state.pointee.load(ordering: .acquiring)
            switch SegmentHeader.State(rawValue: raw) {
            case .ready?:
                return
            case .poisoned?:
                throw .corruptHeader(name: name, detail: "marked unusable (poisoned)")
            case .uninitialized?, .initializing?:
                let creator = header.creator
                if !creator.isAlive { throw .creatorDiedDuringInitialization(name: name, creator: creator) }
                if deadline.hasPassed { throw .stillInitializing(name: name) }
                // Sleep on the state word, in slices, so a creator that dies without waking us
                // is noticed within 10 ms.
                let slice = min(deadline, Deadline.after(.milliseconds(10)))
                _ = header.stateWord.wait(expecting: raw, deadline: slice)
            case nil:
                throw .corruptHeader(name: name, detail: "state word \(raw)")
            }
        }
    }

    private static let temporaryCounter = Atomic<Int>(0)
    private static func nextTemporaryID() -> Int {
        // Relaxed: only uniqueness matters.
        temporaryCounter.add(1, ordering: .relaxed).newValue
    }
}

extension SharedMemory.Layout {
    /// The payload bytes an object of this layout needs for `capacity` elements: the elements
    /// for typed objects, the fixed payload for untyped ones.
    func minimumPayload(capacity: Int) -> Int {
        guard elementType.stride > 0 else { return payloadSize }
        let (bytes, overflow) = capacity.multipliedReportingOverflow(by: elementType.stride)
        return overflow ? Int.max : bytes
    }
}
