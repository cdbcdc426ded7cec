// The child process of the multi-process tests.
//
// `InterprocessTestPeer ROLE NAME [ARGS…]` plays one side of a cross-process scenario on the
// objects derived from NAME:
//
//   NAME.lock   a ProcessMutex          NAME.cond   a ProcessCondition
//   NAME.data   a SharedArray<Int>      NAME.start  a manual ProcessEvent (a start gun)
//   NAME.sem    a ProcessSemaphore      NAME.event  a ProcessEvent
//   NAME        a channel (the chan-… roles, in ChannelRoles.swift)
//   NAME        a topic (the topic-… roles, in TopicRoles.swift)
//   NAME        a service (the service-… roles, in ServiceRoles.swift)
//   NAME        a segment attacked under its users (truncated, punched, sparse; HostileRoles.swift)
//
// The protocol with the parent: the peer reports progress as whole lines on stdout, flushed at
// once ("ready", "locked", "waiting", …), and its result as a last line plus its exit status.
// The parent reads lines until the one it expects; it never sleeps to wait for a peer.
//
// Exit status: 0 the role ran and reported its outcome; 1 a check failed (the peer saw
// something that must not happen); 2 bad usage; 3 an unexpected error.
//
// Roles that must outlive a step of the parent block reading stdin: the parent holds the write
// end of that pipe, so a peer whose parent dies sees end-of-file and exits instead of leaking.

import Glibc
import Interprocess

/// Writes all of `text` to `descriptor` with `write(2)`: unbuffered, so the parent sees it now.
func write(_ text: String, to descriptor: Int32) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let n = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        bytes = bytes.dropFirst(n)
    }
}

/// Writes one line to stdout.
func say(_ line: String) {
    write(line + "\n", to: STDOUT_FILENO)
}

/// Reports a failure on stderr (and as a last stdout line) and exits with `status`.
func fail(_ message: String, status: Int32 = 1) -> Never {
    write("InterprocessTestPeer: \(message)\n", to: STDERR_FILENO)
    say("error \(message)")
    exit(status)
}

/// Blocks until the parent closes our stdin (or writes to it; the content is ignored).
func blockOnStdin() {
    var byte: UInt8 = 0
    while true {
        let n = read(STDIN_FILENO, &byte, 1)
        if n == 0 { return }
        if n < 0 && errno != EINTR { return }
    }
}

/// Milliseconds elapsed since `start` on the monotonic clock.
func milliseconds(since start: Deadline) -> Int {
    Int((Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000)
}

/// Locks `mutex`, failing the peer on anything but a plain acquisition.
func lockOrFail(_ mutex: ProcessMutex) {
    do {
        switch try mutex.lock(timeout: .seconds(30)) {
        case .acquired: return
        case .previousOwnerDied: fail("lock: previous owner died")
        case .timedOut: fail("lock: timed out after 30 s")
        }
    } catch {
        fail("lock: \(error)")
    }
}

func unlockOrFail(_ mutex: ProcessMutex) {
    do { try mutex.unlock() } catch { fail("unlock: \(error)") }
}

/// Waits for the parent's start gun `NAME.start`, after saying "ready".
func awaitStart(_ name: String) throws {
    let start = try ProcessEvent(named: name + ".start", resetMode: .manual, mode: .open)
    say("ready")
    guard start.wait(timeout: .seconds(30)) else { fail("start event not set within 30 s") }
}

func integer(_ text: String, _ what: String) -> Int {
    guard let value = Int(text) else { fail("\(what) '\(text)' is not an integer", status: 2) }
    return value
}

/// The value every element of a `race-open` array starts with.
let racePattern: UInt64 = 0xA5A5_5A5A_DEAD_BEEF

// Options before the role (--shm-directory=, --as-user=) are applied first (HostileRoles.swift).
let arguments = applyPeerOptions(CommandLine.arguments)
guard arguments.count >= 3 else {
    fail("usage: InterprocessTestPeer ROLE NAME [ARGS…]", status: 2)
}
let role = arguments[1]
let name = arguments[2]
let rest = Array(arguments.dropFirst(3))

do {
    switch role {
    case "increment":
        // increment NAME N: N increments of NAME.data[0], each under NAME.lock, after the
        // start gun so that every peer contends at once. N = -1: increment until killed,
        // saying "progress" during the 1001st.
        guard rest.count == 1 else { fail("usage: increment NAME N", status: 2) }
        let count = integer(rest[0], "N")
        let mutex = try ProcessMutex(named: name + ".lock", mode: .open)
        let data = try SharedArray<Int>(named: name + ".data")
        try awaitStart(name)
        var done = 0
        while count < 0 || done < count {
            lockOrFail(mutex)
            // data[1] is an "inside" marker: finding it set means two processes are in the
            // critical section at once.
            if data[1] != 0 { fail("mutual exclusion violated: data[1] = \(data[1])") }
            data[1] = 1
            // Forever mode reports progress from inside the critical section, half-way
            // through an update: a kill that follows at once lands while the lock is held.
            if count < 0 && done == 1000 { say("progress") }
            data[0] += 1
            data[1] = 0
            unlockOrFail(mutex)
            done += 1
        }
        say("done")

    case "race-open":
        // race-open NAME COUNT: after the start gun, `.openOrCreate` the SharedArray NAME of
        // COUNT elements filled with `racePattern`; say "created" or "opened", then check that
        // every element holds the pattern (a half-initialised segment would not).
        guard rest.count == 1 else { fail("usage: race-open NAME COUNT", status: 2) }
        let count = integer(rest[0], "COUNT")
        try awaitStart(name)
        let array = try SharedArray<UInt64>(
            named: name, count: count, initialValue: racePattern, mode: .openOrCreate)
        say(array.segment.wasCreated ? "created" : "opened")
        let firstBad = array.withUnsafeMutableBufferPointer { $0.firstIndex { $0 != racePattern } }
        if let firstBad {
            fail("element \(firstBad) is \(array[firstBad]), not the initial pattern")
        }
        say("verified \(array.count)")

    case "lock-and-hang":
        // lock-and-hang NAME: lock NAME.lock, say "locked", and hold it until killed (or until
        // stdin closes).
        let mutex = try ProcessMutex(named: name + ".lock", mode: .open)
        lockOrFail(mutex)
        say("locked")
        blockOnStdin()
        // Exiting here still holds the mutex: the kernel reports the owner's death.
        exit(0)

    case "lock-unlock":
        // lock-unlock NAME: lock NAME.lock and unlock it; say "acquired", "previousOwnerDied",
        // "notRecoverable" or "timedout".
        let mutex = try ProcessMutex(named: name + ".lock", mode: .open)
        do {
            switch try mutex.lock(timeout: .seconds(10)) {
            case .acquired:
                unlockOrFail(mutex)
                say("acquired")
            case .previousOwnerDied:
                // Leave it as found for the parent to judge: repair is not this role's business.
                say("previousOwnerDied")
                exit(0)
            case .timedOut:
                say("timedout")
            }
        } catch {
            // (A `catch ProcessMutexError.notRecoverable` pattern here crashes the Swift 6.3.1
            // compiler in SILGen; compare instead.)
            guard error == .notRecoverable else { throw error }
            say("notRecoverable")
        }

    case "wait-condition":
        // wait-condition NAME TIMEOUT_MS: lock NAME.lock, say "waiting" (still holding it),
        // then wait on NAME.cond until NAME.data[0] != 0. Say "signaled MS" if the predicate
        // became true through a notification, "timedout MS" if a wait ran into its deadline.
        //
        // "waiting" is printed under the mutex, and the wait releases it atomically with
        // registering as a waiter: a parent that locks the mutex after reading "waiting" and
        // then sets the predicate and notifies cannot notify too early.
        guard rest.count == 1 else { fail("usage: wait-condition NAME TIMEOUT_MS", status: 2) }
        let timeout = integer(rest[0], "TIMEOUT_MS")
        let mutex = try ProcessMutex(named: name + ".lock", mode: .open)
        let condition = try ProcessCondition(named: name + ".cond", mode: .open)
        let data = try SharedArray<Int>(named: name + ".data")
        lockOrFail(mutex)
        say("waiting")
        let start = Deadline.now
        let deadline = start.advanced(by: .milliseconds(timeout))
        var timedOut = false
        while data[0] == 0 {
            if try condition.wait(on: mutex, timeout: deadline.remaining ?? .zero) == .timedOut {
                timedOut = true
                break
            }
        }
        let elapsed = milliseconds(since: start)
        unlockOrFail(mutex)
        say(timedOut ? "timedout \(elapsed)" : "signaled \(elapsed)")

    case "notify":
        // notify NAME: set NAME.data[0] = 1 under NAME.lock and notify one waiter of NAME.cond.
        let mutex = try ProcessMutex(named: name + ".lock", mode: .open)
        let condition = try ProcessCondition(named: name + ".cond", mode: .open)
        let data = try SharedArray<Int>(named: name + ".data")
        lockOrFail(mutex)
        data[0] = 1
        condition.notifyOne()
        unlockOrFail(mutex)
        say("notified")

    case "semaphore-wait":
        // semaphore-wait NAME TIMEOUT_MS: say "waiting", take a unit of NAME.sem; say
        // "acquired MS" or "timedout MS".
        guard rest.count == 1 else { fail("usage: semaphore-wait NAME TIMEOUT_MS", status: 2) }
        let timeout = integer(rest[0], "TIMEOUT_MS")
        let semaphore = try ProcessSemaphore(named: name + ".sem", mode: .open)
        say("waiting")
        let start = Deadline.now
        let taken = semaphore.wait(timeout: .milliseconds(timeout))
        say("\(taken ? "acquired" : "timedout") \(milliseconds(since: start))")

    case "semaphore-signal":
        // semaphore-signal NAME N: return N units to NAME.sem.
        guard rest.count == 1 else { fail("usage: semaphore-signal NAME N", status: 2) }
        let semaphore = try ProcessSemaphore(named: name + ".sem", mode: .open)
        for _ in 0..<integer(rest[0], "N") { try semaphore.signal() }
        say("signaled")

    case "event-wait":
        // event-wait NAME TIMEOUT_MS: say "waiting", wait for NAME.event (whatever its reset
        // mode); say "set MS" or "timedout MS".
        guard rest.count == 1 else { fail("usage: event-wait NAME TIMEOUT_MS", status: 2) }
        let timeout = integer(rest[0], "TIMEOUT_MS")
        let event = try ProcessEvent(named: name + ".event", resetMode: nil, mode: .open)
        say("waiting")
        let start = Deadline.now
        let set = event.wait(timeout: .milliseconds(timeout))
        say("\(set ? "set" : "timedout") \(milliseconds(since: start))")

    case "event-set":
        // event-set NAME: set NAME.event.
        let event = try ProcessEvent(named: name + ".event", resetMode: nil, mode: .open)
        event.set()
        say("set")

    case "fill-shm":
        // fill-shm NAME SIZE: create segments NAME.0, NAME.1, … of SIZE bytes (alternating raw
        // segments and SharedArray<UInt8>) until creation fails, then try 20 more; every failure
        // must be `insufficientSpace`. Then write every byte of every segment created (their
        // pages were reserved at creation, so this must not fault). Says "filled CREATED
        // FAILURES" — or dies by SIGBUS, which the parent reports.
        guard rest.count == 1 else { fail("usage: fill-shm NAME SIZE", status: 2) }
        let size = integer(rest[0], "SIZE")
        var segments: [UnsafeMutableRawBufferPointer] = []
        var keep: [AnyObject] = []
        var failures = 0
        var index = 0
        while failures < 21 {
            do {
                if index % 2 == 0 {
                    let segment = try SharedMemory(named: "\(name).\(index)", mode: .create, size: size)
                    keep.append(segment)
                    segments.append(segment.bytes)
                } else {
                    let array = try SharedArray<UInt8>(
                        named: "\(name).\(index)", count: size, initialValue: 1, mode: .create)
                    keep.append(array)
                    segments.append(array.segment.bytes)
                }
            } catch {
                guard case .insufficientSpace = error else { fail("creation \(index) failed with \(error)") }
                failures += 1
            }
            index += 1
            if index > 100_000 { fail("the file system never filled up") }
        }
        for bytes in segments { bytes.initializeMemory(as: UInt8.self, repeating: 0xAB) }
        say("filled \(segments.count) \(failures)")

    case "open-segment":
        // open-segment NAME [UID]: open the raw segment NAME (accepting owner UID too, if
        // given) and write its first byte; say "opened", "permissionDenied" or "foreignOwner".
        let owners =
            rest.first.flatMap { UInt32($0) }.map { SharedMemory.OwnerPolicy.trusting(userIDs: [$0]) } ?? .currentUser
        do {
            let segment = try SharedMemory(named: name, mode: .open, size: nil, owners: owners)
            segment.bytes[0] = 1
            say("opened")
        } catch {
            switch error {
            case .permissionDenied: say("permissionDenied")
            case .foreignOwner: say("foreignOwner")
            default: throw error
            }
        }

    default:
        // The channel roles live in ChannelRoles.swift, the hostile-neighbour roles in
        // HostileRoles.swift, the truncation and descriptor-passing roles in TruncationRoles.swift,
        // the topic roles in TopicRoles.swift, the service roles in ServiceRoles.swift, the wait-set
        // roles in WaitSetRoles.swift.
        if try !runChannelRole(role, name: name, rest), try !runHostileRole(role, name: name, rest),
            try !runTruncationRole(role, name: name, rest), try !runTopicRole(role, name: name, rest),
            try !runServiceRole(role, name: name, rest), try !runWaitSetRole(role, name: name, rest),
            try !runBlackboardRole(role, name: name, rest)
        {
            fail("unknown role '\(role)'", status: 2)
        }
    }
} catch {
    fail("\(role): \(error)", status: 3)
}
exit(0)
