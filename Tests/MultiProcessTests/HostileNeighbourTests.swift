import Foundation
import Glibc
@_spi(Layout) import Interprocess
import Testing

import InterprocessTestSupport

// Attacks by a hostile or careless neighbour, each performed for real by real processes.
//
// Every test here was run against the library before the hostile-neighbour change (229f099,
// the parent of b697933, which opened objects with `open(path, O_RDWR)`, inspected them with
// `open(path, O_RDONLY)`, took liveness from participant-table locks found by write-lock
// queries, and had no owner check and no removal lock), with a verification-only shim that
// accepts the new parameters (`lifetime:`, `owners:`, `scope:`) and ignores them; each test's
// comment says how it failed there. The dropped-mutex test was run against b697933 (before
// caa6337).

extension MultiProcessTests {
    /// Entries planted under the object prefix: no entry point follows, blocks on or opens
    /// anything but a regular file.
    @Suite struct PlantedEntries {
        enum Plant: String, CaseIterable, CustomStringConvertible, Sendable {
            case fifo, directory, socket, symlinkToFile, symlinkToObject, symlinkToFIFO, danglingSymlink
            var description: String { rawValue }
        }

        /// Creates a socket file at `path` (bound, then closed: the entry stays).
        private func makeSocket(at path: String) throws {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw Peer.Failure(description: "socket: errno \(errno)") }
            defer { close(fd) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
                throw Peer.Failure(description: "socket path too long: \(path)")
            }
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes + [0]) }
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard rc == 0 else { throw Peer.Failure(description: "bind \(path): errno \(errno)") }
        }

        /// Plants `plant` at `path`; links point at `target`.
        private func plant(_ plant: Plant, at path: String, target: String) throws {
            let rc: Int32
            switch plant {
            case .fifo: rc = mkfifo(path, 0o666)
            case .directory: rc = mkdir(path, 0o755)
            case .socket:
                try makeSocket(at: path)
                rc = 0
            case .symlinkToFile, .symlinkToObject, .symlinkToFIFO, .danglingSymlink: rc = symlink(target, path)
            }
            guard rc == 0 else { throw Peer.Failure(description: "planting a \(plant) at \(path): errno \(errno)") }
        }

        /// A FIFO, a directory, a socket or a symbolic link (to a file, to a copy of a valid
        /// object, to a FIFO, to nothing) planted under the names `x` and `x-rm`. A child calls
        /// every entry point on `x` — `SharedMemory` in each mode, the mutex, array, semaphore,
        /// event and condition, both ends of a typed and of a byte channel, `exists`, `inspect`,
        /// `list`, `staleObjects` and `removeStaleObjects` in each scope — and `remove(named:)`
        /// on `x-rm`. Each opening one returns
        /// `.notARegularFile` (`.alreadyExists` for `.create`), inspection and listing show the
        /// entry with that header error, the default clean keeps it, the damaged-scope clean
        /// removes the entry (never what it points to), and all of it within the child's timeout.
        /// A link's target is byte-for-byte unchanged after all of it, and still a FIFO if it was.
        ///
        /// On 229f099: the FIFO and symlink-to-FIFO children hung (`inspect` opened the FIFO
        /// with `O_RDONLY`) and were killed at the timeout; root's open of the link to a copy
        /// of an object followed it and registered in the copy's table (the target's bytes
        /// changed); a link to a file was followed (`.invalidHeader(_, .truncated)`), a dangling one gave
        /// `.notFound` or `.unexpected(EAGAIN)`, a directory `.unexpected(EISDIR)`, a socket
        /// `.unexpected(ENXIO)`; nothing was listed as damaged and nothing removed by clean.
        @Test(arguments: Plant.allCases)
        func everyEntryPointRefusesIt(_ plant: Plant) throws {
            let directory = try PrivateShmDirectory("plant")
            defer { directory.remove() }
            let targets = NSTemporaryDirectory() + "ipt-targets-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: targets, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: targets) }

            var target = targets + "/missing"
            switch plant {
            case .symlinkToFile:
                target = targets + "/file"
                try Data("a plain file that must stay as it is\n".utf8).write(to: URL(fileURLWithPath: target))
            case .symlinkToObject:
                // A valid object of the kind and size the child's `array` probe asks for, copied
                // out of the shared-memory directory: followed, the link would open it.
                let maker = try directory.peer("open-once", "source", "create", "persistent")
                try maker.waitFor("done", timeout: .seconds(30))
                expectExitedNormally(maker)
                target = targets + "/object"
                try FileManager.default.copyItem(atPath: directory.file("source"), toPath: target)
                unlink(directory.file("source"))
            case .symlinkToFIFO:
                target = targets + "/fifo"
                #expect(mkfifo(target, 0o666) == 0)
            default:
                break
            }
            let targetBefore = contents(of: target)
            if plant == .symlinkToObject { #expect(targetBefore?.count ?? 0 > 4096, "the copy holds a whole object") }
            try self.plant(plant, at: directory.file("x"), target: target)
            try self.plant(plant, at: directory.file("x-rm"), target: target)

            // Bounded: a call that blocks (a FIFO opened for reading) or loops keeps the child
            // from saying "done", and the wait fails instead of hanging the suite.
            let probe = try directory.peer("probe-entry-points", "x", "x-rm")
            try probe.waitFor("done", timeout: .seconds(30))
            expectExitedNormally(probe)
            let results = keyedLines(probe.lines)

            var expected: [String: String] = [
                "segment.open": "notARegularFile", "segment.openOrCreate": "notARegularFile",
                "segment.create": "alreadyExists",
                "mutex": "notARegularFile", "mutex.open": "notARegularFile",
                "array": "notARegularFile", "array.open": "notARegularFile",
                "receiver": "segment.notARegularFile", "receiver.open": "segment.notARegularFile",
                "sender": "segment.notARegularFile", "sender.open": "segment.notARegularFile",
                "semaphore": "notARegularFile", "event": "notARegularFile", "condition": "notARegularFile",
                "byteSender": "segment.notARegularFile", "byteReceiver": "segment.notARegularFile",
                "exists": "true", "remove": "ok", "exists.afterRemove": "false",
                "inspect": "notARegularFile", "list": "notARegularFile",
                "stale": "absent", "stale.damaged": "damaged.notARegularFile",
                "clean": "kept", "clean.unused": "kept", "exists.afterClean": "true",
                "clean.damaged": "removed", "exists.afterCleanDamaged": "false"
            ]
            if plant == .directory {
                // `unlink` cannot remove a directory (EISDIR): `remove(named:)` says so with a
                // typed error, and clean lists it as damaged but reports it kept (`.failed`).
                expected["remove"] = "unexpected(\(EISDIR))"
                expected["exists.afterRemove"] = "true"
                expected["clean.damaged"] = "kept"
                expected["exists.afterCleanDamaged"] = "true"
            }
            for (label, value) in expected.sorted(by: { $0.key < $1.key }) {
                #expect(results[label] == value, "\(plant): \(label) answered \(results[label] ?? "nothing")")
            }

            if let targetBefore {
                #expect(contents(of: target) == targetBefore, "\(plant): the link's target changed")
            }
            if plant == .symlinkToFIFO {
                var st = stat()
                #expect(lstat(target, &st) == 0 && st.st_mode & S_IFMT == S_IFIFO, "the FIFO target is still a FIFO")
            }
            // Nothing was created in the target's directory either.
            let left = try FileManager.default.contentsOfDirectory(atPath: targets).sorted()
            let planted = [Plant.symlinkToFile, .symlinkToObject, .symlinkToFIFO].contains(plant)
            #expect(left == (planted ? [String(target.split(separator: "/").last!)] : []))
        }
    }

    /// Another user squatting a name: opening refuses its object unless that owner is trusted.
    @Suite struct Squatter {
        /// As `nobody`, a peer creates a valid object that everyone may write (0666) under the
        /// name root is about to use. Root's `openOrCreate` (and `open`) of it is
        /// `.foreignOwner(ownerUserID: 65534)` and `.create` is `.alreadyExists`, with the
        /// squatter's file byte-for-byte unchanged; trusting 65534 explicitly opens it.
        ///
        /// On 229f099 (no owner check): every open succeeded and root's registration was
        /// written into the squatter's participant table (the bytes changed).
        @Test(
            .enabled(if: canActAsAnotherUser, "skipped: acting as another user (nobody, 65534) needs root"),
            arguments: ["mutex", "array"])
        func foreignObjectIsRefusedUntilTrusted(kind: String) throws {
            let scenario = Scenario("squat")
            defer { scenario.removeAll() }
            let name = scenario.name
            let squatter = try Peer(PeerOption.asUser(nobodyUserID), arguments: ["squat", name, kind])
            try squatter.waitFor("created")
            expectExitedNormally(squatter)
            let path = SharedMemory.directory + "/" + SegmentName.prefix + name
            var st = stat()
            #expect(lstat(path, &st) == 0 && st.st_uid == nobodyUserID && st.st_mode & 0o777 == 0o666)
            let before = try #require(contents(of: path))

            let refused = SharedMemoryError.foreignOwner(name: name, ownerUserID: nobodyUserID)
            if kind == "mutex" {
                #expect(throws: refused) { _ = try ProcessMutex(named: name) }
                #expect(throws: refused) { _ = try ProcessMutex(named: name, mode: .open) }
                #expect(throws: refused) { _ = try ProcessMutex(named: name, lifetime: .removedWithLastUser) }
            } else {
                #expect(throws: refused) { _ = try SharedArray<Int>(named: name, count: 8, initialValue: 0) }
                #expect(throws: refused) { _ = try SharedArray<Int>(named: name) }
            }
            #expect(throws: refused) { _ = try SharedMemory(named: name, mode: .openOrCreate, size: 64) }
            #expect(throws: SharedMemoryError.alreadyExists(name: name)) {
                _ = try SharedMemory(named: name, mode: .create, size: 64)
            }
            // Inspection reads it (read-only, nothing written) and shows whose it is.
            let info = try SharedObjectRegistry.inspect(named: name)
            #expect(info.ownerUserID == nobodyUserID)
            #expect((try? info.header.get()) != nil)
            #expect(contents(of: path) == before, "the squatter's file was written")

            // Trusted explicitly, it opens (and is the squatter's object).
            let trusted = SharedMemory.OwnerPolicy.trusting(userIDs: [nobodyUserID])
            if kind == "mutex" {
                let mutex = try ProcessMutex(named: name, owners: trusted)
                #expect(!mutex.segment.wasCreated)
                #expect(try mutex.lock(timeout: .seconds(5)) == .acquired)
                try mutex.unlock()
            } else {
                let array = try SharedArray<Int>(named: name, count: 8, initialValue: 0, owners: trusted)
                #expect(!array.segment.wasCreated)
                #expect((0..<8).allSatisfy { array[$0] == 0x5157 })
            }
            if kind == "array" { #expect(try SharedArray<Int>(named: name, owners: .anyUser).count == 8) }
        }
    }

    /// A header's state word and creator forged by a process that can write the file: nothing
    /// removes an object a live process holds.
    @Suite struct ForgedHeader {
        /// Writes state = 1 (initialising) and the creator (pid, start time) of a process that
        /// does not exist into the header of `path`; with `fixChecksum`, recomputes the checksum
        /// over the forged fields too.
        static func forge(_ path: String, fixChecksum: Bool) throws {
            let fd = open(path, O_RDWR)
            guard fd >= 0 else { throw Peer.Failure(description: "open \(path): errno \(errno)") }
            defer { close(fd) }
            // The checksummed fields and the checksum.
            var header = [UInt8](repeating: 0, count: HeaderLayout.checksum + 8)
            guard pread(fd, &header, header.count, 0) == header.count else { throw Peer.Failure(description: "pread") }
            func store<T>(_ value: T, at offset: Int) {
                withUnsafeBytes(of: value) { for (i, b) in $0.enumerated() { header[offset + i] = b } }
            }
            store(UInt32(1), at: HeaderLayout.state)  // state: initializing
            store(Int32.max - 7, at: HeaderLayout.creatorPID)  // a pid above pid_max: no such process
            store(UInt64(12345), at: HeaderLayout.creatorStart)  // its "start time"
            if fixChecksum {
                store(header.withUnsafeBytes { HeaderLayout.checksum(of: $0) }, at: HeaderLayout.checksum)
            }
            guard pwrite(fd, header, header.count, 0) == header.count else { throw Peer.Failure(description: "pwrite") }
        }

        /// A child holds an object; another process forges its header to say "a dead creator
        /// is still initialising this". While the holder lives, `inspect` reports the header
        /// error but the object in use, the default and `.unused` cleans keep it, and
        /// `.openOrCreate` fails with `.creatorDiedDuringInitialization` without removing it
        /// (the holder's name still refers to its file). Once the holder is gone, the object
        /// is taken over: by clean (reason `.creatorDiedDuringInitialization`) or by
        /// `.openOrCreate` (a fresh object).
        ///
        /// On 229f099, in both checksum variants: the held object was listed stale, the
        /// default clean removed it, `.openOrCreate` created a new object under the name, and
        /// the holder's name no longer referred to its file.
        @Test(arguments: [false, true])
        func forgedStateWordRemovesNothingHeld(fixChecksum: Bool) throws {
            let directory = try PrivateShmDirectory("forge")
            defer { directory.remove() }
            let stop = directory.plainFile("stop")
            let holder = try directory.peer("hold", "x", "persistent", stop)
            try holder.waitFor("holding")
            try Self.forge(directory.file("x"), fixChecksum: fixChecksum)

            let held = try directory.registry("x", "info", "stale", "stale-unused", "clean", "clean-unused", "exists")
            #expect(held["info"]?.hasPrefix("true 1 0 0 ") == true, "in use by the holder: \(held["info"] ?? "")")
            #expect(held["info"]?.hasSuffix(" creatorDiedDuringInitialization") == true, "\(held["info"] ?? "")")
            #expect(held["stale"] == "absent")
            #expect(held["stale-unused"] == "absent")
            #expect(held["clean"] == "kept")
            #expect(held["clean-unused"] == "kept")
            #expect(held["exists"] == "true")

            let opener = try directory.peer("open-once", "x", "openOrCreate", "persistent")
            try opener.waitFor("done", timeout: .seconds(30))
            expectExitedNormally(opener)
            #expect(opener.lines.first == "x creatorDiedDuringInitialization")
            #expect(opener.lines.dropFirst().first == "x exists true")

            directory.touch(stop)
            #expect(try holder.waitFor("intact") == "intact 1 1", "the holder's object lost its name")
            expectExitedNormally(holder)

            // Nobody holds it now: it is taken over.
            if fixChecksum {
                let free = try directory.registry("x", "stale", "clean", "exists")
                #expect(free["stale"] == "creatorDiedDuringInitialization")
                #expect(free["clean"] == "removed creatorDiedDuringInitialization")
                #expect(free["exists"] == "false")
            } else {
                let successor = try directory.peer("open-once", "x", "openOrCreate", "persistent")
                try successor.waitFor("done", timeout: .seconds(30))
                expectExitedNormally(successor)
                #expect(successor.lines.first == "x created")
            }
        }
    }

    /// A process that can only read an object, taking read locks: it can deny locks, never
    /// take a role or make anyone look alive or dead.
    @Suite struct ReadOnlyLocker {
        /// The reader: a same-user child with an `O_RDONLY` descriptor, or (root only) `nobody`.
        enum Reader: String, CaseIterable, CustomStringConvertible, Sendable {
            case sameUser, otherUser
            var description: String { rawValue }
            var isAvailable: Bool { self == .sameUser || canActAsAnotherUser }
        }

        /// Starts `ro-lock NAME MODE` as `reader` and waits until it holds its locks.
        private func lockReadOnly(_ name: String, _ mode: String, as reader: Reader) throws -> Peer {
            let peer =
                reader == .otherUser
                ? try Peer(PeerOption.asUser(nobodyUserID), arguments: ["ro-lock", name, mode])
                : try Peer("ro-lock", name, mode)
            try peer.waitFor("locked")
            return peer
        }

        /// An SPSC channel others may read (0644, so `nobody` can open it read-only).
        private func makeReadableChannel(_ name: String, topology: ChannelTopology = .singleProducerSingleConsumer)
            throws
        {
            try ChannelReceiver<ChannelTestMessage>(
                named: name, capacity: 64, topology: topology, mode: .create,
                permissions: [.ownerReadWrite, .groupRead, .otherRead]
            ).close()
        }

        /// Read locks over the whole file (to infinity): opening an end of the channel is
        /// `.segment(.lockInterference)` (its presence cannot be taken), and `inspect` shows no
        /// live registration and nothing in use.
        @Test(arguments: Reader.allCases)
        func wholeFileReadLocksDenyButNeverHold(reader: Reader) throws {
            guard reader.isAvailable else {
                try Test.cancel("skipped: a reader of another user (nobody, 65534) needs root")
            }
            let scenario = Scenario("ro-whole")
            defer { scenario.removeAll() }
            try makeReadableChannel(scenario.name)
            let locker = try lockReadOnly(scenario.name, "whole", as: reader)
            defer { locker.send(SIGKILL) }

            #expect(throws: ChannelError.segment(.lockInterference(name: scenario.name))) {
                _ = try ChannelReceiver<ChannelTestMessage>(named: scenario.name, mode: .open)
            }
            #expect(throws: ChannelError.segment(.lockInterference(name: scenario.name))) {
                _ = try ChannelSender<ChannelTestMessage>(named: scenario.name, mode: .open)
            }
            let info = try SharedObjectRegistry.inspect(named: scenario.name)
            #expect(info.liveRegistrations.isEmpty, "\(info.liveRegistrations)")
            #expect(!info.isInUse)
            #expect(!info.participants.contains { $0.isAlive })
        }

        /// Read locks on the senders' presence bytes: registering as a sender is
        /// `lockInterference` (the registration could not be taken, and says so), registering as
        /// a receiver and opening still work.
        @Test(arguments: Reader.allCases)
        func presenceReadLocksMakeRegistrationThrow(reader: Reader) throws {
            guard reader.isAvailable else {
                try Test.cancel("skipped: a reader of another user (nobody, 65534) needs root")
            }
            let scenario = Scenario("ro-presence")
            defer { scenario.removeAll() }
            try makeReadableChannel(scenario.name)
            let locker = try lockReadOnly(scenario.name, "sender-presence", as: reader)
            defer { locker.send(SIGKILL) }

            let segment = try SharedMemory(existing: scenario.name)
            #expect(throws: SharedMemoryError.lockInterference(name: scenario.name)) {
                _ = try segment.register(as: .sender)
            }
            let receiver = try segment.register(as: .receiver)
            #expect(segment.liveRegistrations(of: .receiver) == 1)
            segment.deregister(receiver)
            #expect(throws: ChannelError.segment(.lockInterference(name: scenario.name))) {
                _ = try ChannelSender<ChannelTestMessage>(named: scenario.name, mode: .open)
            }
        }

        /// Read locks on the SPSC role bytes: a receiver or sender attempt is
        /// `.segment(.lockInterference)`, not `.roleTaken` (which a live holder of the role
        /// still gets); an MPMC channel, which has no role bytes, opens both ends.
        ///
        /// On 229f099 the attempts were `.roleTaken` (as they were with whole-file read locks).
        @Test(arguments: Reader.allCases)
        func roleByteReadLocksAreInterferenceNotRoleTaken(reader: Reader) throws {
            guard reader.isAvailable else {
                try Test.cancel("skipped: a reader of another user (nobody, 65534) needs root")
            }
            let scenario = Scenario("ro-roles")
            defer { scenario.removeAll() }
            try makeReadableChannel(scenario.name)
            let locker = try lockReadOnly(scenario.name, "roles", as: reader)
            defer { locker.send(SIGKILL) }
            #expect(throws: ChannelError.segment(.lockInterference(name: scenario.name))) {
                _ = try ChannelReceiver<ChannelTestMessage>(named: scenario.name, mode: .open)
            }
            #expect(throws: ChannelError.segment(.lockInterference(name: scenario.name))) {
                _ = try ChannelSender<ChannelTestMessage>(named: scenario.name, mode: .open)
            }
            let info = try SharedObjectRegistry.inspect(named: scenario.name)
            #expect(info.liveRegistrations.isEmpty && !info.isInUse)

            // The control: a live holder of the role is `.roleTaken`.
            let control = scenario.name + ".control"
            defer { try? SharedMemory.remove(named: control) }
            let first = try ChannelReceiver<ChannelTestMessage>(
                named: control, capacity: 8, topology: .singleProducerSingleConsumer)
            let second = try Peer("chan-open-hold", control, "receiver")
            #expect(throws: Peer.Failure.self) { try second.waitFor("opened", timeout: .seconds(10)) }
            #expect(second.lines.last?.contains("the channel already has a live receiver") == true, "\(second.lines)")
            first.close()

            // MPMC: no role byte, nothing to interfere with.
            let mpmc = scenario.name + ".mpmc"
            defer { try? SharedMemory.remove(named: mpmc) }
            try makeReadableChannel(mpmc, topology: .multiProducerMultiConsumer)
            let mpmcLocker = try lockReadOnly(mpmc, "roles", as: reader)
            defer { mpmcLocker.send(SIGKILL) }
            var receiver = try ChannelReceiver<ChannelTestMessage>(named: mpmc, mode: .open)
            var sender = try ChannelSender<ChannelTestMessage>(named: mpmc, mode: .open)
            try sender.send(ChannelTestMessage(producer: 0, sequence: 7))
            #expect(try receiver.receive(timeout: .seconds(5))?.sequence == 7)
        }

        /// Read locks on every participant-table slot: opening and registering still work
        /// (registrations without a slot), and liveness is unaffected: a live sender that sends
        /// nothing is not reported dead, a killed one is (`senderDied`).
        @Test(arguments: Reader.allCases)
        func slotReadLocksNeitherBlockNorKillRegistrations(reader: Reader) throws {
            guard reader.isAvailable else {
                try Test.cancel("skipped: a reader of another user (nobody, 65534) needs root")
            }
            let scenario = Scenario("ro-slots")
            defer { scenario.removeAll() }

            // A plain object: opening and registering with every slot read-locked.
            let segment = try SharedMemory(
                named: scenario.data, mode: .create, size: 64, permissions: [.ownerReadWrite, .groupRead, .otherRead])
            let objectLocker = try lockReadOnly(scenario.data, "slots", as: reader)
            defer { objectLocker.send(SIGKILL) }
            let opened = try SharedMemory(named: scenario.data, mode: .open, size: nil)
            let registration = try opened.register(as: .sender)
            #expect(registration.slot == nil, "every slot is read-locked")
            #expect(opened.liveRegistrations(of: .sender) == 1)
            let mutexName = scenario.lock
            _ = try ProcessMutex(
                named: mutexName, mode: .create, permissions: [.ownerReadWrite, .groupRead, .otherRead])
            let mutexLocker = try lockReadOnly(mutexName, "slots", as: reader)
            defer { mutexLocker.send(SIGKILL) }
            let mutex = try ProcessMutex(named: mutexName, mode: .open)
            #expect(try mutex.lock(timeout: .seconds(5)) == .acquired)
            try mutex.unlock()
            let info = try SharedObjectRegistry.inspect(named: scenario.data)
            #expect(
                info.liveRegistrations[.opener] == 2 && info.liveRegistrations[.sender] == 1,
                "\(info.liveRegistrations)")
            opened.deregister(registration)
            withExtendedLifetime(segment) {}

            // A channel: a receiver and a sender registered without slots.
            try makeReadableChannel(scenario.name)
            let channelLocker = try lockReadOnly(scenario.name, "slots", as: reader)
            defer { channelLocker.send(SIGKILL) }
            var receiver = try ChannelReceiver<ChannelTestMessage>(named: scenario.name, mode: .open)
            let sender = try Peer("chan-open-hold", scenario.name, "sender")
            try sender.waitFor("opened")
            // Alive and silent: nothing to receive, and no `senderDied`.
            do {
                #expect(try receiver.receive(timeout: .milliseconds(300)) == nil)
            } catch {
                Issue.record("a live sender without a table slot was reported as \(error)")
            }
            let live = try SharedObjectRegistry.inspect(named: scenario.name).liveRegistrations
            #expect(live[.sender] == 1 && live[.receiver] == 1, "\(live)")
            sender.send(SIGKILL)
            #expect(try sender.waitForExit() == .signaled(SIGKILL))
            let start = Deadline.now
            #expect(throws: ChannelError.senderDied) { _ = try receiver.receive(timeout: .seconds(10)) }
            #expect(elapsedMilliseconds(since: start) < 5_000)
        }

        /// A reader that read-locks every byte nobody write-locks, again every millisecond (so
        /// the bytes a dying sender frees are read-locked at once): a SIGKILLed sender is still
        /// reported to the receiver as `senderDied`, after every message it published.
        ///
        /// On 229f099 the receiver never saw `senderDied` (20 s): its liveness query took the
        /// reader's read lock on the dead sender's slot for a live sender. (With slot read-locks
        /// alone, the old `register` returned no registration at all.)
        @Test(arguments: Reader.allCases)
        func killedSenderIsDeadWhateverTheReaderLocks(reader: Reader) throws {
            guard reader.isAvailable else {
                try Test.cancel("skipped: a reader of another user (nobody, 65534) needs root")
            }
            let scenario = Scenario("ro-gaps")
            defer { scenario.removeAll() }
            try makeReadableChannel(scenario.name)
            var receiver = try ChannelReceiver<ChannelTestMessage>(named: scenario.name, mode: .open)
            let producer = try Peer("chan-produce", scenario.name, "adaptive", "0", "-1")
            try producer.waitFor("opened")
            let locker = try lockReadOnly(scenario.name, "gaps", as: reader)
            defer { locker.send(SIGKILL) }

            var next: UInt64 = 0
            while next < 2000 {
                guard let m = try receiver.receive(timeout: .seconds(20)) else {
                    Issue.record("no message within 20 s after \(next)")
                    return
                }
                #expect(m.isIntact && m.sequence == next)
                next += 1
            }
            let live = try SharedObjectRegistry.inspect(named: scenario.name).liveRegistrations
            #expect(live[.sender] == 1 && live[.receiver] == 1, "\(live)")
            producer.send(SIGKILL)
            #expect(try producer.waitForExit() == .signaled(SIGKILL))
            let killedAt = Deadline.now
            var ending: ChannelError? = nil
            while ending == nil {
                do {
                    guard let m = try receiver.receive(timeout: .seconds(20)) else {
                        Issue.record("neither a message nor senderDied within 20 s of the kill")
                        return
                    }
                    #expect(m.isIntact && m.sequence == next)
                    next += 1
                } catch {
                    ending = error
                }
            }
            #expect(ending == .senderDied)
            #expect(elapsedMilliseconds(since: killedAt) < 5_000)
            let after = try SharedObjectRegistry.inspect(named: scenario.name).liveRegistrations
            #expect(after[.sender] == nil && after[.receiver] == 1, "\(after)")
        }
    }

    /// A mutex locked through a handle that is dropped at once.
    @Suite struct DroppedLockedMutex {
        /// A child locks a mutex through a handle it drops at once, then creates and maps an
        /// array of the same size (so it would land at the mutex's old address) filled with its
        /// own thread id, and exits — or is SIGKILLed — without unlocking. The parent's next
        /// `lock` is `.previousOwnerDied`, not a timeout, and the array is unchanged: the
        /// kernel's robust-list walk wrote into the mutex, not into what was mapped since.
        ///
        /// On b697933 (before caa6337 kept a held mutex's mapping), in both variants: `lock`
        /// timed out after 5 s and the array's first word was changed (the kernel marked it
        /// owner-died: it held the owner's tid at the mutex's old address).
        @Test(arguments: ["exit", "kill"])
        func ownerDeathReachesTheMutexNotTheRecycledMemory(ending: String) throws {
            let scenario = Scenario("drop-mutex")
            defer { scenario.removeAll() }
            let mutex = try ProcessMutex(named: scenario.lock, mode: .create)
            let start = try ProcessEvent(named: scenario.start, resetMode: .manual, mode: .create)
            // 1024 words: a 4096-byte payload, one page after the header as the mutex's.
            let peer = try Peer("drop-locked-mutex", scenario.name, "1024", ending)
            try peer.waitFor("ready")
            let data = try SharedArray<UInt32>(named: scenario.data)
            if ending == "kill" {
                peer.send(SIGKILL)
                #expect(try peer.waitForExit() == .signaled(SIGKILL))
            } else {
                start.set()
                #expect(try peer.waitForExit() == .exited(0))
            }
            let result = try mutex.lock(timeout: .seconds(5))
            #expect(result == .previousOwnerDied)
            if result == .previousOwnerDied { try mutex.markConsistent() }
            if result != .timedOut { try mutex.unlock() }
            let expected = UInt32(peer.pid)
            let changed = (0..<data.count).filter { data[$0] != expected }
            #expect(
                changed.isEmpty,
                "words \(changed.prefix(4)) changed, first now \(changed.first.map { String(data[$0], radix: 16) } ?? "")"
            )
        }
    }
}
