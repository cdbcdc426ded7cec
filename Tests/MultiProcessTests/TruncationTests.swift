import Foundation
import Glibc
@_spi(Layout) import Interprocess
import SystemPackage
import Testing

/// Runs the peer role `role arguments…` in a private mount namespace whose shared-memory
/// directory is a fresh tmpfs of `size` (`mount -o size=…`), seen by no other process.
private func runOnPrivateTmpfs(
    size: String, _ role: String, _ arguments: [String], timeout: TimeInterval = 120
) throws -> (Peer.Exit, String, String) {
    let directory = NSTemporaryDirectory() + "interprocess-small-shm-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    // The tmpfs lives only in the child's namespace: nothing to unmount here.
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let peer = try Peer.executableURL().path
    let script = "mount -t tmpfs -o size=\(size) tmpfs \"$1\" && shift && exec \"$@\""
    return try run(
        "/usr/bin/unshare",
        ["--mount", "--propagation", "private", "/bin/sh", "-c", script, "sh", directory, peer, role] + arguments,
        environment: ["INTERPROCESS_SHM_DIRECTORY": directory], timeout: timeout)
}

/// The words of the line of `output` that starts with `word`.
private func line(_ word: String, in output: String) -> [Substring]? {
    output.split(separator: "\n").map { $0.split(separator: " ") }.first { $0.first.map(String.init) == word }
}

/// Truncates the backing file of the named object `name` to `length` bytes, as a hostile
/// process with write permission would.
private func truncateObject(_ name: String, to length: Int) throws {
    let fd = open(SharedMemory.directory + "/interprocess." + name, O_RDWR | O_CLOEXEC)
    try #require(fd >= 0, "open: errno \(errno)")
    defer { close(fd) }
    try #require(ftruncate(fd, off_t(length)) == 0, "ftruncate: errno \(errno)")
}

private let skipWithoutPrivateTmpfs =
    "skipped: mounting a tmpfs in a private mount namespace needs root or CAP_SYS_ADMIN and unshare(1)"

extension MultiProcessTests {
    /// Files truncated, punched or left sparse under the processes that use them: nobody dies
    /// of SIGBUS, the damage is reported, and faults outside the guarded mappings still kill.
    @Suite struct Truncation {
        /// Trials of the looping-reader truncation (more with INTERPROCESS_LONG_TESTS).
        static let trials = longTests ? 300 : 12

        /// A child writes and reads every page of a named segment in a loop; the parent
        /// truncates the file under it (to 0, to the header, to half the payload), at a random
        /// moment of its loop. The child survives, sees `isDamaged`, and, told that the
        /// truncation is over, makes one more full pass over the segment (every lost page faults
        /// unless already replaced) checking that each page keeps what it writes, and exits 0.
        /// (Writes racing with the truncation itself may be lost, and are not checked.) Without
        /// the guard the child dies of SIGBUS.
        @Test func truncatedUnderALoopingUser() throws {
            let payload = 64 * 4096
            var deaths: [String] = []
            for trial in 0..<Self.trials {
                let scenario = Scenario("trunc")
                defer { scenario.removeAll() }
                // Created and released: only the child maps it.
                _ = try SharedMemory(named: scenario.name, mode: .create, size: payload)
                let child = try Peer("guard-loop", scenario.name)
                try child.waitFor("mapped")
                usleep(UInt32.random(in: 0...5_000))
                let length = [0, HeaderLayout.size, HeaderLayout.size + payload / 2][trial % 3]
                try truncateObject(scenario.name, to: length)
                do {
                    try child.tell("truncated")  // the attack is over: from now on every write must stick
                    try child.waitFor("damaged")
                    let exit = try child.waitForExit()
                    if exit != .exited(0) { deaths.append("trial \(trial): \(exit)") }
                } catch {
                    deaths.append("trial \(trial) (truncated to \(length)): \(error); \(try child.waitForExit())")
                }
            }
            #expect(deaths.isEmpty, "\(deaths.count) of \(Self.trials) trials failed: \(deaths)")
        }

        /// On a full 1 MiB tmpfs, a child loops over a segment; the parent stops it, punches a
        /// hole over the whole payload, takes the freed space back (so a refault cannot
        /// allocate: SIGBUS) and lets it run on. The child survives and reports the damage.
        @Test(.enabled(if: privateTmpfsAvailable, .init(rawValue: skipWithoutPrivateTmpfs)))
        func holePunchedOnAFullFileSystem() throws {
            let (exit, output, errors) = try runOnPrivateTmpfs(size: "1m", "hole-punch", ["punch", "\(256 * 1024)"])
            #expect(exit == .exited(0), "\(exit): \(output) \(errors)")
            let free = line("free", in: output).flatMap { $0.count == 2 ? Int($0[1]) : nil }
            #expect(free.map { $0 < 4096 } == true, "the file system must be full when the child runs on: \(output)")
            #expect(line("damaged", in: output) != nil, "\(output) \(errors)")
            #expect(line("victim", in: output)?.joined(separator: " ") == "victim exited 0", "\(output) \(errors)")
        }

        /// A receiver blocked in `receive()` with no timeout, a sender blocked on a full
        /// channel, and an async receiver: the parent truncates the channel's file, and each
        /// gets `.segment(.damaged)` within about a liveness interval (100 ms) and exits 0,
        /// instead of waiting forever on zeros (which look like a channel nobody opened).
        @Test(arguments: ["chan-receive-damaged", "chan-send-damaged", "chan-async-receive-damaged"])
        func blockedChannelCallGetsDamaged(role: String) throws {
            let scenario = Scenario("chan-trunc")
            defer { scenario.removeAll() }
            // The parent holds the other end, so the child's peers are alive and open.
            var sender: ChannelSender<UInt64>? = nil
            var receiver: ChannelReceiver<UInt64>? = nil
            if role == "chan-send-damaged" {
                receiver = try ChannelReceiver<UInt64>(named: scenario.name, capacity: 16, mode: .create)
            } else {
                sender = try ChannelSender<UInt64>(named: scenario.name, capacity: 16, mode: .create)
            }
            let child = try Peer(role, scenario.name)
            try child.waitFor("waiting")
            usleep(150_000)  // let it block (a check before the wait works as well)
            try truncateObject(scenario.name, to: 0)
            let reported = try child.waitFor("damaged", timeout: .seconds(10))
            let milliseconds = try reportedMilliseconds(reported)
            #expect(milliseconds < 1_500, "\(role): damage reported after \(milliseconds) ms")
            #expect(try child.waitForExit() == .exited(0), "\(child.standardError)")
            // The parent's own handle faults on the lost pages when it closes: absorbed here too.
            #expect(sender?.segment.isDamaged ?? receiver?.segment.isDamaged ?? false)
            _ = consume sender
            _ = consume receiver
        }

        /// A fault at an address of no guarded mapping (a plain mmap of a file truncated under
        /// it) is passed on exactly: the default action and SIG_IGN kill with SIGBUS, as does
        /// the handler the runtime installed; an SA_SIGINFO or plain handler installed before
        /// the guard runs (with the original siginfo); a SIGBUS sent with kill(2) kills or is
        /// ignored as before.
        @Test(
            arguments: [
                ("inherited", nil), ("default", nil), ("ignore", nil), ("siginfo", "chained"), ("plain", "chained"),
                ("sent-default", nil), ("sent-ignore", "ignored")
            ] as [(String, String?)])
        func faultOutsideGuardedMappingsIsChained(mode: String, survivorWord: String?) throws {
            let scenario = Scenario("unguarded")
            defer { scenario.removeAll() }
            let child = try Peer("unguarded-fault", scenario.name, mode)
            try child.waitFor("guarded")
            if let survivorWord {
                let said = try child.waitFor([survivorWord])
                if survivorWord == "chained" { #expect(said == "chained \(mode)") }
                #expect(try child.waitForExit() == .exited(0))
            } else {
                let exit = try child.waitForExit(timeout: .seconds(60))
                #expect(!child.lines.contains("survived"))
                if mode == "inherited", let (sanitizer, status) = runningUnderSanitizer {
                    // The handler the guard replaced is the sanitizer's: it reports the fault and
                    // exits with its own status, as it would have without the guard.
                    #expect(exit == .exited(status) && child.standardError.contains("\(sanitizer): BUS"), "\(exit)")
                    return
                }
                #expect(
                    exit == .signaled(SIGBUS), "\(mode): \(exit); \(child.lines) \(child.standardError.prefix(2000))")
            }
        }

        /// A sealed anonymous segment passed over a socketpair to a real child: both sides see
        /// each other's writes, the child's attempts to shrink or grow the file through the
        /// descriptor it received fail with EPERM, and neither process is harmed.
        @Test func sealedSegmentPassedToAChild() throws {
            var ends: [Int32] = [-1, -1]
            try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0)
            let mine = FileHandle(fileDescriptor: ends[0], closeOnDealloc: true)
            let theirs = FileHandle(fileDescriptor: ends[1], closeOnDealloc: true)
            let segment = try SharedMemory.anonymous(size: 3 * 4096)
            segment.bytes[0] = 0x5A
            let child = try Peer("receive-segment", arguments: ["-"], standardInput: theirs)
            try theirs.close()  // the child has it now
            try segment.send(over: FileDescriptor(rawValue: mine.fileDescriptor))
            #expect(try child.waitFor("received") == "received 90 \(3 * 4096)")
            #expect(try child.waitFor("resize") == "resize \(EPERM) \(EPERM)")
            #expect(try child.waitFor("intact") == "intact yes")
            #expect(segment.bytes[1] == 0xC3, "the child's write is visible here")
            #expect(segment.bytes[3 * 4096 - 1] == 0xC4)
            #expect(!segment.isDamaged)
            try mine.close()  // end of stream: the child exits
            #expect(try child.waitForExit() == .exited(0), "\(child.standardError)")
        }

        /// With the guard's table full, mapping another segment is a typed error
        /// (`mappingLimitReached`), not an unguarded mapping; a freed slot makes room again.
        @Test func fullGuardTableIsATypedError() throws {
            let child = try Peer("guard-table-full", "-")
            #expect(try child.waitFor("refused") == "refused 4096")
            try child.waitFor("mapped")
            #expect(try child.waitForExit() == .exited(0))
        }

        /// A sparse object with a valid header (a copy of a real header page, the rest a hole)
        /// on a 2 MiB tmpfs: opening it is `notFullyAllocated`, listing the directory returns an
        /// entry for it (and for a sparse 16 MiB channel) with that error, nothing is allocated
        /// (free space unchanged) and nobody dies. Without the checks the open succeeds, and the
        /// first write past the space left is a SIGBUS; the listing populates the channel.
        @Test(.enabled(if: privateTmpfsAvailable, .init(rawValue: skipWithoutPrivateTmpfs)))
        func sparseObjectsAreRefusedAndListedWithoutAllocating() throws {
            let (exit, output, errors) = try runOnPrivateTmpfs(size: "2m", "sparse-open", ["sparse", "\(16 << 20)"])
            #expect(exit == .exited(0), "\(exit): \(output) \(errors)")
            let opened = line("open", in: output)
            #expect(opened?.count == 4 && opened?[1] == "notFullyAllocated", "\(output)")
            #expect(opened.map { $0.count == 4 && $0[2] == $0[3] } == true, "free space changed by the open: \(output)")
            let listed = line("list", in: output)
            #expect(listed?.count == 5 && listed?[1] == "2" && listed?[2] == "notFullyAllocated", "\(output)")
            #expect(
                listed.map { $0.count == 5 && $0[3] == $0[4] } == true, "free space changed by the listing: \(output)")
        }
    }
}

/// The sanitizer this test process (and so every peer, built with the same flags) runs under,
/// and the exit status of its reports: each installs a SIGBUS handler of its own
/// (`handle_sigbus`), which a fault outside the guard's mappings reaches.
let runningUnderSanitizer: (name: String, exitStatus: Int32)? =
    if dlsym(nil, "__asan_init") != nil { ("AddressSanitizer", 1) } else if dlsym(nil, "__tsan_init") != nil {
        ("ThreadSanitizer", 66)
    } else { nil }
