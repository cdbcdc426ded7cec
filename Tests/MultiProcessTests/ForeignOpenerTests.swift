import Foundation
import Glibc
@_spi(Layout) import Interprocess
import Testing

/// Where python3 is, if it is installed.
private let python: String? =
    ["/usr/bin/python3", "/usr/local/bin/python3", "/root/.pyenv/shims/python3"]
    .first { FileManager.default.isExecutableFile(atPath: $0) }
    ?? ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":")
    .map { "\($0)/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }

extension MultiProcessTests {
    /// Foreign openers: Python attaching to an object by name.
    @Suite struct ForeignOpeners {
        /// The Python example of the DocC article *Security and hostile peers*, exactly as
        /// published (so the article cannot drift from what is tested).
        static func articleExample() throws -> String {
            let article = URL(fileURLWithPath: #filePath)
                .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Sources/Interprocess/Interprocess.docc/SecurityAndHostilePeers.md")
            let text = try String(contentsOf: article, encoding: .utf8)
            guard let start = text.range(of: "```python\n"),
                let end = text.range(of: "```", range: start.upperBound..<text.endIndex)
            else { throw Peer.Failure(description: "no python block in \(article.path)") }
            return String(text[start.upperBound..<end.lowerBound])
        }

        /// The article's example skips the header by its size, written out as a number there:
        /// it is the size the library uses.
        @Test func articleExampleSkipsTheHeadersSize() throws {
            #expect(try Self.articleExample().contains("segment.buf[\(HeaderLayout.size):]"))
        }

        private static func runPython(_ script: String, _ argument: String) throws -> (Peer.Exit, String, String) {
            let file =
                NSTemporaryDirectory() + "interprocess-python-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).py"
            try script.write(toFile: file, atomically: true, encoding: .utf8)
            defer { unlink(file) }
            return try run(python!, [file, argument], timeout: 60)
        }

        @Test(
            .enabled(if: python != nil, "skipped: python3 is not installed"),
            .enabled(if: SharedMemory.directory == "/dev/shm", "skipped: Python attaches in /dev/shm only"))
        func pythonAttachingAndExitingLeavesTheObject() throws {
            let scenario = Scenario("python")
            defer { scenario.removeAll() }
            let segment = try SharedMemory(named: scenario.name, mode: .create, size: 4096)
            let (exit, output, errors) = try Self.runPython(try Self.articleExample(), scenario.name)
            #expect(exit == .exited(0), "python \(exit): \(output) \(errors)")
            #expect(segment.bytes[0] == 42, "Python's write is visible")
            // The name still refers to this very object after Python exited.
            let reopened = try SharedMemory(named: scenario.name, mode: .open, size: nil)
            #expect(reopened.bytes[0] == 42)
            var mine = stat(), theirs = stat()
            #expect(
                fstat(segment.fileDescriptor.rawValue, &mine) == 0
                    && fstat(reopened.fileDescriptor.rawValue, &theirs) == 0)
            #expect(mine.st_ino == theirs.st_ino)
        }

        /// The hazard the example avoids: attaching with the defaults unlinks the object when
        /// Python exits (the test that the example's workaround is needed, and that the check
        /// above would notice).
        @Test(
            .enabled(if: python != nil, "skipped: python3 is not installed"),
            .enabled(if: SharedMemory.directory == "/dev/shm", "skipped: Python attaches in /dev/shm only"))
        func pythonWithItsDefaultsUnlinksTheObject() throws {
            let scenario = Scenario("python-naive")
            defer { scenario.removeAll() }
            let segment = try SharedMemory(named: scenario.name, mode: .create, size: 4096)
            let naive = """
                import sys
                from multiprocessing import shared_memory
                segment = shared_memory.SharedMemory(name="interprocess." + sys.argv[1])
                segment.buf[\(HeaderLayout.size)] = 7
                segment.close()
                """
            let (exit, output, errors) = try Self.runPython(naive, scenario.name)
            #expect(exit == .exited(0), "python \(exit): \(output) \(errors)")
            #expect(segment.bytes[0] == 7)
            #expect(!SharedMemory.exists(named: scenario.name), "Python's resource tracker unlinked it")
        }
    }
}
