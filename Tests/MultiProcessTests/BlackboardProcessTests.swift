import Foundation
import Glibc
import Interprocess
import Testing

import InterprocessTestSupport

// Blackboards with real processes: readers in several processes while writers are killed
// mid-update, and hostile processes scribbling over the shared words or truncating the file.
// The roles the children play are in `Sources/InterprocessTestPeer/BlackboardRoles.swift`;
// every value is a 4 KiB `BlackboardTestPage`, uniform when whole.

/// The counters of the `k`-th writer of a succession start here, so that every page of a later
/// writer is larger than every page of an earlier one.
private func firstCounter(ofWriter k: Int) -> UInt64 { UInt64(k) * 1_000_000_000 + 1 }

/// The fields of a `bb-read` child's "result READS TORN BACKWARDS ERRORS LAST" line.
private func readResult(_ line: String) throws -> (reads: Int, torn: Int, backwards: Int, errors: Int, last: UInt64) {
    let words = line.split(separator: " ")
    guard words.count == 6, words[0] == "result", let reads = Int(words[1]), let torn = Int(words[2]),
        let backwards = Int(words[3]), let errors = Int(words[4]), let last = UInt64(words[5])
    else { throw Peer.Failure(description: "expected 'result READS TORN BACKWARDS ERRORS LAST', got '\(line)'") }
    return (reads, torn, backwards, errors, last)
}

extension MultiProcessTests {
    @Suite struct BlackboardProcessTests {
        /// Three reader processes read a 4 KiB value while four writers in turn are `SIGKILL`ed
        /// at random moments of their write loop (almost always mid-write: the loop is all
        /// copying); a fifth writer takes the role over. No reader ever sees a torn page or a
        /// counter going back, and each sees the last writer's values.
        @Test func readersNeverSeeATornValueWhileWritersAreKilled() throws {
            let scenario = Scenario("bb-kill")
            defer { scenario.removeAll() }
            try BlackboardWriter(named: scenario.name, configuration: BlackboardTestPage.configuration, mode: .create)
                .close()
            let last = 5
            let readers = try (0..<3).map { _ in try Peer("bb-read", scenario.name, "\(firstCounter(ofWriter: last))") }
            for k in 1..<last {
                let writer = try Peer("bb-write", scenario.name, "\(firstCounter(ofWriter: k))", "-1")
                try writer.waitFor("writing")
                if k == 1 { for reader in readers { try reader.waitFor("reading") } }
                usleep(UInt32.random(in: 20_000...120_000))
                writer.send(SIGKILL)
                #expect(try writer.waitForExit() == .signaled(SIGKILL))
            }
            let successor = try Peer("bb-write", scenario.name, "\(firstCounter(ofWriter: last))", "20000")
            try successor.waitFor("writing")
            for reader in readers {
                let result = try readResult(try reader.waitForLine(startingWith: "result", timeout: .seconds(60)))
                #expect(result.torn == 0, "\(result)")
                #expect(result.backwards == 0, "\(result)")
                #expect(result.errors == 0, "\(result)")
                #expect(result.last >= firstCounter(ofWriter: last))
                #expect(result.reads > 0)
                expectExitedNormally(reader)
            }
            try successor.waitForLine(startingWith: "done")
            let reader = try BlackboardReader(named: scenario.name)
            let page = try #require(try reader.value(forKey: "page", as: BlackboardTestPage.self))
            #expect(page.uniformCounter == firstCounter(ofWriter: last) + 19_999)
            #expect(reader.hasWriter)
        }

        /// A hostile process overwriting the key count, the directory and the version words at
        /// random: every read by name or by key ends (a value, or a typed error) and never takes
        /// long, and no read returns a page whose words disagree.
        @Test func aScribblingWriterGivesTypedErrorsNeverAHang() throws {
            let scenario = Scenario("bb-scribble")
            defer { scenario.removeAll() }
            do {
                var writer = try BlackboardWriter(
                    named: scenario.name, configuration: BlackboardTestPage.configuration, mode: .create)
                try writer.addKey("page", as: BlackboardTestPage.self, initialValue: BlackboardTestPage(1))
                try writer.addKey("count", as: UInt64.self, initialValue: 1)
            }
            let reader = try BlackboardReader(named: scenario.name)
            let key = try reader.key("page", as: BlackboardTestPage.self)
            let scribbler = try Peer("bb-scribble", scenario.name)
            defer { scribbler.send(SIGKILL) }
            try scribbler.waitFor("scribbling")
            var outcomes: [String: Int] = [:]
            let deadline = Deadline.after(.seconds(2))
            while !deadline.hasPassed {
                let start = Deadline.now
                do {
                    if let page = try reader.value(key) {
                        // The scribbler writes words, not pages: a page that passed the seqlock is
                        // whatever the buffer held, but it was not changing under the copy.
                        outcomes["value", default: 0] += 1
                        _ = page
                    } else {
                        outcomes["none", default: 0] += 1
                    }
                } catch {
                    outcomes[String("\(error)".prefix(40)), default: 0] += 1
                }
                do { _ = try BlackboardReader(named: scenario.name).keys() } catch {
                    outcomes["keys: " + String("\(error)".prefix(40)), default: 0] += 1
                }
                #expect(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds < 5_000_000_000)
            }
            #expect(!outcomes.isEmpty, "\(outcomes)")
            // A writer taking over a scribbled directory refuses it with a typed error or works.
            do { _ = try BlackboardWriter(named: scenario.name) } catch let error {
                switch error {
                case .corrupt, .writerActive: break
                default: Issue.record("unexpected \(error)")
                }
            }
        }

        /// A file truncated under a reader: a blocked wait for a change ends with
        /// `.segment(.damaged)` within a slice, and a fresh open is a typed error.
        @Test func aTruncatedFileIsDamagedNotACrash() throws {
            let scenario = Scenario("bb-trunc")
            defer { scenario.removeAll() }
            var writer = try BlackboardWriter(
                named: scenario.name, configuration: BlackboardTestPage.configuration, mode: .create)
            try writer.addKey("count", as: UInt64.self, initialValue: 1)
            let reader = try BlackboardReader(named: scenario.name)
            let key = try reader.key("count", as: UInt64.self)
            let path = SharedMemory.directory + "/interprocess." + scenario.name
            let truncation = Thread {
                usleep(100_000)
                truncate(path, 4096)
            }
            truncation.start()
            #expect(throws: BlackboardError.segment(.damaged(name: scenario.name))) {
                _ = try reader.waitForChange(of: key, since: 1, timeout: .seconds(10))
            }
            #expect(throws: BlackboardError.segment(.damaged(name: scenario.name))) { _ = try reader.value(key) }
            #expect {
                _ = try BlackboardReader(named: scenario.name)
            } throws: { error in
                guard case BlackboardError.segment = error else { return false }
                return true
            }
        }

        /// A process that can only read the file, holding read locks over all of it: it can deny
        /// the writer role (`lockInterference`, never a silent second writer or a `writerActive`
        /// it could fake), never take it; once it is gone a writer takes the role and the values
        /// are intact.
        @Test func aReadOnlyProcessCannotWrite() throws {
            let scenario = Scenario("bb-ro")
            defer { scenario.removeAll() }
            do {
                var writer = try BlackboardWriter(
                    named: scenario.name, configuration: BlackboardTestPage.configuration, mode: .create,
                    permissions: [.ownerReadWrite, .groupRead, .otherRead])
                try writer.addKey("count", as: UInt64.self, initialValue: 7)
            }
            let locker = try Peer("ro-lock", scenario.name, "whole")
            try locker.waitFor("locked")
            #expect(throws: BlackboardError.segment(.lockInterference(name: scenario.name))) {
                _ = try BlackboardWriter(named: scenario.name)
            }
            locker.send(SIGKILL)
            _ = try locker.waitForExit()
            let reader = try BlackboardReader(named: scenario.name)
            #expect(!reader.hasWriter)
            var writer = try BlackboardWriter(named: scenario.name)
            #expect(reader.hasWriter)
            #expect(try reader.value(forKey: "count", as: UInt64.self) == 7)
            try writer.write(UInt64(8), forKey: "count")
            #expect(try reader.value(forKey: "count", as: UInt64.self) == 8)
        }
    }
}
