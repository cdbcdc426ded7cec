import Foundation
import Glibc
import SystemPackage
@_spi(Layout) import Interprocess
import Testing

import InterprocessTestSupport

// Blackboards published to processes that may only read them: a root writer, a `0644` file,
// and readers running as `nobody` (roles `bb-read-only` and `bb-read-only-hostile` in
// `Sources/InterprocessTestPeer/BlackboardRoles.swift`).

/// The backing file of the object `name` in the shared-memory directory.
private func file(of name: String) -> String { SharedMemory.directory + "/" + SegmentName.prefix + name }

/// Mode `0644`: the owner reads and writes, everyone else only reads.
private let publishedMode: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead]

extension MultiProcessTests {
    @Suite struct BlackboardReadOnlyTests {
        /// A blackboard root created with mode 0644, read by `nobody`: a read-write reader is
        /// `permissionDenied`; a read-only one reads the values, sees a key added later, wakes
        /// on a change (by its own wait and through a wait set), refuses every write with
        /// `.readOnly`, and sees a writer that is `SIGKILL`ed go. It takes no place in the
        /// participant table (it cannot write one), so inspection does not show it.
        ///
        /// Without read-only opening, the read-only reader's open is `permissionDenied` like
        /// the read-write one's.
        @Test(.enabled(if: canActAsAnotherUser, "skipped: acting as another user (nobody, 65534) needs root"))
        func anotherUserReadsAWriterOnlyBlackboard() throws {
            let scenario = Scenario("bb-ro-user")
            defer { scenario.removeAll() }
            var writer = try BlackboardWriter(
                named: scenario.name, configuration: BlackboardTestPage.configuration, mode: .create,
                permissions: publishedMode)
            #expect(writer.segment.access == .readWrite)
            try writer.addKey("count", as: UInt64.self, initialValue: 7)
            var st = stat()
            #expect(stat(file(of: scenario.name), &st) == 0 && st.st_uid == 0 && st.st_mode & 0o777 == 0o644)

            let reader = try Peer(PeerOption.asUser(nobodyUserID), arguments: ["bb-read-only", scenario.name])
            #expect(try reader.waitFor("rw") == "rw segment.permissionDenied")
            #expect(try reader.waitFor("opened") == "opened readOnly")
            #expect(try reader.waitFor("count") == "count 7")
            #expect(try reader.waitFor("keys") == "keys count")
            #expect(try reader.waitFor("register") == "register readOnly")
            #expect(try reader.waitFor("place") == "place readOnly")
            try reader.waitFor("ready")
            // Nothing of the reader is in the file: it holds no lock and wrote no byte.
            let inspected = try SharedObjectRegistry.inspect(named: scenario.name)
            #expect(inspected.participants.allSatisfy { $0.process.pid != reader.pid }, "\(inspected.participants)")

            // A key added after the reader opened.
            try writer.addKey("added", as: UInt64.self, initialValue: 42)
            try reader.tell("go")
            #expect(try reader.waitFor("added") == "added 42")

            // A change it waits for.
            try reader.tell("go")
            try reader.waitFor("waiting")
            let count = try writer.key("count", as: UInt64.self)
            try writer.write(UInt64(8), to: count)
            #expect(try reader.waitFor("changed", timeout: .seconds(25)) == "changed 8")

            // A change through a wait set.
            try reader.tell("go")
            try reader.waitFor("waitset-waiting")
            try writer.write(UInt64(9), to: count)
            #expect(try reader.waitFor("waitset", timeout: .seconds(25)) == "waitset 9")

            // A writer in another process, killed.
            writer.close()
            try reader.tell("go")
            let killed = try Peer("bb-write", scenario.name, "1", "-1")
            try killed.waitFor("writing")
            #expect(try reader.waitFor("writer", timeout: .seconds(25)) == "writer true")
            killed.send(SIGKILL)
            #expect(try killed.waitForExit() == .signaled(SIGKILL))
            try reader.waitFor("writer-gone", timeout: .seconds(25))
            expectExitedNormally(reader)
        }

        /// A read-only reader facing hostile files (truncated, a bad magic number, a forged key
        /// count, a garbage directory entry) and a file truncated under it: typed errors, never
        /// a crash (the reader runs as `nobody`, mapping the files `PROT_READ`, so any write or
        /// unguarded fault would kill it).
        @Test(.enabled(if: canActAsAnotherUser, "skipped: acting as another user (nobody, 65534) needs root"))
        func hostileBlackboardsGiveAReadOnlyReaderTypedErrors() throws {
            let scenario = Scenario("bb-ro-hostile")
            let labels = ["trunc", "magic", "count", "entry", "shrink"]
            defer { for label in labels { try? SharedMemory.remove(named: scenario.name + "-" + label) } }
            func make(_ label: String) throws -> String {
                let name = scenario.name + "-" + label
                var writer = try BlackboardWriter(
                    named: name, configuration: BlackboardTestPage.configuration, mode: .create,
                    permissions: publishedMode)
                try writer.addKey("count", as: UInt64.self, initialValue: 1)
                return name
            }
            func patch(_ name: String, at offset: Int, _ bytes: [UInt8]) throws {
                let fd = open(file(of: name), O_WRONLY)
                guard fd >= 0 else { throw Peer.Failure(description: "open: errno \(errno)") }
                defer { close(fd) }
                guard pwrite(fd, bytes, bytes.count, off_t(offset)) == bytes.count else {
                    throw Peer.Failure(description: "pwrite: errno \(errno)")
                }
            }
            func run(_ name: String) throws -> [String: String] {
                let peer = try Peer(PeerOption.asUser(nobodyUserID), arguments: ["bb-read-only-hostile", name])
                // A reader that could not open has exited: only one that opened reads stdin.
                if (try? peer.waitFor("opened")) != nil { try peer.tell("go") }
                expectExitedNormally(peer)
                return keyedLines(peer.lines)
            }

            let truncated = try make("trunc")
            #expect(truncate(file(of: truncated), 4096) == 0)
            #expect(try run(truncated)["open"] == "segment.truncated")

            let badMagic = try make("magic")
            try patch(badMagic, at: 0, [0xde, 0xad, 0xbe, 0xef])
            #expect(try run(badMagic)["open"] == "segment.badMagic")

            let forgedCount = try make("count")
            try patch(forgedCount, at: HeaderLayout.size + BlackboardLayout.keyCount, [0xff, 0xff, 0, 0])
            let counted = try run(forgedCount)
            #expect(counted["open"] == "ok")
            #expect(counted["keys"] == "corrupt" && counted["value"] == "corrupt", "\(counted)")

            let garbage = try make("entry")
            let entry = HeaderLayout.size + BlackboardLayout.directory
            try patch(garbage, at: entry + BlackboardLayout.entrySlotOffset, [UInt8](repeating: 0xff, count: 8))
            let garbled = try run(garbage)
            #expect(garbled["keys"] == "corrupt" && garbled["value"] == "corrupt", "\(garbled)")

            // Truncated under the reader while it waits: the SIGBUS guard covers a read-only
            // mapping too, and the wait ends with `damaged`.
            let shrinking = try make("shrink")
            let peer = try Peer(PeerOption.asUser(nobodyUserID), arguments: ["bb-read-only-hostile", shrinking])
            try peer.waitFor("opened")
            try peer.tell("go")
            usleep(50_000)
            #expect(truncate(file(of: shrinking), 4096) == 0)
            #expect(try peer.waitFor("wait", timeout: .seconds(15)) == "wait segment.damaged")
            expectExitedNormally(peer)
        }
    }
}
