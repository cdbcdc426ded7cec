import Synchronization
import SystemPackage

// The one path by which every named object is created or opened, mapped and validated.

extension SharedMemory {
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
        /// Whether an existing object of any kind is accepted (``SharedMemory/init(existing:access:owners:timeout:)``).
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
                kindParameters: kindParameters, kindLayoutVersion: kind.layoutVersion, lifetime: lifetime)
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
    ///
    /// A ``Access/readOnly`` open (`mode` ``OpenMode/open`` only) examines and validates the
    /// object the same way through an `O_RDONLY` descriptor and a `PROT_READ` mapping, and skips
    /// what would write: it takes no presence lock (so it cannot stop a removal, and only waits
    /// out one in progress and re-checks the name) and removes nothing (a dead
    /// ``Lifetime/removedWithLastUser`` object is ``SharedMemoryError/notFound(name:)``, as for a
    /// read-write open, but stays for the next read-write opener to remove).
    convenience init(
        name: SegmentName, mode: OpenMode, layout: Layout, permissions: FilePermissions,
        owners: OwnerPolicy = .currentUser, timeout: Duration, removeOnDeinit: Bool = false,
        registersAsOpener: Bool = true, access: Access = .readWrite,
        initialize: (UnsafeMutableRawBufferPointer) throws(SharedMemoryError) -> Void
    ) throws(SharedMemoryError) {
        precondition(access == .readWrite || mode == .open, "a read-only open cannot create")
        let deadline = Deadline(timeout: timeout)
        let directory = SharedMemory.directory
        let path = name.path(in: directory)
        // A removal between a failed create and the following open (or the reverse) sends us
        // round again; a bounded number of rounds keeps a pathological remove/create storm
        // from spinning forever.
        for _ in 0..<64 {
            if mode != .create {
                let opened: (fd: Int32, presence: Int64?)?
                do throws(SharedMemoryError) {
                    opened = try SharedMemory.openForUse(
                        path: path, name: name.rawValue, owners: owners, access: access, deadline: deadline)
                } catch {
                    guard case .notFound = error, mode == .openOrCreate else { throw error }
                    opened = nil  // absent: create it below
                }
                if let (fd, presence) = opened {
                    let usable: (UnsafeMutableRawPointer, Int, SegmentHeader.Fields)?
                    do throws(SharedMemoryError) {
                        usable = try SharedMemory.validateForUse(
                            fd: fd, path: path, name: name.rawValue, layout: layout, mode: mode, access: access,
                            deadline: deadline)
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
                        registersAsOpener: registersAsOpener, openerPresence: presence, access: access)
                    return
                }
                // `.open` never creates: the name was replaced while it was opened; open again.
                if mode == .open { continue }
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
    ///
    /// Read-only: opened for reading, with no presence (a write lock); a removal in progress is
    /// waited out and the name re-checked all the same, so the file returned is the one the
    /// name referred to once no removal was running (a later removal can still unlink it).
    private static func openForUse(
        path: String, name: String, owners: OwnerPolicy, access: Access, deadline: Deadline
    ) throws(SharedMemoryError) -> (fd: Int32, presence: Int64?)? {
        let (fd, _) = try openObjectFile(path: path, name: name, writable: access == .readWrite, owners: owners)
        do {
            let presence =
                access == .readWrite ? try ObjectLocks.takePresence(fd, role: .opener, name: name) : nil
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
    /// Read-only, a dead object is not removed (removing takes a write lock) but still `nil`.
    private static func validateForUse(
        fd: Int32, path: String, name: String, layout: Layout, mode: OpenMode, access: Access, deadline: Deadline
    ) throws(SharedMemoryError) -> (UnsafeMutableRawPointer, Int, SegmentHeader.Fields)? {
        let validated: (UnsafeMutableRawPointer, Int, SegmentHeader.Fields)
        do throws(SharedMemoryError) {
            validated = try validate(
                fd: fd, name: name, expected: layout, deadline: deadline, writable: access == .readWrite)
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
            // Absent, as for any opener; only a read-write one can remove it.
            if access == .readOnly { return nil }
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
    ) throws(SharedMemoryError) -> (fd: Int32, status: FileStatus) {
        let (entry, status) = try examineEntry(path: path, name: name)
        defer { FileSystem.close(entry) }
        guard status.isRegularFile else {
            throw .notARegularFile(name: name, fileType: status.type.description)
        }
        guard owners.accepts(ownerUserID: status.ownerUserID) else {
            throw .foreignOwner(name: name, ownerUserID: status.ownerUserID)
        }
        do { return (try FileSystem.reopen(entry, access: writable ? .readWrite : .readOnly), status) } catch {
            throw SharedMemoryError.from(error, name: name, operation: "open")
        }
    }

    /// The directory entry `path` itself, opened for no I/O (see `FileSystem.openEntry`), and
    /// its status: what every opener and inspector looks at before deciding to open anything.
    /// The caller closes the descriptor.
    static func examineEntry(path: String, name: String) throws(SharedMemoryError) -> (entry: Int32, status: FileStatus)
    {
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
        guard let (fd, _) = try? openObjectFile(path: path, name: name, writable: true, owners: owners) else {
            return false
        }
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
                fd = try FileSystem.createExclusive(temp, mode: permissions.rawValue)
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
    static func build(
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
            try initialize(
                UnsafeMutableRawBufferPointer(start: mapping + SegmentHeader.size, count: layout.payloadSize))
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
    /// cannot be provided as an error instead of a `SIGBUS`. Not `writable`: mapped `PROT_READ`
    /// (`fd` may be read-only) and populated with `MADV_POPULATE_READ`; the validation, which
    /// only reads, is the same.
    static func validate(
        fd: Int32, name: String, expected: Layout?, deadline: Deadline, writable: Bool = true
    ) throws(SharedMemoryError) -> (UnsafeMutableRawPointer, Int, SegmentHeader.Fields) {
        let status: FileStatus
        do { status = try FileSystem.status(fd) } catch {
            throw SharedMemoryError.from(error, name: name, operation: "fstat")
        }
        let fileSize = status.size
        guard fileSize >= SegmentHeader.size else {
            throw .invalidHeader(name: name, .truncated(expectedBytes: SegmentHeader.size, actualBytes: fileSize))
        }
        try SegmentHeader.checkFullyAllocated(status, name: name)
        let mapping: UnsafeMutableRawPointer
        // Not populated: populating maps every page of a file whose header is not checked yet,
        // allocating holes on tmpfs and silently skipping those that do not fit.
        do { mapping = try FileSystem.map(fd, length: fileSize, writable: writable, pages: .onFirstTouch) } catch {
            throw SharedMemoryError.from(error, name: name, operation: "mmap", requestedBytes: fileSize)
        }
        do throws(SharedMemoryError) {
            let fields = try SegmentHeader(base: mapping).validated(
                name: name, mappedBytes: fileSize, expected: expected, deadline: deadline)
            // Now build the page tables, as MAP_POPULATE did (it keeps first-touch faults out of
            // the channels' hot loops); a page lost since the allocation check above is an error
            // here, not a signal later.
            do { try FileSystem.prefault(mapping, length: fileSize, writable: writable) } catch {
                switch error {
                case .badAddress: throw SharedMemoryError.damaged(name: name)
                case .noMemory: throw SharedMemoryError.insufficientSpace(name: name, requestedBytes: fileSize)
                default:
                    throw SharedMemoryError.unexpected(
                        error, operation: writable ? "madvise(MADV_POPULATE_WRITE)" : "madvise(MADV_POPULATE_READ)")
                }
            }
            return (mapping, fileSize, fields)
        } catch {
            FileSystem.unmap(mapping, length: fileSize)
            throw error
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
