import Glibc
import Synchronization
import SystemPackage
import Testing

@testable import Interprocess

@Suite struct SharedMemoryTests {
    @Test func createThenOpenSharesBytes() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let created = try SharedMemory(named: name, mode: .create, size: 100)
        #expect(created.wasCreated)
        #expect(created.size == 100)
        #expect(created.capacity == 100)
        #expect(created.kind == .segment)
        #expect(created.elementType == .none)
        #expect(created.creator == ProcessIdentity.current)
        #expect(created.name?.rawValue == name)
        #expect(Int(bitPattern: created.bytes.baseAddress!) % 4096 == 0, "payload is page-aligned")
        #expect(created.bytes.allSatisfy { $0 == 0 }, "zero-filled")
        created.bytes.storeBytes(of: 0xDEAD_BEEF, toByteOffset: 8, as: UInt64.self)

        let opened = try SharedMemory(named: name, mode: .open, size: 100)
        #expect(!opened.wasCreated)
        #expect(opened.bytes.load(fromByteOffset: 8, as: UInt64.self) == 0xDEAD_BEEF)
        let any = try SharedMemory(named: name, mode: .open, size: nil)
        #expect(any.size == 100)
        let either = try SharedMemory(named: name, mode: .openOrCreate, size: 100)
        #expect(!either.wasCreated)
        // Writes through one mapping are seen through another.
        opened.bytes[99] = 7
        #expect(created.bytes[99] == 7)
    }

    @Test func initializerRunsForTheCreatorOnly() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let runs = Counter()
        let a = try SharedMemory(
            named: name, size: 8,
            initializer: {
                runs.increment()
                $0[0] = 42
            })
        let b = try SharedMemory(
            named: name, size: 8,
            initializer: {
                runs.increment()
                $0[0] = 13
            })
        #expect(a.wasCreated && !b.wasCreated)
        #expect(runs.current == 1)
        #expect(b.bytes[0] == 42)
    }

    @Test(arguments: [0, -1, -4096, Int.min])
    func nonPositiveSizeIsInvalid(size: Int) {
        let name = uniqueName()
        for mode in [SharedMemory.OpenMode.create, .open, .openOrCreate] {
            let error = sharedMemoryError { _ = try SharedMemory(named: name, mode: mode, size: size) }
            guard case let .invalidSize(reported, _)? = error else {
                Issue.record("expected invalidSize, got \(String(describing: error))")
                continue
            }
            #expect(reported == size)
        }
        #expect(!SharedMemory.exists(named: name))
    }

    @Test func hugeSizeIsInvalidOrInsufficient() {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let error = sharedMemoryError { _ = try SharedMemory(named: name, mode: .create, size: Int.max) }
        switch error {
        case .invalidSize?, .insufficientSpace?: break
        default: Issue.record("expected invalidSize or insufficientSpace, got \(String(describing: error))")
        }
        #expect(!SharedMemory.exists(named: name))
    }

    @Test func creatingNeedsASize() {
        let name = uniqueName()
        for mode in [SharedMemory.OpenMode.create, .openOrCreate] {
            guard case .invalidSize? = sharedMemoryError({ _ = try SharedMemory(named: name, mode: mode, size: nil) })
            else {
                Issue.record("expected invalidSize for \(mode)")
                continue
            }
        }
        #expect(!SharedMemory.exists(named: name))
    }

    @Test func openingAMissingNameIsNotFound() {
        let name = uniqueName()
        #expect(
            sharedMemoryError { _ = try SharedMemory(named: name, mode: .open, size: nil) } == .notFound(name: name))
        #expect(sharedMemoryError { _ = try SharedMemory(named: name, mode: .open, size: 10) } == .notFound(name: name))
        #expect(sharedMemoryError { _ = try SharedArray<Int>(named: name) } == .notFound(name: name))
        #expect(sharedMemoryError { _ = try ProcessMutex(named: name, mode: .open) } == .notFound(name: name))
        #expect(sharedMemoryError { try SharedMemory.remove(named: name) } == .notFound(name: name))
        #expect(!SharedMemory.exists(named: name))
    }

    @Test func createOnAnExistingNameIsAlreadyExists() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let first = try SharedMemory(named: name, mode: .create, size: 32)
        first.bytes[0] = 1
        #expect(
            sharedMemoryError { _ = try SharedMemory(named: name, mode: .create, size: 32) }
                == .alreadyExists(name: name))
        #expect(sharedMemoryError { _ = try ProcessMutex(named: name, mode: .create) } == .alreadyExists(name: name))
        // The existing object is untouched.
        #expect(try firstByte(ofSegment: name, size: 32) == 1)
    }

    @Test func openingWithAnotherSizeIsCapacityMismatch() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try SharedMemory(named: name, mode: .create, size: 32)
        #expect(
            sharedMemoryError { _ = try SharedMemory(named: name, mode: .openOrCreate, size: 64) }
                == .mismatch(name: name, .capacity(expected: 64, found: 32)))
        #expect(
            sharedMemoryError { _ = try SharedMemory(named: name, mode: .open, size: 16) }
                == .mismatch(name: name, .capacity(expected: 16, found: 32)))
    }

    @Test func defaultFileModeIs0600() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try SharedMemory(named: name, mode: .create, size: 8)
        #expect(try fileMode(backingPath(name)) == 0o600)
        _ = try ProcessMutex(named: name + ".m")
        defer { removeQuietly(name + ".m") }
        #expect(try fileMode(backingPath(name + ".m")) == 0o600)
    }

    @Test func explicitPermissionsAreAppliedExactly() throws {
        // The creation mode is filtered by the umask; the library sets the mode explicitly
        // afterwards, so the group-read bit must survive any umask (0022, 0077, …).
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try SharedMemory(named: name, mode: .create, size: 8, permissions: [.ownerReadWrite, .groupRead])
        #expect(try fileMode(backingPath(name)) == 0o640)
        let wide = name + ".wide"
        defer { removeQuietly(wide) }
        _ = try SharedArray<Int>(
            named: wide, count: 1, initialValue: 0, permissions: [.ownerReadWrite, .groupReadWrite, .otherRead])
        #expect(try fileMode(backingPath(wide)) == 0o664)
    }

    @Test func permissionsDoNotDependOnTheUmask() throws {
        // umask is process-wide, but every file the tests create through the library gets its
        // mode set explicitly, so narrowing it here for a moment cannot disturb parallel tests.
        let name = uniqueName()
        defer {
            removeQuietly(name + ".a")
            removeQuietly(name + ".b")
        }
        let previous = umask(0o077)
        let narrow = Result {
            try SharedMemory(named: name + ".a", mode: .create, size: 8, permissions: [.ownerReadWrite, .groupRead])
        }
        umask(0o000)
        let open = Result { try SharedMemory(named: name + ".b", mode: .create, size: 8) }
        umask(previous)
        _ = try narrow.get()
        _ = try open.get()
        #expect(try fileMode(backingPath(name + ".a")) == 0o640, "umask 077 must not remove group read")
        #expect(try fileMode(backingPath(name + ".b")) == 0o600, "umask 000 must not widen the default")
    }

    static var sharedMemoryDirectoryBytes: UInt64 {
        var info = statvfs()
        guard statvfs(SharedMemory.directory, &info) == 0 else { return 0 }
        return UInt64(info.f_blocks) * UInt64(info.f_frsize)
    }

    @Test(
        .enabled(
            if: (1..<(1 << 42)).contains(sharedMemoryDirectoryBytes),
            "only where the file system is smaller than the request, so nothing is really allocated"))
    func sizeBeyondTheFileSystemIsInsufficientSpace() {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let error = sharedMemoryError { _ = try SharedMemory(named: name, mode: .create, size: 1 << 42) }
        #expect(error == .insufficientSpace(name: name, requestedBytes: (1 << 42) + 4096))
        #expect(!SharedMemory.exists(named: name))
    }

    @Test func removeRemovesAndSecondRemoveIsNotFound() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let segment = try SharedMemory(named: name, mode: .create, size: 8)
        #expect(SharedMemory.exists(named: name))
        try segment.remove()
        #expect(!SharedMemory.exists(named: name))
        #expect(sharedMemoryError { try segment.remove() } == .notFound(name: name))
        #expect(sharedMemoryError { try SharedMemory.remove(named: name) } == .notFound(name: name))
        // The mapping stays usable after the name is gone.
        segment.bytes[0] = 9
        #expect(segment.bytes[0] == 9)
    }

    @Test func removeByNameTwice() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try SharedMemory(named: name, mode: .create, size: 8)
        try SharedMemory.remove(named: name)
        #expect(sharedMemoryError { try SharedMemory.remove(named: name) } == .notFound(name: name))
    }

    @Test func removeLeavesAReplacementAlone() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let old = try SharedMemory(named: name, mode: .create, size: 8)
        try SharedMemory.remove(named: name)
        let replacement = try SharedMemory(named: name, mode: .create, size: 8)
        replacement.bytes[0] = 5
        #expect(sharedMemoryError { try old.remove() } == .notFound(name: name))
        #expect(SharedMemory.exists(named: name))
        #expect(try firstByte(ofSegment: name, size: 8) == 5)
        try replacement.remove()
        #expect(!SharedMemory.exists(named: name))
    }

    @Test func removeOnDeinitRemovesOnlyWhatItCreated() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        do {
            let segment = try SharedMemory(named: name, mode: .create, size: 8, removeOnDeinit: true)
            do {
                // An opener asking for removal did not create it: it must not unlink it.
                let opener = try SharedMemory(named: name, mode: .open, size: 8, removeOnDeinit: true)
                #expect(!opener.wasCreated)
            }
            #expect(SharedMemory.exists(named: name))
            #expect(segment.wasCreated)
        }
        #expect(!SharedMemory.exists(named: name))
    }

    @Test func existsReportsNamesOnly() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        #expect(!SharedMemory.exists(named: name))
        _ = try SharedMemory(named: name, size: 8)
        #expect(SharedMemory.exists(named: name))
        #expect(!SharedMemory.exists(named: "../" + name))
        #expect(!SharedMemory.exists(named: ""))
    }

    @Test func anonymousSegmentAndAdoption() throws {
        let segment = try SharedMemory.anonymous(size: 256)
        #expect(segment.name == nil)
        #expect(segment.wasCreated)
        #expect(segment.size == 256)
        #expect(segment.kind == .segment)
        segment.bytes.storeBytes(of: 0x1234_5678, toByteOffset: 16, as: UInt32.self)

        let adopted = try SharedMemory(adopting: segment.fileDescriptor)
        #expect(!adopted.wasCreated)
        #expect(adopted.size == 256)
        #expect(adopted.fileDescriptor.rawValue != segment.fileDescriptor.rawValue, "the descriptor is duplicated")
        #expect(adopted.bytes.load(fromByteOffset: 16, as: UInt32.self) == 0x1234_5678)
        adopted.bytes[255] = 0xAA
        #expect(segment.bytes[255] == 0xAA)
        // Removing an anonymous segment does nothing and does not fail.
        try segment.remove()
    }

    @Test(arguments: [0, -1])
    func anonymousNeedsAPositiveSize(size: Int) {
        guard case .invalidSize? = sharedMemoryError({ _ = try SharedMemory.anonymous(size: size) }) else {
            Issue.record("expected invalidSize")
            return
        }
    }

    @Test func adoptingANonSegmentDescriptorFails() throws {
        // A descriptor of a file that is not a segment: /dev/null has size 0.
        let fd = open("/dev/null", O_RDWR | O_CLOEXEC)
        try #require(fd >= 0)
        defer { close(fd) }
        // Not a memfd, so not sealed: refused before anything is read from it…
        guard case .notSealed? = sharedMemoryError({ _ = try SharedMemory(adopting: FileDescriptor(rawValue: fd)) })
        else {
            Issue.record("expected notSealed")
            return
        }
        // …and with the check waived, validated and refused as no segment.
        guard
            case .invalidHeader(_, .truncated)? = sharedMemoryError({
                _ = try SharedMemory(adopting: FileDescriptor(rawValue: fd), allowingUnsealed: true)
            })
        else {
            Issue.record("expected truncated")
            return
        }
        guard case .unexpected? = sharedMemoryError({ _ = try SharedMemory(adopting: FileDescriptor(rawValue: -1)) })
        else {
            Issue.record("expected unexpected(EBADF)")
            return
        }
    }

    @Test func racingOpenOrCreateCreatesExactlyOnce() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let start = Latch()
        let ready = Counter()
        let results = Collector<(created: Bool, firstByte: UInt8, lastByte: UInt8, error: String?)>()
        let threads = (0..<8).map { index in
            TestThread {
                ready.increment()
                _ = start.wait()
                do {
                    let segment = try SharedMemory(
                        named: name, mode: .openOrCreate, size: 4096,
                        initializer: { bytes in
                            bytes[0] = UInt8(index + 1)
                            bytes[4095] = 0xEE
                        })
                    results.append((segment.wasCreated, segment.bytes[0], segment.bytes[4095], nil))
                } catch {
                    results.append((false, 0, 0, "\(error)"))
                }
            }
        }
        #expect(eventually { ready.current == 8 })
        for _ in 0..<8 { start.open() }
        for thread in threads { thread.join() }
        let all = results.all
        #expect(all.count == 8)
        #expect(all.allSatisfy { $0.error == nil }, "\(all.compactMap(\.error))")
        let creators = all.filter(\.created)
        try #require(creators.count == 1)
        let winner = creators[0].firstByte
        #expect((1...8).contains(winner))
        #expect(all.allSatisfy { $0.firstByte == winner && $0.lastByte == 0xEE })
    }

    @Test func placementChecksBoundsAndAlignment() throws {
        let segment = try SharedMemory.anonymous(size: 4096)
        let base = segment.bytes.baseAddress!
        #expect(try segment.address(at: 0, size: 64, alignment: 8) == base)
        #expect(try segment.address(at: 64, size: 64, alignment: 64) == base + 64)
        #expect(try segment.address(at: 4032, size: 64, alignment: 8) == base + 4032)
        #expect(try segment.address(at: 4096, size: 0, alignment: 1) == base + 4096)
        let bad: [(offset: Int, size: Int, alignment: Int, reason: String)] = [
            (-1, 8, 8, "negative"),
            (Int.min, 8, 8, "negative"),
            (4033, 64, 1, "only 4096 bytes"),
            (4096, 1, 1, "only 4096 bytes"),
            (4097, 0, 1, "only 4096 bytes"),
            (0, 4097, 1, "only 4096 bytes"),
            (8, Int.max, 1, "only 4096 bytes"),
            (Int.max, 8, 1, "only 4096 bytes"),
            (4, 8, 8, "multiple of 8"),
            (1, 4, 4, "multiple of 4"),
            (32, 64, 64, "multiple of 64")
        ]
        for (offset, size, alignment, reason) in bad {
            let error = sharedMemoryError { _ = try segment.address(at: offset, size: size, alignment: alignment) }
            guard case let .invalidPlacement(o, s, r)? = error else {
                Issue.record(
                    "offset \(offset) size \(size): expected invalidPlacement, got \(String(describing: error))")
                continue
            }
            #expect(o == offset && s == size)
            #expect(r.contains(reason), "\(r)")
        }
    }

    @Test func directoryDefaultsToDevShm() {
        // The override is read from the environment at each call; setting it here would
        // affect every test running in parallel, so only the default is checked.
        if let value = getenv("INTERPROCESS_SHM_DIRECTORY"), value[0] != 0 {
            #expect(SharedMemory.directory == String(cString: value))
        } else {
            #expect(SharedMemory.directory == "/dev/shm")
        }
    }

    @Test func errorsDescribeThemselves() {
        let errors: [SharedMemoryError] = [
            .invalidName("x y", reason: "r"), .invalidSize(0, reason: "r"), .notFound(name: "n"),
            .alreadyExists(name: "n"), .permissionDenied(name: "n"), .insufficientSpace(name: "n", requestedBytes: 1),
            .invalidHeader(name: "n", .truncated(expectedBytes: 2, actualBytes: 1)),
            .invalidHeader(name: "n", .badMagic),
            .invalidHeader(name: "n", .unsupportedVersion(found: 9, supported: 1)),
            .invalidHeader(name: "n", .corrupt("d")),
            .mismatch(name: "n", .kind(expected: .array, found: .mutex)),
            .mismatch(name: "n", .elementType(expected: ElementType(Int.self), found: ElementType(Int32.self))),
            .mismatch(name: "n", .capacity(expected: 1, found: 2)), .mismatch(name: "n", .configuration("d")),
            .invalidHeader(name: "n", .unsupportedKindLayoutVersion(kind: .channel, found: 2, supported: 1)),
            .corruptContents(name: "n", detail: "d"), .removalInProgress(name: "n"),
            .creatorDiedDuringInitialization(name: "n", creator: .current), .stillInitializing(name: "n"),
            .invalidPlacement(offset: 1, size: 2, reason: "r"), .unexpected(.ioError, operation: "op"),
            .notARegularFile(name: "n", fileType: "FIFO"), .foreignOwner(name: "n", ownerUserID: 7),
            .notFullyAllocated(name: "n", allocatedBytes: 1, length: 2), .damaged(name: "n"), .notSealed(name: "n"),
            .mappingLimitReached(name: "n", limit: 4096), .invalidDescriptorMessage(detail: "d"),
            .lockInterference(name: "n"), .readOnly(name: "n")
        ]
        let descriptions = errors.map(\.description)
        #expect(Set(descriptions).count == errors.count, "each case has its own sentence")
        #expect(descriptions.allSatisfy { !$0.isEmpty })
        // One style: a lowercase sentence (or one that starts with the quoted name), no final period.
        for description in descriptions {
            #expect(description.first == "'" || description.first!.isLowercase, "\(description)")
            #expect(!description.hasSuffix("."), "\(description)")
        }
    }
}
