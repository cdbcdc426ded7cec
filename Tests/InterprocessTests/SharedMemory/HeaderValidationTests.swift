import Foundation
import Glibc
import Testing

@_spi(Layout) @testable import Interprocess

/// Openers must turn every damaged or foreign header into its own typed error, never a crash.
@Suite struct HeaderValidationTests {
    /// Reads the first `count` bytes of the file at `path`.
    func fileBytes(_ path: String, count: Int = HeaderLayout.size) throws -> [UInt8] {
        let handle = try #require(FileHandle(forReadingAtPath: path))
        defer { try? handle.close() }
        return Array(try #require(try handle.read(upToCount: count)))
    }

    /// Maps the header of the file at `path`, lets `body` edit it, and recomputes the checksum,
    /// as a buggy or hostile writer that knows the format would.
    func rewriteHeader(_ path: String, _ body: (UnsafeMutableRawPointer) -> Void) throws {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        try #require(fd >= 0)
        defer { close(fd) }
        let mapping = try #require(mmap(nil, HeaderLayout.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0))
        try #require(mapping != MAP_FAILED)
        defer { munmap(mapping, HeaderLayout.size) }
        body(mapping)
        let checksum = HeaderLayout.checksum(of: UnsafeRawBufferPointer(start: mapping, count: HeaderLayout.size))
        mapping.storeBytes(of: checksum, toByteOffset: HeaderLayout.checksum, as: UInt64.self)
    }

    /// Creates an array of 4 `Int`s (total size 8192) and returns its name and path.
    func makeArray(_ test: String = #function) throws -> (name: String, path: String) {
        let name = uniqueName(test)
        _ = try SharedArray<Int>(named: name, count: 4, initialValue: 1, mode: .create)
        return (name, backingPath(name))
    }

    /// The on-disk layout, in numbers: the one place they are written out. Every other test
    /// (and the library) names them through `HeaderLayout`, which this pins.
    @Test func layoutIsPinned() throws {
        let named: [(Int, Int, String)] = [
            (HeaderLayout.magic, 0, "magic"), (HeaderLayout.state, 8, "state"), (HeaderLayout.version, 12, "version"),
            (HeaderLayout.headerSize, 16, "header size"), (HeaderLayout.kind, 20, "kind"),
            (HeaderLayout.totalSize, 24, "total size"), (HeaderLayout.payloadSize, 32, "payload size"),
            (HeaderLayout.capacity, 40, "capacity"), (HeaderLayout.creatorPID, 48, "creator pid"),
            (HeaderLayout.flags, 52, "flags"), (HeaderLayout.creatorStart, 56, "creator start"),
            (HeaderLayout.creationTime, 64, "creation time"), (HeaderLayout.elementSize, 72, "element size"),
            (HeaderLayout.elementStride, 76, "element stride"), (HeaderLayout.elementAlignment, 80, "alignment"),
            (HeaderLayout.elementNameLength, 84, "name length"), (HeaderLayout.elementName, 88, "name"),
            (HeaderLayout.kindParameters, 152, "kind parameters"),
            (HeaderLayout.kindLayoutVersion, 184, "kind layout version"), (HeaderLayout.checksum, 192, "checksum"),
            (HeaderLayout.checksummedBytes, 192, "checksummed bytes"),
            (HeaderLayout.participantsChanged, 256, "participant-table change word"),
            (HeaderLayout.senderRoleByte, 1024, "sender role"),
            (HeaderLayout.receiverRoleByte, 1025, "receiver role"), (HeaderLayout.removalByte, 1026, "removal"),
            (HeaderLayout.participantTable, 1088, "participant table"),
            (HeaderLayout.participantSlotSize, 64, "slot size"), (HeaderLayout.participantSlotCount, 47, "slots"),
            (HeaderLayout.size, 4096, "header")
        ]
        for (constant, pinned, label) in named { #expect(constant == pinned, "\(label)") }
        #expect(ObjectLocks.headerRange == (1024, 4096 - 1024))

        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        let bytes = try fileBytes(path)
        func load<T: FixedWidthInteger>(_ offset: Int, as: T.Type) -> T {
            bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
        }
        #expect(Array(bytes[0..<8]) == Array("IPCSEG".utf8) + [0, 1])
        #expect(load(8, as: UInt32.self) == 2, "state ready")
        #expect(load(12, as: UInt32.self) == 3, "layout version")
        #expect(load(16, as: UInt32.self) == 4096, "header size")
        #expect(load(20, as: UInt32.self) == ObjectKind.array.rawValue)
        #expect(load(24, as: UInt64.self) == 8192, "total size")
        #expect(load(32, as: UInt64.self) == 32, "payload size")
        #expect(load(40, as: UInt64.self) == 4, "capacity")
        #expect(load(48, as: Int32.self) == getpid())
        #expect(load(52, as: UInt32.self) == 0, "flags")
        #expect(load(56, as: UInt64.self) == ProcessIdentity.current.startTime)
        #expect(load(64, as: Int64.self) > 1_600_000_000 * 1_000_000_000, "creation time after 2020")
        #expect(load(72, as: UInt32.self) == 8 && load(76, as: UInt32.self) == 8 && load(80, as: UInt32.self) == 8)
        #expect(load(84, as: UInt32.self) == UInt32("Swift.Int".utf8.count))
        #expect(Array(bytes[88..<97]) == Array("Swift.Int".utf8))
        #expect(bytes[97..<184].allSatisfy { $0 == 0 }, "name padding, no kind parameters")
        #expect(load(184, as: UInt32.self) == 1, "the array's layout version")
        #expect(load(188, as: UInt32.self) == 0, "reserved")
        #expect(bytes[200..<256].allSatisfy { $0 == 0 }, "reserved bytes")
        // The change word: the creator's opener registration and its end, nobody asleep on it.
        #expect(load(256, as: UInt32.self) == 2, "participant-table changes")
        #expect(load(260, as: UInt32.self) == 0, "change word sleepers")
        #expect(bytes[264..<1088].allSatisfy { $0 == 0 }, "reserved bytes")
        // Participant slot 0: the creator's registration as an opener, already ended (the array
        // was released), so its state is free while the fields it wrote remain.
        #expect(load(1088, as: UInt32.self) == 0, "slot 0 free again")
        #expect(load(1092, as: UInt32.self) == ParticipantRole.opener.rawValue)
        #expect(load(1096, as: Int32.self) == getpid())
        #expect(bytes[(1088 + 64)..<4096].allSatisfy { $0 == 0 }, "other slots free")
        #expect(try fileMode(path) == 0o600)
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_size == 8192)
    }

    /// Every kind's payload layout version, pinned: a change of a kind's payload bumps it here.
    @Test func kindLayoutVersionsArePinned() {
        for kind in [ObjectKind.segment, .mutex, .semaphore, .event, .array, .channel, .byteChannel] {
            #expect(kind.layoutVersion == 1, "\(kind)")
        }
        #expect(ObjectKind.condition.layoutVersion == 2)
        #expect(ObjectKind(rawValue: 999).layoutVersion == 0)
    }

    /// An object whose kind's payload layout another build wrote (checksum recomputed, the header
    /// otherwise valid) is refused with both versions named; inspection still shows it.
    @Test(arguments: [UInt32(0), 2, .max])
    func otherKindLayoutVersionIsUnsupported(version: UInt32) throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        try rewriteHeader(path) {
            $0.storeBytes(of: version, toByteOffset: HeaderLayout.kindLayoutVersion, as: UInt32.self)
        }
        let expected = SharedMemoryError.invalidHeader(
            name: name,
            .unsupportedKindLayoutVersion(kind: .array, found: version, supported: ObjectKind.array.layoutVersion))
        #expect(sharedMemoryError { _ = try SharedArray<Int>(named: name) } == expected)
        #expect(expected.description.contains("array of layout version \(version)"))
        #expect(expected.description.contains("array layout version 1"))
        // Raw access to an object of any kind does not interpret the payload.
        #expect(try SharedMemory(existing: name).kind == .array)
        guard case .success(let header) = try SharedObjectRegistry.inspect(named: name).header else {
            Issue.record("inspect refused the header")
            return
        }
        #expect(header.kindLayoutVersion == version)
    }

    /// The same for channels, whose ring is what a kind version protects: sender and receiver
    /// refuse it as a segment error.
    @Test(arguments: [ObjectKind.channel, .byteChannel])
    func channelOfAnotherLayoutVersionIsRefused(kind: ObjectKind) throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        if kind == .channel {
            try ChannelReceiver<Int>.createChannel(named: name, capacity: 4)
        } else {
            try ByteChannelReceiver.createChannel(named: name, bufferSize: 256, maximumMessageSize: 16)
        }
        try rewriteHeader(backingPath(name)) {
            $0.storeBytes(of: UInt32(7), toByteOffset: HeaderLayout.kindLayoutVersion, as: UInt32.self)
        }
        let expected = ChannelError.segment(
            .invalidHeader(
                name: name, .unsupportedKindLayoutVersion(kind: kind, found: 7, supported: kind.layoutVersion)))
        #expect(throws: expected) {
            if kind == .channel {
                _ = try ChannelSender<Int>(named: name, mode: .open)
            } else {
                _ = try ByteChannelSender(named: name, mode: .open)
            }
        }
        #expect(throws: expected) {
            if kind == .channel {
                _ = try ChannelReceiver<Int>(named: name, mode: .open)
            } else {
                _ = try ByteChannelReceiver(named: name, mode: .open)
            }
        }
    }

    @Test func overwrittenMagicIsBadMagic() throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        try overwrite(path, at: HeaderLayout.magic, with: Array("garbage!".utf8))
        #expect(sharedMemoryError { _ = try SharedArray<Int>(named: name) } == .invalidHeader(name: name, .badMagic))
        #expect(
            sharedMemoryError { _ = try SharedMemory(named: name, mode: .open, size: nil) }
                == .invalidHeader(name: name, .badMagic))
    }

    @Test func foreignFileIsBadMagic() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        try Data(repeating: 0xAB, count: 8192).write(to: URL(fileURLWithPath: backingPath(name)))
        #expect(
            sharedMemoryError { _ = try SharedMemory(named: name, mode: .open, size: nil) }
                == .invalidHeader(name: name, .badMagic))
        #expect(
            sharedMemoryError { _ = try SharedMemory(named: name, mode: .openOrCreate, size: 8) }
                == .invalidHeader(name: name, .badMagic))
        // `.create` does not touch it either.
        #expect(
            sharedMemoryError { _ = try SharedMemory(named: name, mode: .create, size: 8) }
                == .alreadyExists(name: name))
        #expect(try fileBytes(backingPath(name), count: 16) == [UInt8](repeating: 0xAB, count: 16))
    }

    @Test(arguments: [UInt32(0), 1, 2, 4, 99, .max])
    func otherVersionIsUnsupported(version: UInt32) throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        try overwrite(path, at: HeaderLayout.version, value: version)
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name) }
                == .invalidHeader(name: name, .unsupportedVersion(found: version, supported: 3)))
    }

    /// Checksummed fields changed without updating the checksum.
    static let checksummedEdits: [(Int, UInt64)] = [
        (HeaderLayout.kind, UInt64(ObjectKind.mutex.rawValue)), (HeaderLayout.totalSize, 1 << 40),
        (HeaderLayout.payloadSize, 4096), (HeaderLayout.capacity, 5), (HeaderLayout.capacity, .max),
        (HeaderLayout.creatorPID, 1), (HeaderLayout.elementName, 0x41), (HeaderLayout.kindParameters + 8, 1),
        (HeaderLayout.kindLayoutVersion, 2), (HeaderLayout.checksum, 0)
    ]

    /// The checksummed fields that are 32 bits wide (the others are written as 64 bits).
    static let narrowFields: Set<Int> = [
        HeaderLayout.kind, HeaderLayout.creatorPID, HeaderLayout.elementName, HeaderLayout.kindParameters + 8,
        HeaderLayout.kindLayoutVersion
    ]

    @Test(arguments: checksummedEdits)
    func changedChecksummedFieldIsCorruptHeader(offset: Int, value: UInt64) throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        if Self.narrowFields.contains(offset) {
            try overwrite(path, at: offset, value: UInt32(truncatingIfNeeded: value))
        } else {
            try overwrite(path, at: offset, value: value)
        }
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name) }
                == .invalidHeader(name: name, .corrupt("checksum mismatch")))
    }

    @Test func inconsistentFieldsWithAValidChecksumAreCorruptHeader() throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        let edits: [(String, (UnsafeMutableRawPointer) -> Void)] = [
            ("header size", { $0.storeBytes(of: UInt32(512), toByteOffset: HeaderLayout.headerSize, as: UInt32.self) }),
            (
                "sizes out of range",
                { $0.storeBytes(of: UInt64(1 << 20), toByteOffset: HeaderLayout.payloadSize, as: UInt64.self) }
            ),
            (
                "sizes out of range",
                { $0.storeBytes(of: UInt64.max, toByteOffset: HeaderLayout.totalSize, as: UInt64.self) }
            ),
            (
                "element name length",
                { $0.storeBytes(of: UInt32(65), toByteOffset: HeaderLayout.elementNameLength, as: UInt32.self) }
            ),
            ("payload of", { $0.storeBytes(of: UInt64(1_000), toByteOffset: HeaderLayout.capacity, as: UInt64.self) })
        ]
        // The checksummed fields and the checksum.
        let original = try fileBytes(path, count: HeaderLayout.checksum + 8)
        for (fragment, edit) in edits {
            try overwrite(path, at: 0, with: original)
            try rewriteHeader(path, edit)
            let error = sharedMemoryError { _ = try SharedArray<Int>(named: name) }
            guard case let .invalidHeader(reportedName, .corrupt(detail))? = error else {
                Issue.record("\(fragment): expected corruptHeader, got \(String(describing: error))")
                continue
            }
            #expect(reportedName == name)
            #expect(detail.contains(fragment), "\(detail)")
        }
        // The untouched header still opens.
        try overwrite(path, at: 0, with: original)
        #expect(try SharedArray<Int>(named: name).elements == [1, 1, 1, 1])
    }

    @Test func payloadTooSmallForASynchronizationObjectIsCorruptHeader() throws {
        // A valid-looking header that promises fewer payload bytes than a mutex occupies must
        // not let the opener touch memory past the payload.
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try ProcessMutex(named: name, mode: .create)
        try rewriteHeader(backingPath(name)) {
            $0.storeBytes(of: UInt64(8), toByteOffset: HeaderLayout.payloadSize, as: UInt64.self)
        }
        let error = sharedMemoryError { _ = try ProcessMutex(named: name, mode: .open) }
        guard case let .invalidHeader(_, .corrupt(detail))? = error else {
            Issue.record("expected corruptHeader, got \(String(describing: error))")
            return
        }
        #expect(detail.contains("payload of 8 bytes"))
    }

    @Test func totalSizeBeyondTheFileIsTruncated() throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        try rewriteHeader(path) {
            $0.storeBytes(of: UInt64(3 * 4096), toByteOffset: HeaderLayout.totalSize, as: UInt64.self)
        }
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name) }
                == .invalidHeader(name: name, .truncated(expectedBytes: 3 * 4096, actualBytes: 8192)))
    }

    @Test(arguments: [0, 1, 100, 4095])
    func fileShorterThanAHeaderIsTruncated(length: Int) throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        #expect(truncate(path, off_t(length)) == 0)
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name) }
                == .invalidHeader(name: name, .truncated(expectedBytes: 4096, actualBytes: length)))
        #expect(
            sharedMemoryError { _ = try SharedMemory(named: name, mode: .open, size: nil) }
                == .invalidHeader(name: name, .truncated(expectedBytes: 4096, actualBytes: length)))
    }

    @Test(arguments: [4096, 5000, 8191])
    func fileShorterThanItsTotalSizeIsTruncated(length: Int) throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        #expect(truncate(path, off_t(length)) == 0)
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name) }
                == .invalidHeader(name: name, .truncated(expectedBytes: 8192, actualBytes: length)))
    }

    @Test func wrongKindIsKindMismatch() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try ProcessMutex(named: name, mode: .create)
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name) }
                == .mismatch(name: name, .kind(expected: .array, found: .mutex)))
        #expect(
            sharedMemoryError { _ = try ProcessSemaphore(named: name) }
                == .mismatch(name: name, .kind(expected: .semaphore, found: .mutex)))
        #expect(
            sharedMemoryError { _ = try ProcessCondition(named: name, mode: .open) }
                == .mismatch(name: name, .kind(expected: .condition, found: .mutex)))
        #expect(
            sharedMemoryError { _ = try ProcessEvent(named: name) }
                == .mismatch(name: name, .kind(expected: .event, found: .mutex)))
        #expect(
            sharedMemoryError { _ = try SharedMemory(named: name, mode: .open, size: nil) }
                == .mismatch(name: name, .kind(expected: .segment, found: .mutex)))
        // The mutex is still fine.
        let mutex = try ProcessMutex(named: name, mode: .open)
        #expect(try mutex.lock() == .acquired)
        try mutex.unlock()
    }

    @Test func unknownKindIsReportedNotTrapped() throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        try rewriteHeader(path) { $0.storeBytes(of: UInt32(999), toByteOffset: HeaderLayout.kind, as: UInt32.self) }
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name) }
                == .mismatch(name: name, .kind(expected: .array, found: ObjectKind(rawValue: 999))))
        #expect(ObjectKind(rawValue: 999).description == "unknown kind 999")
    }

    @Test func stillInitializingByALiveCreatorTimesOut() throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        // The checksum excludes the state word: only the state changes.
        try overwrite(path, at: HeaderLayout.state, value: UInt32(1))
        let start = Deadline.now
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name, timeout: .milliseconds(100)) }
                == .stillInitializing(name: name))
        let elapsed = millisecondsSince(start)
        #expect(elapsed >= 100)
        #expect(elapsed < 5_000)
        // A zero timeout reports the state at once.
        #expect(
            sharedMemoryError { _ = try SharedMemory(named: name, mode: .open, size: nil, timeout: .zero) }
                == .stillInitializing(name: name))
    }

    @Test func uninitializedStateAlsoWaits() throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        try overwrite(path, at: HeaderLayout.state, value: UInt32(0))
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name, timeout: .milliseconds(30)) }
                == .stillInitializing(name: name))
    }

    @Test func openerWaitsUntilTheCreatorMarksReady() throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        try overwrite(path, at: HeaderLayout.state, value: UInt32(1))
        let finisher = TestThread {
            usleep(50_000)
            try? overwrite(path, at: HeaderLayout.state, value: UInt32(2))
        }
        defer { finisher.join() }
        let start = Deadline.now
        let array = try SharedArray<Int>(named: name, timeout: .seconds(10))
        #expect(array.elements == [1, 1, 1, 1])
        #expect(millisecondsSince(start) >= 40)
    }

    @Test func creatorWithWrongStartTimeDiedDuringInitialization() throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        let me = ProcessIdentity.current
        try overwrite(path, at: HeaderLayout.state, value: UInt32(1))
        try overwrite(path, at: HeaderLayout.creatorStart, value: me.startTime + 1)
        let start = Deadline.now
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name, timeout: .seconds(10)) }
                == .creatorDiedDuringInitialization(
                    name: name, creator: ProcessIdentity(pid: me.pid, startTime: me.startTime + 1)))
        #expect(millisecondsSince(start) < 5_000, "a dead creator is noticed without waiting for the timeout")
    }

    @Test func exitedChildCreatorDiedDuringInitialization() throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let pid = child.processIdentifier

        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        try overwrite(path, at: HeaderLayout.state, value: UInt32(1))
        try overwrite(path, at: HeaderLayout.creatorPID, value: pid)
        try overwrite(path, at: HeaderLayout.creatorStart, value: UInt64(0))
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name, timeout: .seconds(10)) }
                == .creatorDiedDuringInitialization(name: name, creator: ProcessIdentity(pid: pid, startTime: 0)))
    }

    static let badStates: [(UInt32, String)] = [(3, "poisoned"), (4, "state word 4"), (.max, "state word")]

    @Test(arguments: badStates)
    func poisonedOrUnknownStateIsCorruptHeader(state: UInt32, fragment: String) throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        try overwrite(path, at: HeaderLayout.state, value: state)
        let error = sharedMemoryError { _ = try SharedArray<Int>(named: name, timeout: .seconds(10)) }
        guard case let .invalidHeader(_, .corrupt(detail))? = error else {
            Issue.record("expected corruptHeader, got \(String(describing: error))")
            return
        }
        #expect(detail.contains(fragment))
    }
}
