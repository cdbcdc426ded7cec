import Foundation
import Glibc
import Interprocess
import Testing

/// `shm` against what another user can plant in the shared-memory directory: FIFOs, symbolic
/// links, files without the prefix, objects this user may not read. Each run gets a directory of
/// its own (`INTERPROCESS_SHM_DIRECTORY`) so nothing planted here reaches other tests.
@Suite struct HostileEntryTests {
    /// A private shared-memory directory, removed with everything in it.
    final class Directory {
        let path: String
        init() throws {
            path = NSTemporaryDirectory() + "shm-hostile-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            chmod(path, 0o1777)  // like /dev/shm: world-writable, sticky
        }
        var environment: [String: String] { ["INTERPROCESS_SHM_DIRECTORY": path] }
        func file(_ name: String) -> String { path + "/" + SegmentName.prefix + name }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    @Test func plantedFIFOAndSymlinksNeverBlockOrAreFollowed() throws {
        let dir = try Directory()
        #expect(mkfifo(dir.file("fifo"), 0o666) == 0)
        // A link to a FIFO, a link out of the directory to a file that must stay untouched, and a
        // dangling link.
        let outside = dir.path + "-outside"
        defer { unlink(outside) }
        try Data(repeating: 0xAB, count: 8192).write(to: URL(fileURLWithPath: outside))
        #expect(symlink(dir.file("fifo"), dir.file("to-fifo")) == 0)
        #expect(symlink(outside, dir.file("to-outside")) == 0)
        #expect(symlink("/nonexistent", dir.file("dangling")) == 0)

        for arguments in [["ls"], ["ls", "--json"], ["clean", "--dry-run"], ["clean"], ["clean", "--include-unused"]] {
            let run = try ShmTool.run(arguments, timeout: 20, environment: dir.environment)
            #expect(!run.killedBySignal, "shm \(arguments) hung or crashed: \(run)")
            #expect(run.status == 0, "shm \(arguments): \(run)")
        }
        let listing = try ShmTool.run(["ls"], timeout: 20, environment: dir.environment)
        #expect(
            listing.stdoutLines.contains { $0.hasPrefix("fifo ") && $0.contains("FIFO, not a regular file") },
            "\(listing)")
        #expect(
            listing.stdoutLines.contains { $0.hasPrefix("to-outside ") && $0.contains("symbolic link") }, "\(listing)")
        for name in ["fifo", "to-fifo", "to-outside", "dangling"] {
            let run = try ShmTool.run(["inspect", name], timeout: 20, environment: dir.environment)
            #expect(!run.killedBySignal && run.status == 1, "shm inspect \(name): \(run)")
            #expect(run.stdout.contains("not a regular file"), "shm inspect \(name): \(run)")
        }
        // Plain clean leaves them; --include-damaged removes the entries, never the target.
        #expect(FileManager.default.fileExists(atPath: dir.file("fifo")))
        let clean = try ShmTool.run(["clean", "--include-damaged"], timeout: 20, environment: dir.environment)
        #expect(clean.status == 0, "\(clean)")
        for name in ["fifo", "to-fifo", "to-outside", "dangling"] {
            #expect(
                (try? FileManager.default.attributesOfItem(atPath: dir.file(name))) == nil, "\(name) was kept: \(clean)"
            )
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: outside)) == Data(repeating: 0xAB, count: 8192))
    }

    @Test func inspectSaysWhenAFileLacksThePrefix() throws {
        let dir = try Directory()
        #expect(FileManager.default.createFile(atPath: dir.path + "/foo", contents: Data([1, 2, 3])))
        let run = try ShmTool.run(["inspect", "foo"], timeout: 20, environment: dir.environment)
        #expect(run.status != 0)
        #expect(run.stderr.contains("not an Interprocess object") && run.stderr.contains("interprocess.NAME"), "\(run)")
    }

    @Test(
        .enabled(
            if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
            "skipped: running shm as another user needs root and setpriv(1)"))
    func listingByAnotherUserCountsWhatItCannotRead() throws {
        let dir = try Directory()
        // Copies of a real object, one private to root (0600), one others may read (0644).
        let name = ShmTool.uniqueName("unreadable")
        let original = try SharedMemory(named: name, mode: .create, size: 64)
        defer { try? original.remove() }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: SharedMemory.directory + "/" + SegmentName.prefix + name))
        for (copy, mode) in [("hidden", 0o600), ("visible", 0o644)] {
            let fd = open(dir.file(copy), O_CREAT | O_EXCL | O_WRONLY, mode_t(mode))
            #expect(fd >= 0)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            fchmod(fd, mode_t(mode))
            close(fd)
        }
        let run = try ShmTool.run(["ls"], timeout: 20, environment: dir.environment, asUser: 65534)
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.contains("1 object could not be read by this user"), "\(run)")
        let json = try ShmTool.jsonResult(
            try ShmTool.run(["ls", "--json"], timeout: 20, environment: dir.environment, asUser: 65534).stdout, of: "ls"
        )
        #expect(json["unreadable"] as? Int == 1)
    }

    @Test func killedDemoLeavesOnlyWhatCleanRemoves() throws {
        let dir = try Directory()
        // A demo slow enough to be killed in the middle.
        let process = Process()
        process.executableURL = ShmTool.executable
        process.arguments = ["demo", "--writing-time", "0.5"]
        process.environment = ProcessInfo.processInfo.environment.merging(dir.environment) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait for its objects, then SIGKILL the parent (its children follow when they see it gone,
        // or are killed here).
        let deadline = Date().addingTimeInterval(20)
        var names: [String] = []
        while Date() < deadline {
            names =
                (try? FileManager.default.contentsOfDirectory(atPath: dir.path))?.filter {
                    $0.hasPrefix(SegmentName.prefix + "demo.")
                } ?? []
            if names.count == 3 { break }
            usleep(10_000)
        }
        #expect(names.count == 3, "the demo's objects: \(names)")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        // The children exit once the parent is gone (or after their own timeouts); kill them too.
        let children = try ShmTool.run(["ls", "--json"], timeout: 20, environment: dir.environment)
        if let objects = try ShmTool.jsonResult(children.stdout, of: "ls")["objects"] as? [[String: Any]] {
            for object in objects {
                for p in object["participants"] as? [[String: Any]] ?? [] {
                    if let pid = p["pid"] as? Int, pid != Int(getpid()) { kill(pid_t(pid), SIGKILL) }
                }
            }
        }
        // The children notice their parent's death (or were killed above) and exit; a child
        // that exits normally as the last user removes an object itself, and clean removes what
        // killed users left. Until then clean keeps what they hold.
        var left: [String] = []
        var runs: [String] = []
        let cleanDeadline = Date().addingTimeInterval(20)
        repeat {
            let clean = try ShmTool.run(["clean"], timeout: 20, environment: dir.environment)
            #expect(clean.status == 0, "\(clean)")
            runs.append(clean.stdout)
            left = (try FileManager.default.contentsOfDirectory(atPath: dir.path)).filter {
                $0.hasPrefix(SegmentName.prefix)
            }
            if !left.isEmpty { usleep(100_000) }
        } while !left.isEmpty && Date() < cleanDeadline
        #expect(left.isEmpty, "\(left) after \(runs)")
    }
}
