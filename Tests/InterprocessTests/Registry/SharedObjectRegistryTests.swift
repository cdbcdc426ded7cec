import Foundation
import Glibc
import Testing

@_spi(Layout) @testable import Interprocess

@Suite struct SharedObjectRegistryTests {
    @Test func listShowsACreatedObject() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try SharedArray<Int32>(named: name, count: 7, initialValue: 0, mode: .create)
        let listed = try SharedObjectRegistry.list()
        let info = try #require(listed.first { $0.name == name })
        #expect(info.path == backingPath(name))
        #expect(info.fileSize == 8192)
        #expect(info.permissions == [.ownerReadWrite])
        #expect(info.ownerUserID == geteuid())
        let header = try info.header.get()
        #expect(header.kind == .array)
        #expect(header.capacity == 7)
        #expect(header.payloadSize == 28)
        #expect(header.totalSize == 8192)
        #expect(header.layoutVersion == 3)
        #expect(header.kindLayoutVersion == 1)
        #expect(header.elementType == ElementType(Int32.self))
        #expect(header.creator == ProcessIdentity.current)
        #expect(header.creatorIsAlive)
        #expect(header.creationTimeNanoseconds > 0)
        // Sorted by name.
        #expect(listed.map(\.name) == listed.map(\.name).sorted())
    }

    @Test func listSkipsRemovedObjectsAndForeignFiles() throws {
        let name = uniqueName()
        _ = try ProcessMutex(named: name, mode: .create)
        try SharedMemory.remove(named: name)
        let listed = try SharedObjectRegistry.list()
        #expect(!listed.contains { $0.name == name })
        #expect(listed.allSatisfy { (try? SegmentName($0.name)) != nil })
    }

    @Test func inspectKindsAndParameters() throws {
        let name = uniqueName()
        defer {
            removeQuietly(name + ".m")
            removeQuietly(name + ".e")
        }
        _ = try ProcessMutex(named: name + ".m")
        _ = try ProcessEvent(named: name + ".e", resetMode: .automatic)
        let mutex = try SharedObjectRegistry.inspect(named: name + ".m").header.get()
        #expect(mutex.kind == .mutex)
        #expect(mutex.elementType == .none)
        let event = try SharedObjectRegistry.inspect(named: name + ".e").header.get()
        #expect(event.kind == .event)
    }

    @Test func inspectOfGarbageReportsTheErrorInTheHeader() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: backingPath(name)))
        let info = try SharedObjectRegistry.inspect(named: name)
        #expect(info.fileSize == 8192)
        guard case .failure(let error) = info.header else {
            Issue.record("expected a failed header")
            return
        }
        #expect(error == .invalidHeader(name: name, .badMagic))
        // A listing shows it too, with its error.
        let listed = try SharedObjectRegistry.list().first { $0.name == name }
        #expect(listed.map { (try? $0.header.get()) == nil } == true)
    }

    @Test func inspectOfAShortFileReportsTruncation() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        try Data(repeating: 0, count: 100).write(to: URL(fileURLWithPath: backingPath(name)))
        let info = try SharedObjectRegistry.inspect(named: name)
        guard case .failure(let error) = info.header else {
            Issue.record("expected a failed header")
            return
        }
        #expect(error == .invalidHeader(name: name, .truncated(expectedBytes: 4096, actualBytes: 100)))
    }

    @Test func inspectOfAnInitializingObjectDoesNotWait() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try SharedArray<Int>(named: name, count: 1, initialValue: 0)
        try overwrite(backingPath(name), at: HeaderLayout.state, value: UInt32(1))
        let start = Deadline.now
        let info = try SharedObjectRegistry.inspect(named: name)
        #expect(millisecondsSince(start) < 1_000)
        guard case .failure(let error) = info.header else {
            Issue.record("expected a failed header")
            return
        }
        #expect(error == .stillInitializing(name: name))
    }

    @Test func inspectDoesNotModifyTheObject() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let array = try SharedArray<Int>(named: name, count: 2, initialValue: 5)
        let before = try Data(contentsOf: URL(fileURLWithPath: backingPath(name)))
        _ = try SharedObjectRegistry.inspect(named: name)
        _ = try SharedObjectRegistry.list()
        let after = try Data(contentsOf: URL(fileURLWithPath: backingPath(name)))
        #expect(before == after)
        #expect(array.elements == [5, 5])
    }

    @Test func inspectOfAMissingNameThrowsNotFound() {
        let name = uniqueName()
        #expect(sharedMemoryError { _ = try SharedObjectRegistry.inspect(named: name) } == .notFound(name: name))
    }
}
