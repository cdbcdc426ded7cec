import SystemPackage

/// An object `shm clean` would remove, and why.
public struct StaleObject: Sendable, Equatable {
    /// Why an object counts as stale.
    public enum Reason: Sendable, Equatable, CustomStringConvertible {
        /// Created ``SharedMemory/Lifetime/removedWithLastUser``, and no live process uses it
        /// (its users were killed: users that leave normally remove it themselves).
        case lastUserGone
        /// A ``SharedMemory/Lifetime/persistent`` object no live process uses (only with
        /// ``CleanupScope/unused``: a persistent object is meant to outlive its users, like a file).
        case unused
        /// Its header says its creator died while initialising it, and no live process holds it.
        /// (Interprocess itself never publishes a half-built object; another writer did.)
        case creatorDiedDuringInitialization
        /// A temporary file of a creator that died before publishing (only where `O_TMPFILE` is
        /// unavailable).
        case abandonedTemporaryFile
        /// Not a usable object of this user's — not a regular file, a corrupt or foreign-format
        /// file, or owned by another user — and no live process holds it (only with
        /// `includeDamaged`).
        case damaged(SharedMemoryError)

        public var description: String {
            switch self {
            case .lastUserGone: "removed with its last user, and every user is gone"
            case .unused: "persistent, no live user"
            case .creatorDiedDuringInitialization: "creator died during initialisation"
            case .abandonedTemporaryFile: "abandoned temporary file"
            case let .damaged(error): "damaged: \(error)"
            }
        }
    }

    /// The object's name (for temporary files, the file name).
    public let name: String
    /// The backing file.
    public let path: String
    /// Why it is stale.
    public let reason: Reason
}

extension SharedObjectRegistry {
    /// The objects in ``SharedMemory/directory`` that `shm clean` would remove: those created
    /// ``SharedMemory/Lifetime/removedWithLastUser`` whose users are all gone, objects whose
    /// foreign creator died initialising them, and abandoned temporary files; plus what `scope`
    /// adds.
    ///
    /// Whether a process uses an object is decided by the kernel's locks alone (see
    /// ``SharedObjectInfo/isInUse``), never by a header field another process could write: an
    /// object any live process holds is never stale.
    /// - Throws: ``SharedMemoryError`` if the directory cannot be read.
    public static func staleObjects(scope: CleanupScope = []) throws(SharedMemoryError) -> [StaleObject] {
        let directory = SharedMemory.directory
        let files: [String]
        do { files = try FileSystem.entries(of: directory) } catch {
            throw SharedMemoryError.from(error, name: directory, operation: "opendir")
        }
        var stale: [StaleObject] = []
        for file in files.sorted() {
            let path = directory + "/" + file
            if let pid = temporaryFileOwner(file) {
                if !ProcessIdentity(pid: pid, startTime: 0).isAlive {
                    stale.append(StaleObject(name: file, path: path, reason: .abandonedTemporaryFile))
                }
                continue
            }
            guard let name = SegmentName(fileName: file), let info = try? inspect(named: name.rawValue) else {
                continue
            }
            if let reason = staleness(of: info, scope: scope) {
                stale.append(StaleObject(name: name.rawValue, path: path, reason: reason))
            }
        }
        return stale
    }

    /// Removes the objects ``staleObjects(scope:)`` lists and returns those it removed.
    ///
    /// Each one is removed under its removal lock (see <doc:SecurityAndHostilePeers>): the
    /// remover opens the file, takes the lock, checks once more that no live process holds any
    /// lock on it and that the name still refers to it, and only then unlinks it. An opener
    /// racing the removal either is seen and keeps the object alive, or finds the name gone
    /// and creates the object anew. An object that cannot be opened for writing (another
    /// user's, or read-only) is left alone. Processes that still map a removed object keep it.
    /// - Throws: ``SharedMemoryError`` if the directory cannot be read.
    @discardableResult
    public static func removeStaleObjects(scope: CleanupScope = []) throws(SharedMemoryError) -> [StaleObject] {
        try staleObjects(scope: scope).filter { remove($0) == .removed }
    }

    /// How an attempt to remove a stale object ended.
    public enum RemovalOutcome: Sendable, Hashable, CustomStringConvertible {
        /// Removed.
        case removed
        /// A live process took hold of it since it was listed: kept.
        case inUse
        /// Another process is removing it, or a process that may only read it holds locks that
        /// keep the removal lock from being taken: kept.
        case busy
        /// This process may not open it for writing (another user's, or read-only), which the
        /// removal lock needs: kept.
        case notWritable
        /// The name refers to another file (or none) now: nothing removed.
        case replaced
        /// The system refused (`unlink` failed).
        case failed(Errno)

        public var description: String {
            switch self {
            case .removed: "removed"
            case .inUse: "kept: a live process uses it"
            case .busy: "kept: another process is removing it, or a read-only process holds locks on it"
            case .notWritable: "kept: not writable by this user"
            case .replaced: "gone or replaced in the meantime"
            case let .failed(errno): "unlink failed: \(errno)"
            }
        }
    }

    /// Removes one object that ``staleObjects(scope:)`` listed, under its removal lock (see
    /// ``removeStaleObjects(scope:)``), and says how that went.
    public static func remove(_ object: StaleObject) -> RemovalOutcome {
        switch object.reason {
        case .abandonedTemporaryFile:
            do { try FileSystem.unlink(object.path) } catch {
                return error == .noSuchFileOrDirectory ? .replaced : .failed(error)
            }
            return .removed
        case .damaged(.notARegularFile):
            // A link, FIFO or device: removing the entry never touches what it points to.
            // Only if it is still not a regular file (not replaced by an object since).
            guard let st = try? FileSystem.linkStatus(path: object.path), !st.isRegularFile else {
                return .replaced
            }
            do { try FileSystem.unlink(object.path) } catch { return .failed(error) }
            return .removed
        default:
            let fd: Int32
            do throws(SharedMemoryError) {
                fd = try SharedMemory.openObjectFile(
                    path: object.path, name: object.name, writable: true, owners: .anyUser
                ).fd
            } catch {
                switch error {
                case .notFound, .notARegularFile: return .replaced
                default: return .notWritable
                }
            }
            defer { FileSystem.close(fd) }
            switch ObjectLocks.removeIfUnused(fd, path: object.path) {
            case .removed: return .removed
            case .inUse: return .inUse
            case .busy: return .busy
            case .replaced: return .replaced
            case .failed(let errno): return .failed(errno)
            }
        }
    }

    static func staleness(of info: SharedObjectInfo, scope: CleanupScope) -> StaleObject.Reason? {
        if info.isInUse { return nil }
        let isRegular: Bool
        if case .failure(.notARegularFile) = info.header { isRegular = false } else { isRegular = true }
        if isRegular && !SharedMemory.OwnerPolicy.currentUser.accepts(ownerUserID: info.ownerUserID) {
            // Another user's object is theirs to clean, whatever its header says.
            return scope.contains(.damaged)
                ? .damaged(.foreignOwner(name: info.name, ownerUserID: info.ownerUserID)) : nil
        }
        switch info.header {
        case .success(let header):
            if header.lifetime == .removedWithLastUser { return .lastUserGone }
            return scope.contains(.unused) ? .unused : nil
        case .failure(.creatorDiedDuringInitialization):
            return .creatorDiedDuringInitialization
        case .failure(.permissionDenied):
            return nil  // nothing is known about it, not even whether it is in use
        case .failure(let error):
            return scope.contains(.damaged) ? .damaged(error) : nil
        }
    }

    /// The creator pid of a temporary file name `.interprocess-tmp-PID-N`, or `nil`.
    static func temporaryFileOwner(_ file: String) -> Int32? {
        let prefix = ".interprocess-tmp-"
        guard file.hasPrefix(prefix) else { return nil }
        return file.dropFirst(prefix.count).split(separator: "-").first.flatMap { Int32($0) }
    }
}
