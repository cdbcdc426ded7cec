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
/// segment.withUnsafeMutableBytes { $0.storeBytes(of: 42, as: Int.self) }
/// ```
///
/// Every segment starts with a versioned header (kind, element type, sizes, creator) that
/// openers validate before touching the payload; ``withUnsafeMutableBytes(_:)`` reaches the
/// payload after that header.
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

    /// The directory holding named segments: `/dev/shm`, or the value of the environment
    /// variable `INTERPROCESS_SHM_DIRECTORY` (for tests and containers with another tmpfs).
    public static var directory: String {
        if let value = FileSystem.environmentValue("INTERPROCESS_SHM_DIRECTORY"), !value.isEmpty { return value }
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
    /// The kind-specific parameters recorded at creation.
    let kindParameters: [UInt32]

    /// The header page and the payload, mapped for as long as this object lives (longer while
    /// one of its mutexes is held; see `deinit`).
    let region: SegmentMapping
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

    /// Whether this handle may write the object (``Access/readWrite``) or only read it
    /// (``Access/readOnly``: its file opened `O_RDONLY`, its mapping `PROT_READ`; see ``Access``).
    public let access: Access

    /// The payload size in bytes.
    public var size: Int { region.payload.count }

    /// Calls `body` with the payload: the bytes after the header, page-aligned, zero-filled at
    /// creation unless an initializer wrote them.
    ///
    /// Other processes map the same bytes and may change them at any time: `body` synchronises
    /// its accesses with theirs (with a ``ProcessMutex`` placed in the segment, for example).
    ///
    /// - Parameter body: a closure that reads and writes the payload in place.
    /// - Returns: what `body` returns.
    /// - Precondition: the segment is open ``Access/readWrite``. A ``Access/readOnly`` mapping
    ///   is `PROT_READ`, where the first write would kill the process with `SIGSEGV`; this
    ///   method's signature (it rethrows `body`'s own error) has no room for a typed error, so it
    ///   stops the process before calling `body`, naming the segment. Check ``access``, or use
    ///   ``withUnsafeBytes(_:)``.
    /// - Warning: the buffer is valid only during `body`; do not let it escape.
    public func withUnsafeMutableBytes<Result, Failure: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        precondition(access == .readWrite, "'\(displayName)' is open read-only: its payload cannot be written")
        return try body(region.payload)
    }

    /// Calls `body` with the payload, read-only (see ``withUnsafeMutableBytes(_:)``).
    ///
    /// - Parameter body: a closure that reads the payload in place.
    /// - Returns: what `body` returns.
    /// - Warning: the buffer is valid only during `body`; do not let it escape.
    public func withUnsafeBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(UnsafeRawBufferPointer(region.payload))
    }

    /// The payload, for the objects built on the segment, which keep the segment alive for as
    /// long as they use it. On a ``Access/readOnly`` segment the pointer is mutable only in type:
    /// nothing may be stored through it (the mapping is `PROT_READ`).
    package var bytes: UnsafeMutableRawBufferPointer { region.payload }

    /// The descriptor of the backing file, valid while this object lives (to pass an anonymous
    /// segment to a child process, for example).
    public var fileDescriptor: FileDescriptor { FileDescriptor(rawValue: descriptor) }

    /// The header of the mapping.
    var header: SegmentHeader { region.header }

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
    ///     throws, nothing is created and the error is rethrown. Swift infers `throws(any Error)`
    ///     for a throwing closure that does not name its error, so write
    ///     `{ (payload) throws(SharedMemoryError) in … }`.
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
            removeOnDeinit: removeOnDeinit,
            initialize: { (payload) throws(SharedMemoryError) in try initializer?(payload) })
    }

    /// Opens the existing object `name`, of whatever kind, without taking any role in it.
    ///
    /// Holding it keeps a ``Lifetime/removedWithLastUser`` object alive (a supervisor that
    /// creates a channel for worker processes holds it this way while they come and go), and
    /// ``withUnsafeBytes(_:)`` shows its raw payload. Nothing about the object is changed.
    ///
    /// With `access` ``Access/readOnly`` the file is opened `O_RDONLY` and mapped `PROT_READ`,
    /// so read permission on it is enough; such a handle is no user of the object (it keeps
    /// nothing alive) and refuses every write with ``SharedMemoryError/readOnly(name:)`` (see
    /// ``Access``).
    /// - Parameters:
    ///   - name: the object's name.
    ///   - access: read and write (the default), or only read.
    ///   - owners: the owners of the object this open accepts (default: only the current user).
    ///   - timeout: how long to wait for an object another process is still initialising.
    /// - Throws: ``SharedMemoryError``; ``SharedMemoryError/permissionDenied(name:)`` when the
    ///   file's mode does not allow `access`.
    public convenience init(
        existing name: String, access: Access = .readWrite, owners: OwnerPolicy = .currentUser,
        timeout: Duration = .seconds(5)
    ) throws(SharedMemoryError) {
        var layout = Layout(
            kind: .segment, payloadSize: 0, capacity: 0, elementType: .none, kindParameters: [], checksCapacity: false)
        layout.acceptsAnyKind = true
        try self.init(
            name: try SegmentName(name), mode: .open, layout: layout, permissions: [], owners: owners,
            timeout: timeout, access: access, initialize: { _ in })
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
            let (mapping, _) = try build(
                fd: fd, layout: layout, total: total, name: "<anonymous>", initialize: { _ in })
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
    public convenience init(adopting descriptor: FileDescriptor, allowingUnsealed: Bool = false)
        throws(SharedMemoryError)
    {
        // Reopen through /proc rather than dup: a dup shares the open file description, and
        // with it the participant-table locks of whoever else holds it (see ParticipantTable).
        let fd: Int32
        do { fd = try FileSystem.open("/proc/self/fd/\(descriptor.rawValue)", access: .readWrite) } catch {
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
        // A read-only handle holds no presence and cannot take the removal lock (a write lock).
        if let name, lifetime == .removedWithLastUser, access == .readWrite {
            // Still holding our own presence, which our own queries do not see: the object is
            // removed only if no other user holds it.
            _ = ObjectLocks.removeIfUnused(descriptor, path: name.path(in: SharedMemory.directory))
        }
        if let openerRegistration { deregister(openerRegistration) }
        if removeOnDeinit && wasCreated { try? remove() }
        region.unmap()
        FileSystem.close(descriptor)
    }

    /// Wraps a validated mapping; registers this handle as an opener unless a role registers
    /// instead, or unless it is read-only (`openerPresence` `nil`: it holds no presence).
    init(
        name: SegmentName?, fields: SegmentHeader.Fields, mapping: UnsafeMutableRawPointer, mappedLength: Int,
        descriptor: Int32, wasCreated: Bool, removeOnDeinit: Bool, registersAsOpener: Bool = true,
        openerPresence: Int64?, access: Access = .readWrite
    ) {
        self.name = name
        self.kind = fields.kind
        self.elementType = fields.elementType
        self.capacity = fields.capacity
        self.creator = fields.creator
        self.kindParameters = fields.kindParameters
        self.wasCreated = wasCreated
        self.region = SegmentMapping(base: mapping, length: mappedLength, payloadSize: fields.payloadSize)
        self.descriptor = descriptor
        self.removeOnDeinit = removeOnDeinit
        self.lifetime = name == nil ? .persistent : fields.lifetime
        self.access = access
        // Every read-write open holds an opener presence lock from before it validated the
        // object (the removal protocol needs it; see ObjectLocks) until this object is released.
        // Opener handles are also shown in the table; channels show their handles' roles
        // instead. A read-only open holds none (it cannot take a write lock).
        guard let openerPresence else { return }
        if registersAsOpener {
            self.openerRegistration = register(as: .opener, presenceByte: openerPresence)
        } else {
            heldPresence.withLock { $0[openerPresence] = .opener }
        }
    }
}
