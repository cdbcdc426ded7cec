import Glibc
import SystemPackage

/// An object `shm clean` would remove, and why.
public struct StaleObject: Sendable, Hashable {
    /// Why an object counts as stale.
    public enum Reason: Sendable, Hashable, CustomStringConvertible {
        /// Every registered participant died (none deregistered cleanly, none is alive).
        case allParticipantsDead(count: Int)
        /// Nobody is registered (only with `includeUnused`).
        case unused
        /// Its creator died before finishing it; it can never become ready.
        case creatorDiedDuringInitialization
        /// A temporary file of a creator that died before publishing (only where `O_TMPFILE` is
        /// unavailable).
        case abandonedTemporaryFile

        public var description: String {
            switch self {
            case let .allParticipantsDead(count): "all \(count) participant\(count == 1 ? "" : "s") dead"
            case .unused: "no participants"
            case .creatorDiedDuringInitialization: "creator died during initialisation"
            case .abandonedTemporaryFile: "abandoned temporary file"
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
    /// The objects in ``SharedMemory/directory`` that no live process uses any more.
    ///
    /// An object is stale when it has registered participants and all of them are dead (the
    /// processes crashed or were killed while using it), or when its creator died while
    /// initialising it. With `includeUnused`, objects nobody is registered with count too —
    /// off by default, because a named object is meant to outlive its users, like a file.
    /// Objects with a live participant are never stale.
    /// - Throws: ``SharedMemoryError`` if the directory cannot be read.
    public static func staleObjects(includeUnused: Bool = false) throws(SharedMemoryError) -> [StaleObject] {
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
            guard let name = SegmentName(fileName: file), let info = try? inspect(named: name.rawValue) else { continue }
            if let reason = staleness(of: info, includeUnused: includeUnused) {
                stale.append(StaleObject(name: name.rawValue, path: path, reason: reason))
            }
        }
        return stale
    }

    /// Removes the stale objects (see ``staleObjects(includeUnused:)``) and returns them.
    ///
    /// Each object is examined again, through the descriptor that is then compared with the
    /// name, right before it is unlinked; one that gained a live participant or was replaced in
    /// the meantime is left alone. Processes that still have a removed object mapped keep using
    /// it.
    /// - Throws: ``SharedMemoryError`` if the directory cannot be read.
    @discardableResult
    public static func removeStaleObjects(includeUnused: Bool = false) throws(SharedMemoryError) -> [StaleObject] {
        var removed: [StaleObject] = []
        for object in try staleObjects(includeUnused: includeUnused) {
            if object.reason == .abandonedTemporaryFile {
                if (try? FileSystem.unlink(object.path)) != nil { removed.append(object) }
                continue
            }
            guard let fd = try? FileSystem.open(object.path, flags: O_RDONLY) else { continue }
            defer { FileSystem.close(fd) }
            // Re-check through this descriptor, so the decision and the unlink concern one file.
            guard let info = try? inspect(named: object.name),
                staleness(of: info, includeUnused: includeUnused) != nil,
                SharedMemory.unlink(object.path, ifSameFileAs: fd)
            else { continue }
            removed.append(object)
        }
        return removed
    }

    static func staleness(of info: SharedObjectInfo, includeUnused: Bool) -> StaleObject.Reason? {
        if case .failure(.creatorDiedDuringInitialization) = info.header { return .creatorDiedDuringInitialization }
        guard case .success = info.header else { return nil }  // broken objects are for a human
        if info.participants.contains(where: \.isAlive) { return nil }
        if !info.participants.isEmpty { return .allParticipantsDead(count: info.participants.count) }
        return includeUnused ? .unused : nil
    }

    /// The creator pid of a temporary file name `.interprocess-tmp-PID-N`, or `nil`.
    static func temporaryFileOwner(_ file: String) -> Int32? {
        let prefix = ".interprocess-tmp-"
        guard file.hasPrefix(prefix) else { return nil }
        return file.dropFirst(prefix.count).split(separator: "-").first.flatMap { Int32($0) }
    }
}
