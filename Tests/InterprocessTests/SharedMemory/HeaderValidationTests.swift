import Foundation
import Glibc
import Testing

@testable import Interprocess

/// Openers must turn every damaged or foreign header into its own typed error, never a crash.
@Suite struct HeaderValidationTests {
    /// Reads the first `count` bytes of the file at `path`.
    func fileBytes(_ path: String, count: Int = 4096) throws -> [UInt8] {
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
        let mapping = try #require(mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0))
        try #require(mapping != MAP_FAILED)
        defer { munmap(mapping, 4096) }
        body(mapping)
        let header = SegmentHeader(base: mapping)
        mapping.storeBytes(of: header.computeChecksum(), toByteOffset: SegmentHeader.Offset.checksum, as: UInt64.self)
    }

    /// Creates an array of 4 `Int`s (total size 8192) and returns its name and path.
    func makeArray(_ test: String = #function) throws -> (name: String, path: String) {
        let name = uniqueName(test)
        _ = try SharedArray<Int>(named: name, count: 4, initialValue: 1, mode: .create)
        return (name, backingPath(name))
    }

    @Test func layoutIsPinned() throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        let bytes = try fileBytes(path)
        func load<T: FixedWidthInteger>(_ offset: Int, as: T.Type) -> T {
            bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
        }
        #expect(Array(bytes[0..<8]) == Array("IPCSEG".utf8) + [0, 1])
        #expect(load(8, as: UInt32.self) == 2, "state ready")
        #expect(load(12, as: UInt32.self) == 2, "layout version")
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
        #expect(bytes[97..<152].allSatisfy { $0 == 0 })
        #expect(bytes[192..<1088].allSatisfy { $0 == 0 }, "reserved bytes")
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

    @Test func overwrittenMagicIsBadMagic() throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        try overwrite(path, at: 0, with: Array("garbage!".utf8))
        #expect(sharedMemoryError { _ = try SharedArray<Int>(named: name) } == .badMagic(name: name))
        #expect(sharedMemoryError { _ = try SharedMemory(named: name, mode: .open, size: nil) } == .badMagic(name: name))
    }

    @Test func foreignFileIsBadMagic() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        try Data(repeating: 0xAB, count: 8192).write(to: URL(fileURLWithPath: backingPath(name)))
        #expect(sharedMemoryError { _ = try SharedMemory(named: name, mode: .open, size: nil) } == .badMagic(name: name))
        #expect(sharedMemoryError { _ = try SharedMemory(named: name, mode: .openOrCreate, size: 8) } == .badMagic(name: name))
        // `.create` does not touch it either.
        #expect(sharedMemoryError { _ = try SharedMemory(named: name, mode: .create, size: 8) } == .alreadyExists(name: name))
        #expect(try fileBytes(backingPath(name), count: 16) == [UInt8](repeating: 0xAB, count: 16))
    }

    @Test(arguments: [UInt32(0), 1, 3, 99, .max])
    func otherVersionIsUnsupported(version: UInt32) throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        try overwrite(path, at: 12, value: version)
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name) }
                == .unsupportedVersion(name: name, found: version, supported: 2))
    }

    /// Checksummed fields changed without updating the checksum.
    static let checksummedEdits: [(Int, UInt64)] = [
        (20, UInt64(ObjectKind.mutex.rawValue)), (24, 1 << 40), (32, 4096), (40, 5), (40, .max), (48, 1), (88, 0x41),
        (160, 1), (184, 0),
    ]

    @Test(arguments: checksummedEdits)
    func changedChecksummedFieldIsCorruptHeader(offset: Int, value: UInt64) throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        if offset == 20 || offset == 48 || offset == 88 || offset == 160 {
            try overwrite(path, at: offset, value: UInt32(truncatingIfNeeded: value))
        } else {
            try overwrite(path, at: offset, value: value)
        }
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name) }
                == .corruptHeader(name: name, detail: "checksum mismatch"))
    }

    @Test func inconsistentFieldsWithAValidChecksumAreCorruptHeader() throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        let edits: [(String, (UnsafeMutableRawPointer) -> Void)] = [
            ("header size", { $0.storeBytes(of: UInt32(512), toByteOffset: 16, as: UInt32.self) }),
            ("sizes out of range", { $0.storeBytes(of: UInt64(1 << 20), toByteOffset: 32, as: UInt64.self) }),
            ("sizes out of range", { $0.storeBytes(of: UInt64.max, toByteOffset: 24, as: UInt64.self) }),
            ("element name length", { $0.storeBytes(of: UInt32(65), toByteOffset: 84, as: UInt32.self) }),
            ("payload of", { $0.storeBytes(of: UInt64(1_000), toByteOffset: 40, as: UInt64.self) }),
        ]
        let original = try fileBytes(path, count: 192)
        for (fragment, edit) in edits {
            try overwrite(path, at: 0, with: original)
            try rewriteHeader(path, edit)
            let error = sharedMemoryError { _ = try SharedArray<Int>(named: name) }
            guard case let .corruptHeader(reportedName, detail)? = error else {
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
        try rewriteHeader(backingPath(name)) { $0.storeBytes(of: UInt64(8), toByteOffset: 32, as: UInt64.self) }
        let error = sharedMemoryError { _ = try ProcessMutex(named: name, mode: .open) }
        guard case let .corruptHeader(_, detail)? = error else {
            Issue.record("expected corruptHeader, got \(String(describing: error))")
            return
        }
        #expect(detail.contains("payload of 8 bytes"))
    }

    @Test func totalSizeBeyondTheFileIsTruncated() throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        try rewriteHeader(path) { $0.storeBytes(of: UInt64(3 * 4096), toByteOffset: 24, as: UInt64.self) }
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name) }
                == .truncated(name: name, expectedBytes: 3 * 4096, actualBytes: 8192))
    }

    @Test(arguments: [0, 1, 100, 4095])
    func fileShorterThanAHeaderIsTruncated(length: Int) throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        #expect(truncate(path, off_t(length)) == 0)
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name) }
                == .truncated(name: name, expectedBytes: 4096, actualBytes: length))
        #expect(
            sharedMemoryError { _ = try SharedMemory(named: name, mode: .open, size: nil) }
                == .truncated(name: name, expectedBytes: 4096, actualBytes: length))
    }

    @Test(arguments: [4096, 5000, 8191])
    func fileShorterThanItsTotalSizeIsTruncated(length: Int) throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        #expect(truncate(path, off_t(length)) == 0)
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name) }
                == .truncated(name: name, expectedBytes: 8192, actualBytes: length))
    }

    @Test func wrongKindIsKindMismatch() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try ProcessMutex(named: name, mode: .create)
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name) }
                == .kindMismatch(name: name, expected: .array, found: .mutex))
        #expect(
            sharedMemoryError { _ = try ProcessSemaphore(named: name) }
                == .kindMismatch(name: name, expected: .semaphore, found: .mutex))
        #expect(
            sharedMemoryError { _ = try ProcessCondition(named: name, mode: .open) }
                == .kindMismatch(name: name, expected: .condition, found: .mutex))
        #expect(
            sharedMemoryError { _ = try ProcessEvent(named: name) }
                == .kindMismatch(name: name, expected: .event, found: .mutex))
        #expect(
            sharedMemoryError { _ = try SharedMemory(named: name, mode: .open, size: nil) }
                == .kindMismatch(name: name, expected: .segment, found: .mutex))
        // The mutex is still fine.
        let mutex = try ProcessMutex(named: name, mode: .open)
        #expect(try mutex.lock() == .acquired)
        try mutex.unlock()
    }

    @Test func unknownKindIsReportedNotTrapped() throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        try rewriteHeader(path) { $0.storeBytes(of: UInt32(999), toByteOffset: 20, as: UInt32.self) }
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name) }
                == .kindMismatch(name: name, expected: .array, found: ObjectKind(rawValue: 999)))
        #expect(ObjectKind(rawValue: 999).description == "unknown kind 999")
    }

    @Test func stillInitializingByALiveCreatorTimesOut() throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        // The checksum excludes the state word: only the state changes.
        try overwrite(path, at: 8, value: UInt32(1))
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
        try overwrite(path, at: 8, value: UInt32(0))
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name, timeout: .milliseconds(30)) }
                == .stillInitializing(name: name))
    }

    @Test func openerWaitsUntilTheCreatorMarksReady() throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        try overwrite(path, at: 8, value: UInt32(1))
        let finisher = TestThread {
            usleep(50_000)
            try? overwrite(path, at: 8, value: UInt32(2))
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
        try overwrite(path, at: 8, value: UInt32(1))
        try overwrite(path, at: 56, value: me.startTime + 1)
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
        try overwrite(path, at: 8, value: UInt32(1))
        try overwrite(path, at: 48, value: pid)
        try overwrite(path, at: 56, value: UInt64(0))
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name, timeout: .seconds(10)) }
                == .creatorDiedDuringInitialization(name: name, creator: ProcessIdentity(pid: pid, startTime: 0)))
    }

    static let badStates: [(UInt32, String)] = [(3, "poisoned"), (4, "state word 4"), (.max, "state word")]

    @Test(arguments: badStates)
    func poisonedOrUnknownStateIsCorruptHeader(state: UInt32, fragment: String) throws {
        let (name, path) = try makeArray()
        defer { removeQuietly(name) }
        try overwrite(path, at: 8, value: state)
        let error = sharedMemoryError { _ = try SharedArray<Int>(named: name, timeout: .seconds(10)) }
        guard case let .corruptHeader(_, detail)? = error else {
            Issue.record("expected corruptHeader, got \(String(describing: error))")
            return
        }
        #expect(detail.contains(fragment))
    }
}
