// The hostile-neighbour roles of the test peer (see main.swift for the protocol with the parent).
//
// Options before the role (`PeerOption` in InterprocessTestSupport), consumed by `applyPeerOptions`:
//   --shm-directory=DIR   use DIR as the shared-memory directory (INTERPROCESS_SHM_DIRECTORY), so
//                         directory-wide operations (list, clean) see only one test's objects
//   --as-user=UID         become user and group UID (no supplementary groups) before the role
//   --trust=UID           open-once and hold also accept objects owned by UID
//
// The roles here either attack an object the way a hostile or careless neighbour would
// (planting, squatting, read-locking, forging, racing a cleaner), or call one library entry point
// and report what it answered as one line: "LABEL OUTCOME", where OUTCOME is "ok",
// "created", or the error's case name (see `outcome(_:)`).

import Glibc
@_spi(Layout) import Interprocess
import InterprocessTestSupport

// MARK: - Options

/// The owners `open-once` and `hold` accept (`--trust=UID` adds one).
nonisolated(unsafe) var acceptedOwners = SharedMemory.OwnerPolicy.currentUser

/// Applies the `--…` options that precede the role and returns the arguments without them.
func applyPeerOptions(_ arguments: [String]) -> [String] {
    var arguments = arguments
    while arguments.count > 1, arguments[1].hasPrefix("--") {
        let option = arguments.remove(at: 1)
        if option.hasPrefix(PeerOption.shmDirectoryPrefix) {
            setenv("INTERPROCESS_SHM_DIRECTORY", String(option.dropFirst(PeerOption.shmDirectoryPrefix.count)), 1)
        } else if option.hasPrefix(PeerOption.asUserPrefix) {
            guard let id = UInt32(option.dropFirst(PeerOption.asUserPrefix.count)) else {
                fail("bad option \(option)", status: 2)
            }
            // As root, setgid and setuid set the real, effective and saved ids alike.
            guard setgroups(0, nil) == 0, setgid(id) == 0, setuid(id) == 0 else {
                fail("could not become user \(id): errno \(errno)", status: 2)
            }
        } else if option.hasPrefix(PeerOption.trustPrefix) {
            guard let id = UInt32(option.dropFirst(PeerOption.trustPrefix.count)) else {
                fail("bad option \(option)", status: 2)
            }
            acceptedOwners = .trusting(userIDs: [id])
        } else {
            fail("unknown option \(option)", status: 2)
        }
    }
    return arguments
}

// MARK: - Reporting

/// The case name of `error`, with the payload a test checks (an owner's uid).
func outcome(_ error: SharedMemoryError) -> String {
    switch error {
    case .notARegularFile: "notARegularFile"
    case let .foreignOwner(_, owner): "foreignOwner(\(owner))"
    case .alreadyExists: "alreadyExists"
    case .notFound: "notFound"
    case .permissionDenied: "permissionDenied"
    case .lockInterference: "lockInterference"
    case .creatorDiedDuringInitialization: "creatorDiedDuringInitialization"
    case .removalInProgress: "removalInProgress"
    case .invalidHeader(_, .truncated): "truncated"
    case .mismatch(_, .kind): "kindMismatch"
    case .invalidHeader(_, .corrupt): "corruptHeader"
    case let .unexpected(errno, _): "unexpected(\(errno.rawValue))"
    case .readOnly: "readOnly"
    case .damaged: "damaged"
    case .invalidHeader(_, .badMagic): "badMagic"
    default: "other(\(String(describing: error).split(separator: " ").joined(separator: "_")))"
    }
}

func outcome(_ error: ChannelError) -> String {
    switch error {
    case let .segment(inner): "segment." + outcome(inner)
    case .roleTaken: "roleTaken"
    case .senderDied: "senderDied"
    case .receiverDied: "receiverDied"
    case .closed: "closed"
    default: "other(\(String(describing: error).split(separator: " ").joined(separator: "_")))"
    }
}

func outcome(_ reason: StaleObject.Reason) -> String {
    switch reason {
    case .lastUserGone: "lastUserGone"
    case .unused: "unused"
    case .creatorDiedDuringInitialization: "creatorDiedDuringInitialization"
    case .abandonedTemporaryFile: "abandonedTemporaryFile"
    case let .damaged(error): "damaged." + outcome(error)
    }
}

/// The header of an inspected object: "ok" or the error's case name.
func outcome(_ header: Result<SharedObjectInfo.Header, SharedMemoryError>) -> String {
    switch header {
    case .success: "ok"
    case let .failure(error): outcome(error)
    }
}

/// Runs `body` and says "LABEL opened" or "LABEL ERROR".
func probe(_ label: String, _ body: () throws(SharedMemoryError) -> Void) {
    do {
        try body()
        say("\(label) ok")
    } catch { say("\(label) \(outcome(error))") }
}

func probeChannel(_ label: String, _ body: () throws(ChannelError) -> Void) {
    do {
        try body()
        say("\(label) ok")
    } catch { say("\(label) \(outcome(error))") }
}

// MARK: - Files

/// The backing file of the object `name` in the current shared-memory directory.
func objectPath(_ name: String) -> String {
    SharedMemory.directory + "/" + SegmentName.prefix + name
}

/// Whether the directory entry `path` is the file open as `descriptor` (same device and inode).
func namesFile(_ path: String, _ descriptor: Int32) -> Bool {
    var open = stat()
    var entry = stat()
    guard fstat(descriptor, &open) == 0, lstat(path, &entry) == 0 else { return false }
    return open.st_dev == entry.st_dev && open.st_ino == entry.st_ino
}

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// Blocks until `stopFile` exists (polled every 5 ms) or stdin reaches end-of-file.
func waitForStopFile(_ stopFile: String) {
    while !fileExists(stopFile) {
        var descriptor = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
        if poll(&descriptor, 1, 5) > 0 {
            var byte: UInt8 = 0
            if read(STDIN_FILENO, &byte, 1) <= 0 { return }
        }
    }
}

func lifetimeArgument(_ text: String) -> SharedMemory.Lifetime {
    switch text {
    case "persistent": .persistent
    case "transient": .removedWithLastUser
    default: fail("lifetime '\(text)' is not persistent or transient", status: 2)
    }
}

func modeArgument(_ text: String) -> SharedMemory.OpenMode {
    switch text {
    case "open": .open
    case "openOrCreate": .openOrCreate
    case "create": .create
    default: fail("mode '\(text)' is not open, openOrCreate or create", status: 2)
    }
}

// MARK: - Read-only locks

// The OFD lock commands (<fcntl.h> with _GNU_SOURCE), which the Glibc module does not export.
let F_OFD_GETLK_: Int32 = 36
let F_OFD_SETLK_: Int32 = 37

/// `F_OFD_SETLK` of type `type` on `[start, start+length)` (`length` 0: to infinity).
func ofdLock(_ fd: Int32, type: Int32, start: Int64, length: Int64) -> Bool {
    var lock = flock()
    lock.l_type = Int16(type)
    lock.l_whence = Int16(SEEK_SET)
    lock.l_start = Int(start)
    lock.l_len = Int(length)
    return fcntl(fd, F_OFD_SETLK_, &lock) == 0
}

/// The write locks other open file descriptions hold in `[start, end)`, as ranges (end
/// `Int64.max`: to infinity). A read-lock query conflicts only with write locks.
func writeLocks(_ fd: Int32, from start: Int64, to end: Int64) -> [(Int64, Int64)] {
    var found: [(Int64, Int64)] = []
    var pending = [(start, end)]
    while let (from, to) = pending.popLast(), found.count < 10_000 {
        guard from < to else { continue }
        var query = flock()
        query.l_type = Int16(F_RDLCK)
        query.l_whence = Int16(SEEK_SET)
        query.l_start = Int(from)
        query.l_len = to == Int64.max ? 0 : Int(to - from)
        guard fcntl(fd, F_OFD_GETLK_, &query) == 0, query.l_type != Int16(F_UNLCK) else { continue }
        let heldStart = Int64(query.l_start)
        let heldEnd = query.l_len == 0 ? Int64.max : heldStart + Int64(query.l_len)
        found.append((heldStart, heldEnd))
        pending.append((from, max(from, heldStart)))
        pending.append((min(to, heldEnd), to))
    }
    return found.sorted { $0.0 < $1.0 }
}

/// Read-locks every byte of the file (to infinity) that no other open file description
/// write-locks now; returns how many ranges it locked.
@discardableResult
func readLockEverythingFree(_ fd: Int32) -> Int {
    var locked = 0
    var from: Int64 = 0
    for (start, end) in writeLocks(fd, from: 0, to: Int64.max) + [(Int64.max, Int64.max)] {
        if start > from {
            // A write lock taken since the query makes this range fail; the next pass retries.
            if ofdLock(fd, type: Int32(F_RDLCK), start: from, length: start == Int64.max ? 0 : start - from) {
                locked += 1
            }
        }
        from = max(from, end)
        if from == Int64.max { break }
    }
    return locked
}

// MARK: - Roles

/// Runs the hostile-neighbour role `role`; `false` if `role` is not one of them.
func runHostileRole(_ role: String, name: String, _ rest: [String]) throws -> Bool {
    switch role {
    case "probe-entry-points":
        // probe-entry-points NAME RMNAME: call every library entry point on NAME (something
        // planted there) and say one "LABEL OUTCOME" line for each (`remove` is
        // `remove(named:)` of RMNAME, planted the same way); then "done". Directory-wide calls (list, stale, clean)
        // see the whole shared-memory directory: run this with --shm-directory.
        guard rest.count == 1 else { fail("usage: probe-entry-points NAME RMNAME", status: 2) }
        let removable = rest[0]
        probe("segment.open") { () throws(SharedMemoryError) in
            _ = try SharedMemory(named: name, mode: .open, size: nil)
        }
        probe("segment.openOrCreate") { () throws(SharedMemoryError) in
            _ = try SharedMemory(named: name, mode: .openOrCreate, size: 64)
        }
        probe("segment.create") { () throws(SharedMemoryError) in
            _ = try SharedMemory(named: name, mode: .create, size: 64)
        }
        probe("mutex") { () throws(SharedMemoryError) in _ = try ProcessMutex(named: name) }
        probe("mutex.open") { () throws(SharedMemoryError) in _ = try ProcessMutex(named: name, mode: .open) }
        probe("array") { () throws(SharedMemoryError) in
            // The type and count `open-once` and `hold` create: a link to a copy of such an
            // object would open if it were followed.
            _ = try SharedArray<UInt64>(named: name, count: 8, initialValue: 0, mode: .openOrCreate)
        }
        probe("array.open") { () throws(SharedMemoryError) in _ = try SharedArray<UInt64>(named: name) }
        probeChannel("receiver") { () throws(ChannelError) in
            _ = try ChannelReceiver<UInt64>(named: name, capacity: 8, topology: .singleProducerSingleConsumer)
        }
        probeChannel("receiver.open") { () throws(ChannelError) in
            _ = try ChannelReceiver<UInt64>(named: name, mode: .open)
        }
        probeChannel("sender") { () throws(ChannelError) in
            _ = try ChannelSender<UInt64>(named: name, capacity: 8, topology: .multiProducerMultiConsumer)
        }
        probeChannel("sender.open") { () throws(ChannelError) in _ = try ChannelSender<UInt64>(named: name, mode: .open)
        }
        probe("semaphore") { () throws(SharedMemoryError) in _ = try ProcessSemaphore(named: name) }
        probe("event") { () throws(SharedMemoryError) in _ = try ProcessEvent(named: name) }
        probe("condition") { () throws(SharedMemoryError) in _ = try ProcessCondition(named: name) }
        probeChannel("byteSender") { () throws(ChannelError) in _ = try ByteChannelSender(named: name, bufferSize: 4096)
        }
        probeChannel("byteReceiver") { () throws(ChannelError) in _ = try ByteChannelReceiver(named: name, mode: .open)
        }
        say("exists \(SharedMemory.exists(named: name))")
        probe("remove") { () throws(SharedMemoryError) in try SharedMemory.remove(named: removable) }
        say("exists.afterRemove \(SharedMemory.exists(named: removable))")
        do { say("inspect \(outcome(try SharedObjectRegistry.inspect(named: name).header))") } catch {
            say("inspect threw-\(outcome(error))")
        }
        do {
            let entry = try SharedObjectRegistry.list().first { $0.name == name }
            say("list \(entry.map { outcome($0.header) } ?? "absent")")
        } catch {
            say("list threw-\(outcome(error))")
        }
        do {
            say(
                "stale \(try SharedObjectRegistry.staleObjects().first { $0.name == name }.map { outcome($0.reason) } ?? "absent")"
            )
            say(
                "stale.damaged \(try SharedObjectRegistry.staleObjects(scope: .damaged).first { $0.name == name }.map { outcome($0.reason) } ?? "absent")"
            )
            say(
                "clean \(try SharedObjectRegistry.removeStaleObjects().contains { $0.name == name } ? "removed" : "kept")"
            )
            say(
                "clean.unused \(try SharedObjectRegistry.removeStaleObjects(scope: .unused).contains { $0.name == name } ? "removed" : "kept")"
            )
            say("exists.afterClean \(SharedMemory.exists(named: name))")
            say(
                "clean.damaged \(try SharedObjectRegistry.removeStaleObjects(scope: .damaged).contains { $0.name == name } ? "removed" : "kept")"
            )
            say("exists.afterCleanDamaged \(SharedMemory.exists(named: name))")
        } catch {
            say("clean threw-\(outcome(error))")
        }
        say("done")

    case "squat":
        // squat NAME KIND: create a valid mutex or SharedArray<Int> (8 elements of 0x5157)
        // NAME that everyone may read and write (0666), say "created", and exit (the object
        // stays). Run with --as-user to squat a name another user will want.
        guard rest.count == 1 else { fail("usage: squat NAME mutex|array", status: 2) }
        switch rest[0] {
        case "mutex":
            _ = try ProcessMutex(
                named: name, mode: .create, permissions: [.ownerReadWrite, .groupReadWrite, .otherReadWrite])
        case "array":
            _ = try SharedArray<Int>(
                named: name, count: 8, initialValue: 0x5157, mode: .create,
                permissions: [.ownerReadWrite, .groupReadWrite, .otherReadWrite])
        default: fail("squat: kind '\(rest[0])' is not mutex or array", status: 2)
        }
        say("created")

    case "open-once":
        // open-once NAME MODE LIFETIME [NAME…]: open each SharedArray<UInt64> NAME (8 elements,
        // created 0666 so that another user's child may open it) with MODE; say "NAME created|opened|ERROR", release it, and say "NAME exists true|false";
        // then "done".
        guard rest.count >= 2 else { fail("usage: open-once NAME MODE LIFETIME [NAME…]", status: 2) }
        let mode = modeArgument(rest[0])
        let lifetime = lifetimeArgument(rest[1])
        for object in [name] + rest.dropFirst(2) {
            do {
                let array = try SharedArray<UInt64>(
                    named: object, count: 8, initialValue: 0, mode: mode,
                    permissions: [.ownerReadWrite, .groupReadWrite, .otherReadWrite], lifetime: lifetime,
                    owners: acceptedOwners)
                say("\(object) \(array.segment.wasCreated ? "created" : "opened")")
            } catch {
                say("\(object) \(outcome(error))")
            }
            say("\(object) exists \(SharedMemory.exists(named: object))")
        }
        say("done")

    case "hold":
        // hold NAME LIFETIME STOPFILE [NAME…]: openOrCreate each SharedArray<UInt64> NAME (8
        // elements, created 0666) and hold them; say "holding", then wait until STOPFILE exists (or stdin
        // closes, or a kill); then say "intact K N": K of the N names still refer to the files held.
        guard rest.count >= 2 else { fail("usage: hold NAME LIFETIME STOPFILE [NAME…]", status: 2) }
        let lifetime = lifetimeArgument(rest[0])
        let names = [name] + rest.dropFirst(2)
        let held = try names.map { (object) throws(SharedMemoryError) in
            try SharedArray<UInt64>(
                named: object, count: 8, initialValue: 0, mode: .openOrCreate,
                permissions: [.ownerReadWrite, .groupReadWrite, .otherReadWrite], lifetime: lifetime,
                owners: acceptedOwners)
        }
        say("holding")
        waitForStopFile(rest[1])
        let intact = zip(names, held).filter { namesFile(objectPath($0.0), $0.1.segment.fileDescriptor.rawValue) }.count
        say("intact \(intact) \(names.count)")

    case "hold-opens":
        // hold-opens NAME COUNT LIFETIME: open COUNT handles (each its own registration) of the
        // raw segment NAME (64 bytes, openOrCreate), say "holding COUNT", block until killed.
        guard rest.count == 2 else { fail("usage: hold-opens NAME COUNT LIFETIME", status: 2) }
        let count = integer(rest[0], "COUNT")
        let lifetime = lifetimeArgument(rest[1])
        var handles: [SharedMemory] = []
        for _ in 0..<count {
            handles.append(try SharedMemory(named: name, mode: .openOrCreate, size: 64, lifetime: lifetime))
        }
        say("holding \(handles.count)")
        blockOnStdin()
        withExtendedLifetime(handles) {}

    case "registry":
        // registry NAME OP…: run each directory-wide OP and say "OP RESULT" (for NAME):
        //   info           "info INUSE OPENERS SENDERS RECEIVERS TABLEFULL LISTED ALIVE HEADER"
        //   stale          NAME's reason in staleObjects(), or "absent" (stale-unused, stale-damaged: with that scope)
        //   clean          "removed REASON" or "kept" for removeStaleObjects() (clean-unused, clean-damaged)
        //   exists         SharedMemory.exists
        for op in rest {
            switch op {
            case "info":
                do {
                    let info = try SharedObjectRegistry.inspect(named: name)
                    let live = info.liveRegistrations
                    say(
                        "info \(info.isInUse) \(live[.opener] ?? 0) \(live[.sender] ?? 0) \(live[.receiver] ?? 0) "
                            + "\(info.participantTableIsFull) \(info.participants.count) "
                            + "\(info.participants.filter(\.isAlive).count) \(outcome(info.header))")
                } catch {
                    say("info \(outcome(error))")
                }
            case "stale", "stale-unused", "stale-damaged":
                let scope: CleanupScope = op == "stale" ? [] : op == "stale-unused" ? .unused : .damaged
                let reason = try SharedObjectRegistry.staleObjects(scope: scope).first { $0.name == name }?.reason
                say("\(op) \(reason.map(outcome) ?? "absent")")
            case "clean", "clean-unused", "clean-damaged":
                let scope: CleanupScope = op == "clean" ? [] : op == "clean-unused" ? .unused : .damaged
                let removed = try SharedObjectRegistry.removeStaleObjects(scope: scope).first { $0.name == name }
                say("\(op) \(removed.map { "removed " + outcome($0.reason) } ?? "kept")")
            case "exists":
                say("exists \(SharedMemory.exists(named: name))")
            default:
                fail("registry: unknown op '\(op)'", status: 2)
            }
        }
        say("done")

    case "race-hold":
        // race-hold NAME ITERATIONS LIFETIME [NAME…]: ITERATIONS times, openOrCreate the next NAME (a
        // SharedArray<UInt64> of 8), check that the name refers to the file held (fstat of the
        // descriptor against lstat of the path), hold it 0-100 µs, check again, release. Says
        // "mismatch I NAME WHEN" for every failed check, then
        // "result ITERATIONS MISMATCHES CREATED FAILURES".
        guard rest.count >= 2 else { fail("usage: race-hold NAME ITERATIONS LIFETIME [NAME…]", status: 2) }
        let iterations = integer(rest[0], "ITERATIONS")
        let lifetime = lifetimeArgument(rest[1])
        let names = [name] + rest.dropFirst(2)
        var mismatches = 0, created = 0, failures = 0
        for i in 0..<iterations {
            let object = names[i % names.count]
            let path = objectPath(object)
            do {
                let array = try SharedArray<UInt64>(
                    named: object, count: 8, initialValue: 0, mode: .openOrCreate, lifetime: lifetime)
                let fd = array.segment.fileDescriptor.rawValue
                if array.segment.wasCreated { created += 1 }
                if !namesFile(path, fd) {
                    mismatches += 1
                    say("mismatch \(i) \(object) opened")
                }
                array[0] &+= 1
                usleep(UInt32.random(in: 0...100))
                if !namesFile(path, fd) {
                    mismatches += 1
                    say("mismatch \(i) \(object) held")
                }
            } catch {
                failures += 1
                say("openfailed \(i) \(object) \(outcome(error))")
            }
        }
        say("result \(iterations) \(mismatches) \(created) \(failures)")

    case "race-clean":
        // race-clean STOPFILE [HELD…]: say "cleaning", run removeStaleObjects(scope: .unused)
        // over and over until STOPFILE exists; say "heldremoved NAME" whenever it removed a HELD
        // name (held by a live process throughout), then "result SWEEPS REMOVED HELDREMOVED".
        let stopFile = name
        let held = Set(rest)
        var sweeps = 0, removed = 0, heldRemoved = 0
        say("cleaning")
        while !fileExists(stopFile) {
            let gone = try SharedObjectRegistry.removeStaleObjects(scope: .unused)
            sweeps += 1
            removed += gone.count
            for object in gone where held.contains(object.name) {
                heldRemoved += 1
                say("heldremoved \(object.name)")
            }
        }
        say("result \(sweeps) \(removed) \(heldRemoved)")

    case "ro-lock":
        // ro-lock NAME MODE: open NAME's file read-only (no library call) and take read OFD
        // locks: `whole` (0 to infinity), `roles` (bytes 1024-1025), `removal` (byte 1026), `sender-presence` (the senders' presence bytes), `slots` (every slot of the
        // participant table, 1088-4095, that no live participant holds), or `gaps` (every byte no other process write-locks, taken again
        // every millisecond, so bytes a dying process frees are read-locked at once). Says
        // "locked" and holds them until killed.
        guard rest.count == 1 else {
            fail("usage: ro-lock NAME whole|roles|removal|sender-presence|slots|gaps", status: 2)
        }
        let fd = open(objectPath(name), O_RDONLY | O_NOFOLLOW)
        guard fd >= 0 else { fail("open \(objectPath(name)) read-only: errno \(errno)") }
        let readLock = Int32(F_RDLCK)
        switch rest[0] {
        case "whole": guard ofdLock(fd, type: readLock, start: 0, length: 0) else { fail("read lock: errno \(errno)") }
        case "roles":
            let start = Int64(HeaderLayout.senderRoleByte), end = Int64(HeaderLayout.receiverRoleByte) + 1
            guard ofdLock(fd, type: readLock, start: start, length: end - start) else {
                fail("read lock: errno \(errno)")
            }
        case "sender-presence":
            let range = HeaderLayout.presenceRange(of: .sender)
            guard ofdLock(fd, type: readLock, start: range.start, length: range.length) else {
                fail("read lock: errno \(errno)")
            }
        case "removal":
            let byte = Int64(HeaderLayout.removalByte)
            guard ofdLock(fd, type: readLock, start: byte, length: 1) else { fail("read lock: errno \(errno)") }
        case "slots":
            // Slot by slot: a slot a live participant write-locks cannot be read-locked.
            let slot = HeaderLayout.participantSlotSize
            let locked = (0..<HeaderLayout.participantSlotCount).filter {
                ofdLock(
                    fd, type: readLock, start: Int64(HeaderLayout.participantTable + slot * $0), length: Int64(slot))
            }.count
            guard locked > 0 else { fail("no slot could be read-locked") }
        case "gaps":
            guard readLockEverythingFree(fd) > 0 else { fail("no range could be read-locked") }
            say("locked")
            while true {
                readLockEverythingFree(fd)
                usleep(1000)
            }
        default: fail("ro-lock: mode '\(rest[0])'", status: 2)
        }
        // A write lock through a read-only descriptor must be refused (EBADF): the premise.
        if ofdLock(fd, type: Int32(F_WRLCK), start: 1_000_000, length: 1) {
            fail("a read-only descriptor took a write lock")
        }
        say("locked")
        blockOnStdin()

    case "chan-open-hold":
        // chan-open-hold NAME sender|receiver: open that end of the channel NAME, say "opened",
        // and hold it (sending and receiving nothing) until killed.
        guard rest.count == 1 else { fail("usage: chan-open-hold NAME sender|receiver", status: 2) }
        if rest[0] == "sender" {
            let sender = try ChannelSender<ChannelTestMessage>(named: name, mode: .open)
            say("opened")
            blockOnStdin()
            exitWithoutClosing(sender, 0)
        } else {
            let receiver = try ChannelReceiver<ChannelTestMessage>(named: name, mode: .open)
            say("opened")
            blockOnStdin()
            _ = consume receiver
        }

    case "chan-hold-many":
        // chan-hold-many NAME COUNT: open COUNT receivers of the MPMC channel NAME (each its
        // own registration), say "holding COUNT", and hold them until killed.
        guard rest.count == 1 else { fail("usage: chan-hold-many NAME COUNT", status: 2) }
        // Recursion keeps every (noncopyable) receiver alive in its own frame.
        func holdReceivers(_ remaining: Int, _ total: Int) throws(ChannelError) {
            let receiver = try ChannelReceiver<ChannelTestMessage>(named: name, mode: .open)
            if remaining > 1 {
                try holdReceivers(remaining - 1, total)
            } else {
                say("holding \(total)")
                blockOnStdin()
            }
            _ = consume receiver
        }
        let count = integer(rest[0], "COUNT")
        try holdReceivers(count, count)

    case "drop-locked-mutex":
        // drop-locked-mutex NAME WORDS exit|kill: lock NAME.lock through a handle dropped at
        // once (`_ = try ProcessMutex(named:).lock()`), then create NAME.data, a
        // SharedArray<UInt32> of WORDS elements, each this thread's id (a robust-list walk that
        // finds this id at the mutex's old address would mark it owner-died), say "ready",
        // and wait for the start gun NAME.start. Then exit without unlocking (`exit`) or wait
        // for the kill (`kill`).
        guard rest.count == 2 else { fail("usage: drop-locked-mutex NAME WORDS exit|kill", status: 2) }
        let words = integer(rest[0], "WORDS")
        let start = try ProcessEvent(named: name + ".start", resetMode: .manual, mode: .open)
        let result = try ProcessMutex(named: name + ".lock", mode: .open).lock(timeout: .seconds(10))
        guard result == .acquired else { fail("lock: \(result)") }
        // The main thread's id is the pid.
        let data = try SharedArray<UInt32>(
            named: name + ".data", count: words, initialValue: UInt32(getpid()), mode: .create)
        say("ready")
        guard start.wait(timeout: .seconds(30)) else { fail("start event not set within 30 s") }
        if rest[1] == "kill" { blockOnStdin() }
        withExtendedLifetime(data) {}
        exit(0)

    default:
        return false
    }
    return true
}
