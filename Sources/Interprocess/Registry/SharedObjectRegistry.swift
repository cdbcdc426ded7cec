import SystemPackage

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
            // An object removed between readdir and inspection is simply skipped; everything
            // else is listed, unreadable or not.
            if let info = try? inspect(named: name.rawValue) { result.append(info) }
        }
        return result.sorted { $0.name < $1.name }
    }

    /// Describes the object `name` without modifying it: a read-only mapping of the header
    /// (and of the few channel slots, or the topic records and queue heads, inspection reads),
    /// never populated: only the pages read
    /// are faulted in.
    ///
    /// A sparse file (fewer bytes allocated than its length, which Interprocess never creates)
    /// is not mapped at all: its ``SharedObjectInfo/header`` is
    /// ``SharedMemoryError/notFullyAllocated(name:allocatedBytes:length:)``.
    ///
    /// The directory entry is examined without following a link or opening anything that is
    /// not a regular file, so a planted symbolic link, FIFO or device is reported, never
    /// followed or blocked on. What cannot be read is reported in the result's
    /// ``SharedObjectInfo/header`` (``SharedMemoryError/notARegularFile(name:fileType:)``,
    /// ``SharedMemoryError/permissionDenied(name:)``, a broken header), not thrown.
    /// - Throws: ``SharedMemoryError/notFound(name:)`` or ``SharedMemoryError/invalidName(_:reason:)``.
    public static func inspect(named name: String) throws(SharedMemoryError) -> SharedObjectInfo {
        let segmentName = try SegmentName(name)
        let path = segmentName.path(in: SharedMemory.directory)
        let (entry, st) = try SharedMemory.examineEntry(path: path, name: name)
        defer { FileSystem.close(entry) }
        func unreadable(_ error: SharedMemoryError) -> SharedObjectInfo {
            SharedObjectInfo(
                name: name, path: path, fileSize: st.size,
                permissions: FilePermissions(rawValue: st.permissionBits), ownerUserID: st.ownerUserID,
                header: .failure(error), participants: [], channel: nil, topic: nil, service: nil,
                liveRegistrations: [:],
                isInUse: false)
        }
        guard st.isRegularFile else {
            return unreadable(.notARegularFile(name: name, fileType: st.type.description))
        }
        let fd: Int32
        do { fd = try FileSystem.reopen(entry, access: .readOnly) } catch {
            return unreadable(SharedMemoryError.from(error, name: name, operation: "open"))
        }
        defer { FileSystem.close(fd) }
        let size = st.size
        // A sparse file is reported, never mapped: the opener refuses it, and reading its holes
        // would allocate them (on tmpfs, a read fault allocates a page too).
        let (header, participants, channel):
            (Result<SharedObjectInfo.Header, SharedMemoryError>, [Participant], ChannelState?)
        var topic: TopicState? = nil
        var service: ServiceState? = nil
        do throws(SharedMemoryError) {
            try SegmentHeader.checkFullyAllocated(st, name: name)
            (header, participants, channel) = readHeader(fd: fd, name: name, fileSize: size)
            if case .success(let fields) = header {
                topic = TopicState.read(fields, fd: fd, fileSize: size)
                service = ServiceState.read(fields, fd: fd, fileSize: size)
            }
        } catch {
            (header, participants, channel) = (.failure(error), [], nil)
        }
        // This descriptor holds no locks, so every write lock found belongs to a live user.
        var live: [ParticipantRole: Int] = [:]
        for role in [ParticipantRole.opener, .sender, .receiver, .publisher, .subscriber, .server, .client] {
            let range = ObjectLocks.presenceRange(of: role)
            let count = ObjectLocks.writeLockCount(fd, start: range.start, length: range.length)
            if count > 0 { live[role] = count }
        }
        var info = SharedObjectInfo(
            name: name, path: path, fileSize: size,
            permissions: FilePermissions(rawValue: st.permissionBits), ownerUserID: st.ownerUserID,
            header: header, participants: participants, channel: channel, topic: topic, service: service,
            liveRegistrations: live, isInUse: ObjectLocks.hasOtherLiveUser(fd))
        if case .success(let fields) = header, fields.kind == .blackboard,
            (try? SegmentHeader.checkFullyAllocated(st, name: name)) != nil
        {
            info.blackboard = BlackboardState.read(fields, fd: fd, fileSize: size)
        }
        return info
    }

    private static func readHeader(
        fd: Int32, name: String, fileSize: Int
    ) -> (Result<SharedObjectInfo.Header, SharedMemoryError>, [Participant], ChannelState?) {
        guard fileSize >= SegmentHeader.size else {
            return (
                .failure(
                    .invalidHeader(name: name, .truncated(expectedBytes: SegmentHeader.size, actualBytes: fileSize))),
                [], nil
            )
        }
        // The header, plus a channel's control words when the file has them.
        let length =
            fileSize >= SegmentHeader.size + ChannelLayout.controlSize
            ? SegmentHeader.size + ChannelLayout.controlSize : SegmentHeader.size
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
        let participants = ParticipantTable(base: mapping).read { index in ParticipantTable.slotIsLive(fd, index) }
        let channel =
            length > SegmentHeader.size
            ? ChannelState.read(fields, controlWords: mapping + SegmentHeader.size, fd: fd, fileSize: fileSize) : nil
        return (result, participants, channel)
    }

    static func decode(
        _ header: SegmentHeader, name: String, fileSize: Int
    ) -> Result<SharedObjectInfo.Header, SharedMemoryError> {
        do throws(SharedMemoryError) {
            // Never wait here: inspection reports the state as it is.
            let fields = try header.validated(name: name, mappedBytes: fileSize, expected: nil, deadline: .now)
            return .success(
                SharedObjectInfo.Header(
                    kind: fields.kind, layoutVersion: header.versionValue, kindLayoutVersion: fields.kindLayoutVersion,
                    totalSize: fields.totalSize,
                    payloadSize: fields.payloadSize, capacity: fields.capacity, elementType: fields.elementType,
                    creator: fields.creator, creatorIsAlive: fields.creator.isAlive,
                    creationTimeNanoseconds: fields.creationTime, kindParameters: fields.kindParameters,
                    lifetime: fields.lifetime))
        } catch {
            return .failure(error)
        }
    }
}
