import Testing

@testable import Interprocess

/// Names cannot leave the prefix or the shared-memory directory.
@Suite struct NameEscapeTests {
    static let escapes = [
        "../x", "..", "a/b", "/etc/passwd", "/dev/shm/x", "x/../../etc/passwd", "a\u{0}b", "\u{0}",
        "./x", ".hidden", "-rf", "a/", "..x", "x..", "~root", "a b", "é"
    ]

    @Test(arguments: escapes)
    func escapingNameIsRejected(_ name: String) {
        #expect(throws: SharedMemoryError.self) { try SegmentName(name) }
        do {
            _ = try SharedMemory(named: name, mode: .openOrCreate, size: 64)
            Issue.record("'\(name)' was accepted")
        } catch {
            guard case .invalidName = error else {
                Issue.record("'\(name)' gave \(error), not invalidName")
                return
            }
        }
        #expect(throws: SharedMemoryError.self) { try SharedMemory.remove(named: name) }
        #expect(!SharedMemory.exists(named: name))
    }

    /// An accepted name always maps to one file directly in the directory, with the prefix.
    @Test func acceptedNamesStayInTheDirectory() throws {
        for name in ["a", "camera.frames", "x-1_2.y", String(repeating: "n", count: SegmentName.maximumLength)] {
            let segmentName = try SegmentName(name)
            #expect(segmentName.path(in: "/dev/shm") == "/dev/shm/interprocess." + name)
            #expect(!segmentName.fileName.contains("/"))
        }
    }
}
