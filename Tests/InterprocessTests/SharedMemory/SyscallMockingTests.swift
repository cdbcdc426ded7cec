import Glibc
@testable import Interprocess
import SystemPackage
import Testing

/// Error paths the kernel will not produce on demand, driven by injected syscall failures.
/// The injection is task-local, so these tests run in parallel with everything else.
@Suite struct SyscallMockingTests {
    /// Runs `body` with `failures` injected; returns its error and the calls that were failed.
    func withFailures(
        _ failures: [MockedSyscall: [Errno]], _ body: () throws -> Void
    ) -> (error: SharedMemoryError?, injected: [MockedSyscall]) {
        SyscallMocking.with(failures) {
            let error = sharedMemoryError(body)
            return (error, SyscallMocking.current?.injected ?? [])
        }
    }

    /// The temporary files of this process in the shared-memory directory.
    func temporaryFiles() -> [String] {
        let prefix = ".interprocess-tmp-\(getpid())-"
        return ((try? FileSystem.entries(of: SharedMemory.directory)) ?? []).filter { $0.hasPrefix(prefix) }
    }

    /// Whether temporary files of this process stay in the shared-memory directory. Tests of
    /// the fallback path run in parallel, so one may briefly see another's file in flight.
    func temporaryFilesLeftBehind() -> Bool {
        !eventually(timeout: .seconds(3)) { temporaryFiles().isEmpty }
    }

    @Test func fullFileSystemAtReservationIsInsufficientSpace() {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let (error, injected) = withFailures([.fallocate: [.noSpace]]) {
            _ = try SharedMemory(named: name, mode: .create, size: 1 << 20)
        }
        #expect(error == .insufficientSpace(name: name, requestedBytes: 4096 + (1 << 20)))
        #expect(injected == [.fallocate])
        #expect(!SharedMemory.exists(named: name), "nothing is left behind")
        // The same name can be created afterwards.
        #expect(throws: Never.self) { _ = try SharedMemory(named: name, mode: .create, size: 1 << 20) }
    }

    @Test(arguments: [Errno.noSpace, .fileTooLarge, .noMemory])
    func fullFileSystemAtSizingIsInsufficientSpace(errno: Errno) {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let (error, _) = withFailures([.ftruncate: [errno]]) {
            _ = try SharedArray<Int>(named: name, count: 10, initialValue: 0)
        }
        #expect(error == .insufficientSpace(name: name, requestedBytes: 8192))
        #expect(!SharedMemory.exists(named: name))
    }

    @Test func mapFailureAtCreationIsInsufficientSpace() {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let (error, injected) = withFailures([.mmap: [.noMemory]]) {
            _ = try ProcessMutex(named: name)
        }
        #expect(error == .insufficientSpace(name: name, requestedBytes: 8192))
        #expect(injected == [.mmap])
        #expect(!SharedMemory.exists(named: name))
    }

    @Test func permissionDeniedOnOpen() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try SharedMemory(named: name, mode: .create, size: 8)
        let (error, injected) = withFailures([.open: [.permissionDenied]]) {
            _ = try SharedMemory(named: name, mode: .open, size: 8)
        }
        #expect(error == .permissionDenied(name: name))
        #expect(injected == [.open])
        let (error2, _) = withFailures([.open: [.notPermitted]]) {
            _ = try SharedMemory(named: name, mode: .openOrCreate, size: 8)
        }
        #expect(error2 == .permissionDenied(name: name))
        // Not injected any more: it opens.
        #expect(try SharedMemory(named: name, mode: .open, size: 8).wasCreated == false)
    }

    @Test func permissionDeniedOnCreate() {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let (error, _) = withFailures([.open: [.permissionDenied]]) {
            _ = try SharedMemory(named: name, mode: .create, size: 8)
        }
        #expect(error == .permissionDenied(name: name))
        let (error2, _) = withFailures([.open: [.readOnlyFileSystem]]) {
            _ = try SharedMemory(named: name, mode: .create, size: 8)
        }
        #expect(error2 == .permissionDenied(name: name))
        #expect(!SharedMemory.exists(named: name))
    }

    @Test func otherOpenErrorsAreUnexpectedWithTheOperation() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try SharedMemory(named: name, mode: .create, size: 8)
        let (error, _) = withFailures([.open: [.tooManyOpenFiles]]) {
            _ = try SharedMemory(named: name, mode: .open, size: 8)
        }
        #expect(error == .unexpected(.tooManyOpenFiles, operation: "open"))
    }

    @Test func interruptedOpenIsRetried() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try SharedMemory(named: name, mode: .create, size: 8)
        let (error, injected) = withFailures([.open: [.interrupted, .interrupted]]) {
            let segment = try SharedMemory(named: name, mode: .open, size: 8)
            #expect(!segment.wasCreated)
        }
        #expect(error == nil)
        #expect(injected == [.open, .open])
    }

    @Test func interruptedReservationIsRetried() {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let (error, injected) = withFailures([.fallocate: [.interrupted], .ftruncate: [.interrupted]]) {
            let segment = try SharedMemory(named: name, mode: .create, size: 8)
            #expect(segment.wasCreated)
        }
        #expect(error == nil)
        #expect(Set(injected) == [.fallocate, .ftruncate])
        #expect(SharedMemory.exists(named: name))
    }

    @Test(arguments: [Errno.notSupported, .invalidArgument, .isDirectory])
    func withoutTmpfileCreationFallsBackToATemporaryName(errno: Errno) throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let (error, injected) = withFailures([.open: [errno]]) {
            let segment = try SharedMemory(named: name, mode: .create, size: 8, initializer: { $0[0] = 3 })
            #expect(segment.wasCreated)
        }
        #expect(error == nil)
        #expect(injected == [.open])
        #expect(try firstByte(ofSegment: name, size: 8) == 3)
        #expect(try fileMode(backingPath(name)) == 0o600)
        #expect(!temporaryFilesLeftBehind())
    }

    @Test func fallbackPathAlsoCleansUpOnFailure() {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let (error, _) = withFailures([.open: [.notSupported], .fallocate: [.noSpace]]) {
            _ = try SharedMemory(named: name, mode: .create, size: 8)
        }
        #expect(error == .insufficientSpace(name: name, requestedBytes: 8192))
        #expect(!SharedMemory.exists(named: name))
        #expect(!temporaryFilesLeftBehind())
    }

    @Test func linkLosingTheRaceIsAlreadyExistsForCreate() {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let (error, injected) = withFailures([.linkat: [.fileExists]]) {
            _ = try SharedMemory(named: name, mode: .create, size: 8)
        }
        #expect(error == .alreadyExists(name: name))
        #expect(injected == [.linkat])
        #expect(!SharedMemory.exists(named: name))
    }

    @Test func linkLosingTheRaceRetriesForOpenOrCreate() {
        // The name was taken and removed again between link and open: go round once more.
        let name = uniqueName()
        defer { removeQuietly(name) }
        let (error, injected) = withFailures([.linkat: [.fileExists]]) {
            let segment = try SharedMemory(named: name, mode: .openOrCreate, size: 8)
            #expect(segment.wasCreated)
        }
        #expect(error == nil)
        #expect(injected == [.linkat])
        #expect(SharedMemory.exists(named: name))
    }

    @Test func linkFailuresMapToTypedErrors() {
        let cases: [(Errno, (String) -> SharedMemoryError)] = [
            (.permissionDenied, { .permissionDenied(name: $0) }),
            (.noSpace, { .insufficientSpace(name: $0, requestedBytes: 0) }),
            (.diskQuotaExceeded, { .insufficientSpace(name: $0, requestedBytes: 0) }),
            (.noSuchFileOrDirectory, { .notFound(name: $0) }),
            (.ioError, { _ in .unexpected(.ioError, operation: "link") })
        ]
        for (errno, expected) in cases {
            let name = uniqueName()
            let (error, _) = withFailures([.linkat: [errno]]) {
                _ = try SharedMemory(named: name, mode: .create, size: 8)
            }
            #expect(error == expected(name), "\(errno)")
            #expect(!SharedMemory.exists(named: name))
            removeQuietly(name)
        }
        #expect(!temporaryFilesLeftBehind())
    }

    @Test func fstatAndChmodFailures() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let (chmodError, _) = withFailures([.fchmod: [.notPermitted]]) {
            _ = try SharedMemory(named: name, mode: .create, size: 8)
        }
        #expect(chmodError == .permissionDenied(name: name))
        #expect(!SharedMemory.exists(named: name))

        _ = try SharedMemory(named: name, mode: .create, size: 8)
        let (statError, _) = withFailures([.fstat: [.ioError]]) {
            _ = try SharedMemory(named: name, mode: .open, size: 8)
        }
        #expect(statError == .unexpected(.ioError, operation: "fstat"))
        let (mapError, _) = withFailures([.mmap: [.noMemory]]) {
            _ = try SharedMemory(named: name, mode: .open, size: 8)
        }
        #expect(mapError == .insufficientSpace(name: name, requestedBytes: 8192))
    }

    @Test func unlinkFailuresOnRemove() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let segment = try SharedMemory(named: name, mode: .create, size: 8)
        let (error, _) = withFailures([.unlink: [.permissionDenied]]) { try segment.remove() }
        #expect(error == .permissionDenied(name: name))
        let (error2, _) = withFailures([.unlink: [.permissionDenied]]) { try SharedMemory.remove(named: name) }
        #expect(error2 == .permissionDenied(name: name))
        #expect(SharedMemory.exists(named: name))
        try segment.remove()
        #expect(!SharedMemory.exists(named: name))
    }

    @Test func anonymousSegmentFailures() {
        let (memfdError, _) = withFailures([.memfdCreate: [.tooManyOpenFiles]]) {
            _ = try SharedMemory.anonymous(size: 8)
        }
        #expect(memfdError == .unexpected(.tooManyOpenFiles, operation: "memfd_create"))
        let (spaceError, _) = withFailures([.fallocate: [.noSpace]]) {
            _ = try SharedMemory.anonymous(size: 8)
        }
        #expect(spaceError == .insufficientSpace(name: "<anonymous>", requestedBytes: 8192))
    }

    @Test func mockingIsConfinedToTheTask() {
        // Another task (here: a detached thread with no task-local) sees real syscalls.
        let name = uniqueName()
        defer { removeQuietly(name) }
        let outcome = Collector<String>()
        SyscallMocking.with([.open: [.permissionDenied]]) {
            TestThread {
                do {
                    outcome.append(try SharedMemory(named: name, size: 8).wasCreated ? "created" : "opened")
                } catch {
                    outcome.append("\(error)")
                }
            }.join()
        }
        #expect(outcome.all == ["created"])
    }
}
