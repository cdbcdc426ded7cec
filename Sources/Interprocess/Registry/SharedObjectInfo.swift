import Glibc
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

    /// The validated header fields of an object.
    public struct Header: Sendable {
        public let kind: ObjectKind
        public let layoutVersion: UInt32
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
    }
}

/// Finding and describing the objects in the shared-memory directory.
public enum SharedObjectRegistry {
    /// Every Interprocess object in ``SharedMemory/directory``, sorted by name.
    ///
    /// Objects whose header cannot be read are listed too, with the error: a listing must show
    /// what is broken, not hide it.
    /// - Throws: ``SharedMemoryError`` if the directory cannot be read.
    public static func list() throws(SharedMemoryError) -> [SharedObjectInfo] {
        let directory = SharedMemory.directory
        let names: [String]
        do { names = try FileSystem.entries(of: directory) } catch {
            throw SharedMemoryError.from(error, name: directory, operation: "opendir")
        }
        var result: [SharedObjectInfo] = []
        for file in names {
            guard let name = SegmentName(fileName: file) else { continue }
            // An object removed between readdir and inspection is simply skipped.
            if let info = try? inspect(named: name.rawValue) { result.append(info) }
        }
        return result.sorted { $0.name < $1.name }
    }

    /// Describes the object `name` without modifying it (read-only mapping, never populated:
    /// only the pages read are faulted in).
    ///
    /// A sparse file (fewer bytes allocated than its length, which Interprocess never creates)
    /// is not mapped at all: its ``SharedObjectInfo/header`` is
    /// ``SharedMemoryError/notFullyAllocated(name:allocatedBytes:length:)``.
    ///
    /// - Throws: ``SharedMemoryError/notFound(name:)``, ``SharedMemoryError/permissionDenied(name:)``
    ///   or ``SharedMemoryError/invalidName(_:reason:)``; a broken header is reported in the
    ///   result's ``SharedObjectInfo/header``, not thrown.
    public static func inspect(named name: String) throws(SharedMemoryError) -> SharedObjectInfo {
        let segmentName = try SegmentName(name)
        let path = segmentName.path(in: SharedMemory.directory)
        let fd: Int32
        do { fd = try FileSystem.open(path, flags: O_RDONLY) } catch {
            throw SharedMemoryError.from(error, name: name, operation: "open")
        }
        defer { FileSystem.close(fd) }
        let st: stat
        do { st = try FileSystem.status(fd) } catch {
            throw SharedMemoryError.from(error, name: name, operation: "fstat")
        }
        let size = Int(st.st_size)
        // A sparse file is reported, never mapped: the opener refuses it, and reading its holes
        // would allocate them (on tmpfs, a read fault allocates a page too).
        let (header, participants, channel): (Result<SharedObjectInfo.Header, SharedMemoryError>, [Participant], ChannelState?)
        do throws(SharedMemoryError) {
            try SharedMemory.checkFullyAllocated(st, name: name)
            (header, participants, channel) = readHeader(fd: fd, name: name, fileSize: size)
        } catch {
            (header, participants, channel) = (.failure(error), [], nil)
        }
        return SharedObjectInfo(
            name: name, path: path, fileSize: size,
            permissions: FilePermissions(rawValue: st.st_mode & 0o7777), ownerUserID: st.st_uid,
            header: header, participants: participants, channel: channel)
    }

    private static func readHeader(
        fd: Int32, name: String, fileSize: Int
    ) -> (Result<SharedObjectInfo.Header, SharedMemoryError>, [Participant], ChannelState?) {
        guard fileSize >= SegmentHeader.size else {
            return (.failure(.truncated(name: name, expectedBytes: SegmentHeader.size, actualBytes: fileSize)), [], nil)
        }
        // The header, plus a channel's control words when the file has them.
        let length = fileSize >= SegmentHeader.size + ChannelControl.controlSize
            ? SegmentHeader.size + ChannelControl.controlSize : SegmentHeader.size
        let mapping: UnsafeMutableRawPointer
        // Never populated: inspection reads the header and a few words, and must not fault in
        // (or, on tmpfs, allocate) pages it does not read.
        do { mapping = try FileSystem.map(fd, length: length, writable: false, pages: .onFirstTouch) } catch {
            return (.failure(SharedMemoryError.from(error, name: name, operation: "mmap")), [], nil)
        }
        defer { FileSystem.unmap(mapping, length: length) }
        let header = SegmentHeader(base: mapping)
        let result = decode(header, name: name, fileSize: fileSize)
        guard case .success(let fields) = result else { return (result, [], nil) }
        // This descriptor holds no locks, so every locked byte belongs to a live participant.
        let participants = ParticipantTable(base: mapping).read { index in
            (try? FileSystem.isLockedByOthers(fd, start: ParticipantTable.lockByte(index), length: 1)) == true
        }
        var channel: ChannelState? = nil
        if (fields.kind == .channel || fields.kind == .byteChannel) && length > SegmentHeader.size
            && fields.payloadSize >= ChannelControl.controlSize
        {
            // A typed SPSC channel's depth also needs a few of its slots: map the payload too
            // (read-only, nothing is populated but the pages the walk touches).
            let payloadBytes = min(fields.payloadSize, fileSize - SegmentHeader.size)
            if ChannelState.spscGeometry(fields, payloadBytes: payloadBytes) != nil,
                let whole = try? FileSystem.map(
                    fd, length: SegmentHeader.size + payloadBytes, writable: false, pages: .onFirstTouch)
            {
                defer { FileSystem.unmap(whole, length: SegmentHeader.size + payloadBytes) }
                channel = ChannelState.read(
                    kind: fields.kind, header: fields, payload: whole + SegmentHeader.size,
                    slots: (UnsafeRawPointer(whole + SegmentHeader.size), payloadBytes))
            } else {
                channel = ChannelState.read(kind: fields.kind, header: fields, payload: mapping + SegmentHeader.size)
            }
        }
        return (result, participants, channel)
    }

    private static func decode(
        _ header: SegmentHeader, name: String, fileSize: Int
    ) -> Result<SharedObjectInfo.Header, SharedMemoryError> {
        do throws(SharedMemoryError) {
            // Never wait here: inspection reports the state as it is.
            let fields = try SharedMemory.checkHeader(
                header, name: name, mappedBytes: fileSize, expected: nil, deadline: .now)
            return .success(
                SharedObjectInfo.Header(
                    kind: fields.kind, layoutVersion: header.versionValue, totalSize: fields.totalSize,
                    payloadSize: fields.payloadSize, capacity: fields.capacity, elementType: fields.elementType,
                    creator: fields.creator, creatorIsAlive: fields.creator.isAlive,
                    creationTimeNanoseconds: fields.creationTime, kindParameters: fields.kindParameters))
        } catch {
            return .failure(error)
        }
    }
}
