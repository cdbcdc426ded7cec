import Testing

@testable import Interprocess

@Suite struct SegmentNameTests {
    /// Each rejected name, with a fragment of the reason it must be given.
    static let rejected: [(String, String)] = [
        ("", "empty"),
        (String(repeating: "a", count: 201), "at most 200 bytes"),
        ("a/b", "'/'"),
        ("/jobs", "'/'"),
        ("a\u{0}b", "NUL"),
        ("a b", "only letters"),
        ("jobs\n", "only letters"),
        ("caf\u{E9}", "only letters"),
        ("\u{1F600}", "only letters"),
        ("a:b", "only letters"),
        ("a*", "only letters"),
        (".hidden", "start with"),
        ("-flag", "start with"),
        ("..", "start with"),
        ("a..b", "'..'"),
        ("a..", "'..'")
    ]

    @Test(arguments: rejected)
    func rejectsWithItsReason(name: String, reasonFragment: String) {
        let error = sharedMemoryError { _ = try SegmentName(name) }
        guard case let .invalidName(echoed, reason)? = error else {
            Issue.record("expected invalidName for \(name.debugDescription), got \(String(describing: error))")
            return
        }
        #expect(echoed == name)
        #expect(reason.contains(reasonFragment), "reason: \(reason)")
    }

    @Test(arguments: rejected)
    func everyEntryPointRejectsWithoutCreating(name: String, reasonFragment: String) {
        let expectInvalid = { (error: SharedMemoryError?) in
            guard case .invalidName? = error else {
                Issue.record("expected invalidName, got \(String(describing: error))")
                return
            }
        }
        expectInvalid(sharedMemoryError { _ = try SharedMemory(named: name, size: 64) })
        expectInvalid(sharedMemoryError { _ = try SharedArray<Int>(named: name, count: 1, initialValue: 0) })
        expectInvalid(sharedMemoryError { _ = try ProcessMutex(named: name) })
        expectInvalid(sharedMemoryError { try SharedMemory.remove(named: name) })
        expectInvalid(sharedMemoryError { _ = try SharedObjectRegistry.inspect(named: name) })
        #expect(!SharedMemory.exists(named: name))
    }

    static let accepted = [
        "a", "Z", "0", "jobs", "camera.frames", "A_b-9", "x.y.z", "trailing-", "trailing.", "under_score",
        "_leading", String(repeating: "a", count: 200)
    ]

    @Test(arguments: accepted)
    func accepts(name: String) throws {
        let segmentName = try SegmentName(name)
        #expect(segmentName.rawValue == name)
        #expect(segmentName.description == name)
        #expect(segmentName.fileName == "interprocess." + name)
        #expect(SegmentName(fileName: segmentName.fileName) == segmentName)
    }

    @Test func fileNamesThatAreNotOursAreIgnored() {
        #expect(SegmentName(fileName: "jobs") == nil)
        #expect(SegmentName(fileName: "interprocess.") == nil)
        #expect(SegmentName(fileName: "interprocess..x") == nil)
        #expect(SegmentName(fileName: "sem.interprocess.jobs") == nil)
        #expect(SegmentName(fileName: ".interprocess-tmp-1-2") == nil)
        #expect(SegmentName(fileName: "interprocess.jobs")?.rawValue == "jobs")
    }

    @Test func longestNameCreatesARealFile() throws {
        let prefix = String(uniqueName().prefix(40))
        let name = prefix + String(repeating: "x", count: 200 - prefix.utf8.count)
        #expect(name.utf8.count == 200)
        defer { removeQuietly(name) }
        let segment = try SharedMemory(named: name, mode: .create, size: 16)
        #expect(segment.wasCreated)
        #expect(SharedMemory.exists(named: name))
    }
}
