// The roles of the test peer that attack a segment's file under its users: truncation, holes
// punched on a full tmpfs, sparse files, descriptors passed over a socket, and faults outside
// every guarded mapping (see main.swift for the protocol with the parent, and
// Tests/MultiProcessTests/TruncationTests.swift for the tests that drive them).
//
// The namespace roles (`hole-punch`, `sparse-open`) run inside `unshare --mount` with
// INTERPROCESS_SHM_DIRECTORY on a small tmpfs only that namespace sees, so they do the whole
// scenario themselves, starting their own victim as a child where one is needed.

import CInterprocess
import Glibc
import Interprocess
import Synchronization
import SystemPackage

/// `fallocate(2)`, which the Glibc module does not import (a `_GNU_SOURCE` declaration).
let fallocateFunction: @convention(c) (Int32, Int32, Int64, Int64) -> Int32 = {
    guard let symbol = dlsym(nil, "fallocate") else {  // RTLD_DEFAULT
        fail("fallocate not found", status: 3)
    }
    return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32, Int64, Int64) -> Int32).self)
}()
let punchHole: Int32 = 0x02 | 0x01  // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE

/// Free bytes of the file system holding `directory`.
func freeBytes(_ directory: String) -> Int {
    var fs = statvfs()
    guard statvfs(directory, &fs) == 0 else { fail("statvfs \(directory): errno \(errno)", status: 3) }
    return Int(fs.f_bfree) * Int(fs.f_frsize)
}

/// The backing file of the named object `name` in the current shared-memory directory.
func segmentFilePath(_ name: String) -> String { SharedMemory.directory + "/interprocess." + name }

/// Opens `path` or fails the peer.
func openOrFail(_ path: String, _ flags: Int32, _ mode: mode_t = 0o600) -> Int32 {
    let fd = open(path, flags | O_CLOEXEC, mode)
    if fd < 0 { fail("open \(path): errno \(errno)", status: 3) }
    return fd
}

/// Grows the file `fd` with `posix_fallocate` until the file system is full: in 64 KiB steps,
/// then page by page. Returns its new size.
func fillFileSystem(with fd: Int32, from size: Int) -> Int {
    var size = size
    for step in [1 << 16, Int(getpagesize())] {
        while posix_fallocate(fd, off_t(size), off_t(step)) == 0 { size += step }
    }
    return size
}

/// Writes a copy of `source`'s first `prefix` bytes into a new file at `path` and extends it to
/// `length` bytes without allocating the rest: a sparse file with a valid header.
func writeSparseCopy(of source: SharedMemory, prefix: Int, to path: String, length: Int) {
    let fd = openOrFail(path, O_RDWR | O_CREAT | O_EXCL)
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: prefix)
    let read = bytes.withUnsafeMutableBytes { pread(source.fileDescriptor.rawValue, $0.baseAddress, prefix, 0) }
    let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, prefix, 0) }
    guard read == prefix, written == prefix, ftruncate(fd, off_t(length)) == 0 else {
        fail("sparse copy: errno \(errno)", status: 3)
    }
}

/// Runs `body` with INTERPROCESS_SHM_DIRECTORY set to `directory`, then restores it.
func withSharedMemoryDirectory<R>(_ directory: String, _ body: () throws -> R) rethrows -> R {
    let saved = SharedMemory.directory
    setenv("INTERPROCESS_SHM_DIRECTORY", directory, 1)
    defer { setenv("INTERPROCESS_SHM_DIRECTORY", saved, 1) }
    return try body()
}

/// A child peer started with `posix_spawn`, its stdout a pipe read line by line.
struct SpawnedPeer {
    let pid: pid_t
    let output: Int32
    /// The write end of the child's stdin.
    let input: Int32
    private var pending: [UInt8] = []

    init(_ arguments: [String]) {
        var pipeEnds: [Int32] = [-1, -1]
        var inputEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0, pipe(&inputEnds) == 0 else { fail("pipe: errno \(errno)", status: 3) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], STDOUT_FILENO)
        posix_spawn_file_actions_adddup2(&actions, inputEnds[0], STDIN_FILENO)
        posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
        posix_spawn_file_actions_addclose(&actions, inputEnds[1])
        let argv = (["InterprocessTestPeer"] + arguments).map { strdup($0) } + [nil]
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/proc/self/exe", &actions, nil, argv, environ)
        posix_spawn_file_actions_destroy(&actions)
        for pointer in argv { free(pointer) }
        close(pipeEnds[1])
        close(inputEnds[0])
        guard rc == 0 else { fail("posix_spawn: \(rc)", status: 3) }
        self.pid = pid
        self.output = pipeEnds[0]
        self.input = inputEnds[1]
    }

    /// Writes a line to the child's stdin.
    func tell(_ line: String) {
        write(line + "\n", to: input)
    }

    /// Reads lines until one starting with `word` (failing on "error" or end of output).
    mutating func waitFor(_ word: String) -> String {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                if line.hasPrefix(word) { return line }
                if line.hasPrefix("error") { fail("victim: \(line)") }
                continue
            }
            var chunk = [UInt8](repeating: 0, count: 512)
            let n = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { fail("victim ended its output before saying '\(word)' (\(waitForExit()))") }
            pending.append(contentsOf: chunk[0..<n])
        }
    }

    /// Waits for the child to end: "exited N" or "signaled N".
    func waitForExit() -> String {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7F
        return signal == 0 ? "exited \((status >> 8) & 0xFF)" : "signaled \(signal)"
    }

    /// Stops the child and waits until it is stopped.
    func stop() {
        kill(pid, SIGSTOP)
        var status: Int32 = 0
        while waitpid(pid, &status, WUNTRACED) < 0 && errno == EINTR {}
        guard status & 0xFF == 0x7F else { fail("victim did not stop (status \(status))", status: 3) }
    }
}

/// One pass over the payload: writes `value` into the first word of every page and reads it
/// back. With `verify`, fails the peer if a page does not keep what was just written to it —
/// which only holds once no truncation is in progress: a write that races with `ftruncate`
/// lands in a page the kernel then drops, and is lost, guard or no guard.
func writeAndReadEveryPage(_ bytes: UnsafeMutableRawBufferPointer, _ value: UInt64, verify: Bool) {
    let page = Int(getpagesize())
    for offset in stride(from: 0, to: bytes.count - 7, by: page) {
        bytes.storeBytes(of: value, toByteOffset: offset, as: UInt64.self)
        let back = bytes.load(fromByteOffset: offset, as: UInt64.self)
        if verify && back != value { fail("page at \(offset) read back \(back) after writing \(value)") }
    }
}

/// Reads one line from stdin (the parent's go-ahead); fails the peer at end of input.
func readLineFromStdin() {
    var byte: UInt8 = 0
    while true {
        let n = read(STDIN_FILENO, &byte, 1)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { fail("stdin closed before the go-ahead") }
        if byte == UInt8(ascii: "\n") { return }
    }
}

/// Installs a `SIGBUS` disposition before the library installs its guard, for `unguarded-fault`.
func installPriorDisposition(_ mode: String) {
    var action = sigaction()
    sigemptyset(&action.sa_mask)
    switch mode {
    case "inherited":
        return  // whatever the runtime installed (the Swift backtracer, a sanitizer)
    case "default", "sent-default":
        action.__sigaction_handler.sa_handler = SIG_DFL
    case "ignore", "sent-ignore":
        action.__sigaction_handler.sa_handler = SIG_IGN
    case "siginfo":
        action.__sigaction_handler.sa_sigaction = { signal, info, _ in
            // Checks that the guard passed the original siginfo: the address we touched.
            let expected = unguardedAddress.load(ordering: .relaxed)
            let actual = Int(bitPattern: info?.pointee._sifields._sigfault.si_addr)
            let line = actual == expected && signal == SIGBUS ? "chained siginfo\n" : "error wrong siginfo\n"
            _ = line.withCString { write(STDOUT_FILENO, $0, strlen($0)) }
            _exit(0)
        }
        action.sa_flags = SA_SIGINFO
    case "plain":
        action.__sigaction_handler.sa_handler = { signal in
            let line = signal == SIGBUS ? "chained plain\n" : "error wrong signal\n"
            _ = line.withCString { write(STDOUT_FILENO, $0, strlen($0)) }
            _exit(0)
        }
    default:
        fail("unknown mode '\(mode)'", status: 2)
    }
    if sigaction(SIGBUS, &action, nil) != 0 { fail("sigaction: errno \(errno)", status: 3) }
}

/// The address `unguarded-fault` touches, for its SA_SIGINFO handler to compare.
let unguardedAddress = Atomic<Int>(0)

/// Runs the hostile role `role`; `false` if `role` is not one of them.
func runTruncationRole(_ role: String, name: String, _ rest: [String]) throws -> Bool {
    switch role {
    case "guard-loop":
        // guard-loop NAME: open the raw segment NAME, say "mapped", and write-and-read every
        // page of it in a loop. Once the segment reports `isDamaged`, wait for the parent's
        // go-ahead on stdin (its attack is complete), make one more full pass checking that
        // every page keeps what is written to it (pages that must now fault unless already
        // replaced), then say "damaged PASSES" and exit 0. A SIGBUS that the guard did not
        // absorb kills the peer.
        let segment = try SharedMemory(named: name, mode: .open, size: nil)
        writeAndReadEveryPage(segment.bytes, 1, verify: true)
        say("mapped")
        var passes: UInt64 = 1
        let deadline = Deadline.after(.seconds(60))
        while !segment.isDamaged {
            passes += 1
            writeAndReadEveryPage(segment.bytes, passes, verify: false)
            if deadline.hasPassed { fail("not damaged after 60 s (\(passes) passes)") }
        }
        readLineFromStdin()
        writeAndReadEveryPage(segment.bytes, passes + 1, verify: true)
        guard segment.isDamaged else { fail("damage was not sticky") }
        say("damaged \(passes)")

    case "hole-punch":
        // hole-punch NAME SIZE (in a private mount namespace on a small tmpfs): create the raw
        // segment NAME of SIZE bytes, start a `guard-loop` victim on it, fill the file system,
        // stop the victim, punch a hole over the whole payload, take the freed space back so
        // that no refault can allocate, and let the victim run on. Says "free BYTES" (free space
        // while the victim runs on, which must be less than a page), then the victim's
        // "damaged PASSES", then "victim exited 0" (or how it ended).
        guard rest.count == 1 else { fail("usage: hole-punch NAME SIZE", status: 2) }
        let size = integer(rest[0], "SIZE")
        let directory = SharedMemory.directory
        let segmentFile: Int32
        do {
            let segment = try SharedMemory(named: name, mode: .create, size: size)
            segmentFile = openOrFail(segmentFilePath(name), O_RDWR)
            _ = segment  // released: only the victim maps it
        }
        var victim = SpawnedPeer(["guard-loop", name])
        _ = victim.waitFor("mapped")
        let filler = openOrFail(directory + "/filler", O_RDWR | O_CREAT | O_EXCL)
        var fillerSize = fillFileSystem(with: filler, from: 0)
        victim.stop()
        guard fallocateFunction(segmentFile, punchHole, Int64(4096), Int64(size)) == 0 else {
            fail("punch hole: errno \(errno)", status: 3)
        }
        fillerSize = fillFileSystem(with: filler, from: fillerSize)
        say("free \(freeBytes(directory))")
        kill(victim.pid, SIGCONT)
        victim.tell("go")
        say(victim.waitFor("damaged"))
        say("victim \(victim.waitForExit())")
        close(filler)
        close(segmentFile)

    case "sparse-open":
        // sparse-open NAME PAYLOAD (in a private mount namespace on a small tmpfs): build, in
        // /dev/shm, a raw segment and a typed channel whose payloads are PAYLOAD bytes, copy
        // their header pages (and the channel's control page) into files NAME and NAME.chan of
        // the small tmpfs, extended to their full size without allocating (sparse), and remove
        // the originals. Then open NAME, and list the directory, measuring the free space
        // before and after each. Says "open ERROR FREE_BEFORE FREE_AFTER" and "list COUNT
        // HEADER FREE_BEFORE FREE_AFTER" (HEADER: the listed header of NAME.chan), or dies.
        guard rest.count == 1 else { fail("usage: sparse-open NAME PAYLOAD", status: 2) }
        let payload = integer(rest[0], "PAYLOAD")
        let small = SharedMemory.directory
        try withSharedMemoryDirectory("/dev/shm") {
            let raw = try SharedMemory(named: name + ".src", mode: .create, size: payload)
            writeSparseCopy(of: raw, prefix: 4096, to: small + "/interprocess." + name, length: 4096 + payload)
            try raw.remove()
            let channel = try ChannelReceiver<UInt64>(named: name + ".chansrc", capacity: payload / 16, mode: .create)
            let total = Int(lseek(channel.segment.fileDescriptor.rawValue, 0, SEEK_END))
            writeSparseCopy(
                of: channel.segment, prefix: 8192, to: small + "/interprocess." + name + ".chan", length: total)
            try channel.segment.remove()
        }
        let beforeOpen = freeBytes(small)
        let outcome: String
        do {
            let segment = try SharedMemory(named: name, mode: .open, size: nil)
            // Without the check, the open succeeds: touch the payload as a user would.
            segment.bytes.initializeMemory(as: UInt8.self, repeating: 1)
            outcome = "opened"
        } catch {
            guard case .notFullyAllocated = error else { throw error }
            outcome = "notFullyAllocated"
        }
        say("open \(outcome) \(beforeOpen) \(freeBytes(small))")
        let beforeList = freeBytes(small)
        let listed = try SharedObjectRegistry.list()
        let channelInfo = listed.first { $0.name == name + ".chan" }
        let header: String =
            switch channelInfo?.header {
            case nil: "missing"
            case .success?: "valid"
            case .failure(.notFullyAllocated)?: "notFullyAllocated"
            case .failure(let error)?: "\(error)".split(separator: " ").joined(separator: "_")
            }
        say("list \(listed.count) \(header) \(beforeList) \(freeBytes(small))")

    case "receive-segment":
        // receive-segment NAME: receive a segment over the Unix socket on stdin, say "received
        // FIRST_BYTE", write 0xC3 at payload offset 1, try to truncate and to grow the file
        // through the received descriptor and say "resize ERRNO ERRNO", then wait for stdin
        // to close (the parent's end of the socket).
        let socket = FileDescriptor(rawValue: STDIN_FILENO)
        let segment = try SharedMemory(receivingFrom: socket)
        say("received \(segment.bytes[0]) \(segment.size)")
        segment.bytes[1] = 0xC3
        let fd = segment.fileDescriptor.rawValue
        let shrink = ftruncate(fd, 0) == 0 ? 0 : errno
        let grow = ftruncate(fd, off_t(1 << 30)) == 0 ? 0 : errno
        say("resize \(shrink) \(grow)")
        // The segment is still whole: every payload byte can be read and written.
        segment.bytes[segment.size - 1] = 0xC4
        say("intact \(segment.isDamaged ? "no" : "yes")")
        blockOnStdin()

    case "unguarded-fault":
        // unguarded-fault NAME MODE: install MODE's SIGBUS disposition (see
        // installPriorDisposition), make the library install its guard (an anonymous
        // segment), then map the file NAME-raw in the shared-memory directory with plain mmap
        // — a mapping the guard does not know — truncate it and touch it. `sent-*` modes send
        // SIGBUS with kill(2) instead. The parent expects death by SIGBUS, "chained …" from
        // the previous handler, or "ignored" (a sent SIGBUS ignored).
        guard rest.count == 1 else { fail("usage: unguarded-fault NAME MODE", status: 2) }
        let mode = rest[0]
        installPriorDisposition(mode)
        let guarded = try SharedMemory.anonymous(size: 4096)
        guarded.bytes[0] = 1
        say("guarded")
        if mode.hasPrefix("sent-") {
            kill(getpid(), SIGBUS)
            say("ignored")
            return true
        }
        let path = SharedMemory.directory + "/" + name + "-raw"
        let fd = openOrFail(path, O_RDWR | O_CREAT)
        unlink(path)
        guard ftruncate(fd, 8192) == 0, let mapping = mmap(nil, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0),
            mapping != MAP_FAILED
        else { fail("map: errno \(errno)", status: 3) }
        mapping.storeBytes(of: 1, as: UInt8.self)
        guard ftruncate(fd, 0) == 0 else { fail("truncate: errno \(errno)", status: 3) }
        unguardedAddress.store(Int(bitPattern: mapping + 4096), ordering: .relaxed)
        say("touching")
        (mapping + 4096).storeBytes(of: 2, as: UInt8.self)
        say("survived")  // must not be reached: the fault is not the guard's

    case "guard-table-full":
        // guard-table-full NAME: fill the SIGBUS guard's table with ranges of a reserved,
        // inaccessible region, then create an anonymous segment; say "refused LIMIT" if that is
        // `mappingLimitReached`, then free one range and say "mapped" once creation succeeds.
        let capacity = Int(CIPC_SIGBUS_GUARD_CAPACITY)
        let page = Int(getpagesize())
        guard let region = mmap(nil, capacity * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            region != MAP_FAILED
        else { fail("reserve: errno \(errno)", status: 3) }
        var registered: [UnsafeMutableRawPointer] = []
        for i in 0..<capacity {
            let start = region + i * page
            if cipc_sigbus_guard_register(start, page, PROT_NONE) != 0 { break }
            registered.append(start)
        }
        do {
            _ = try SharedMemory.anonymous(size: 64)
            fail("mapped with \(registered.count) ranges registered")
        } catch {
            guard case .mappingLimitReached(_, let limit) = error else { throw error }
            say("refused \(limit)")
        }
        _ = cipc_sigbus_guard_unregister(registered.removeLast())
        let segment = try SharedMemory.anonymous(size: 64)
        segment.bytes[0] = 1
        say("mapped")
        for start in registered { _ = cipc_sigbus_guard_unregister(start) }

    case "chan-receive-damaged", "chan-send-damaged", "chan-async-receive-damaged":
        // chan-receive-damaged NAME: open a receiver on the channel NAME, say "waiting" and
        // receive with no timeout. chan-send-damaged NAME: open a sender, fill the ring, say
        // "waiting" and send once more with no timeout. chan-async-receive-damaged: as the first,
        // with the async receive. Each says "damaged MS" when the call throws
        // `.segment(.damaged)`, MS after "waiting".
        var start = Deadline.now
        do {
            switch role {
            case "chan-send-damaged":
                var sender = try ChannelSender<UInt64>(named: name, mode: .open, waitStrategy: .block)
                var sequence: UInt64 = 0
                while try sender.trySend(sequence) { sequence += 1 }
                say("waiting")
                start = Deadline.now
                try sender.send(sequence)
                fail("sent into a full channel")
            case "chan-async-receive-damaged":
                let receiver = try ChannelReceiver<UInt64>(named: name, mode: .open, waitStrategy: .block)
                let messages = receiver.messages()
                say("waiting")
                let asyncStart = Deadline.now
                let gate = CompletionGate()
                Task {
                    do {
                        for try await message in messages { fail("received \(message)") }
                        fail("the channel was closed")
                    } catch let error as ChannelError {
                        guard case .segment(.damaged) = error else { fail("\(role): \(error)") }
                        say("damaged \(milliseconds(since: asyncStart))")
                    } catch {
                        fail("async receive: \(error)")
                    }
                    gate.open()
                }
                gate.wait()
                return true
            default:
                var receiver = try ChannelReceiver<UInt64>(named: name, mode: .open, waitStrategy: .block)
                say("waiting")
                start = Deadline.now
                let message = try receiver.receive()
                fail("received \(String(describing: message))")
            }
        } catch {
            guard case .segment(.damaged) = error else { fail("\(role): \(error)") }
            say("damaged \(milliseconds(since: start))")
        }

    default:
        return false
    }
    return true
}
