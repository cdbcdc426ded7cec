import CInterprocess
import Glibc
import SystemPackage

/// The file operations the shared-memory layer needs, each a typed-error front for one
/// wrapper in Syscalls.swift. Blocking calls retry `EINTR` through `retryingOnInterrupt`.
enum FileSystem {
    /// The size of a memory page.
    static let pageSize: Int = system_sysconf(Int32(_SC_PAGESIZE))

    /// How a file is opened for I/O.
    enum Access {
        case readOnly
        case readWrite

        var flags: Int32 { self == .readOnly ? O_RDONLY : O_RDWR }
    }

    /// `open(path, access | O_CLOEXEC)` of an existing file.
    static func open(_ path: String, access: Access) throws(Errno) -> Int32 {
        try retryingOnInterrupt { system_open(path, access.flags | O_CLOEXEC, 0) }.get()
    }

    /// Creates the new file `path` for reading and writing with `mode`; fails with `EEXIST` if
    /// anything, a symbolic link included, already has the name (`O_CREAT | O_EXCL |
    /// O_NOFOLLOW`: a link planted under the name is never followed).
    static func createExclusive(_ path: String, mode: UInt32) throws(Errno) -> Int32 {
        try retryingOnInterrupt {
            system_open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(mode))
        }.get()
    }

    /// A descriptor for the directory entry `path` itself, opened for no I/O at all
    /// (`O_PATH | O_NOFOLLOW`): a symbolic link yields the link, never its target; a FIFO
    /// cannot block; a device is not opened. Inspect it with ``status(_:)``, then
    /// ``reopen(_:access:)`` it when it is what the caller wants.
    static func openEntry(_ path: String) throws(Errno) -> Int32 {
        try retryingOnInterrupt { system_open(path, cipc_o_path_flags(), 0) }.get()
    }

    /// Opens the very inode `entry` (from ``openEntry(_:)``) refers to, for I/O with `access`,
    /// through its `/proc/self/fd` link. The kernel checks the caller's permission on the inode
    /// as for any open; the path is never looked up again, so nothing can be swapped in between.
    static func reopen(_ entry: Int32, access: Access) throws(Errno) -> Int32 {
        try retryingOnInterrupt { system_open("/proc/self/fd/\(entry)", access.flags | O_CLOEXEC | O_NOCTTY, 0) }.get()
    }

    /// An unnamed file in `directory` that a later `link` can publish; the corresponding C
    /// call is `open(directory, O_TMPFILE)`.
    static func openUnnamed(inDirectory directory: String, mode: UInt32) throws(Errno) -> Int32 {
        try retryingOnInterrupt { system_open(directory, cipc_o_tmpfile_flags(), mode_t(mode)) }.get()
    }

    /// Closes a descriptor; errors are ignored because after `close` the descriptor is gone
    /// either way and retrying could close a descriptor another thread just opened.
    static func close(_ fd: Int32) { _ = system_close(fd) }

    static func truncate(_ fd: Int32, to length: Int) throws(Errno) {
        _ = try retryingOnInterrupt { system_ftruncate(fd, off_t(length)) }.get()
    }

    /// Reserves the blocks of `[0, length)` so later writes cannot fail for lack of space;
    /// the corresponding C function is `posix_fallocate`.
    static func reserve(_ fd: Int32, length: Int) throws(Errno) {
        while true {
            let rc = system_posix_fallocate(fd, 0, off_t(length))
            if rc == 0 { return }
            if rc != EINTR { throw Errno(rawValue: rc) }
        }
    }

    static func status(_ fd: Int32) throws(Errno) -> FileStatus {
        var st = stat()
        _ = try once { system_fstat(fd, &st) }.get()
        return FileStatus(st)
    }

    /// `lstat`: the entry itself, a symbolic link included.
    static func linkStatus(path: String) throws(Errno) -> FileStatus {
        var st = stat()
        _ = try once { system_lstat(path, &st) }.get()
        return FileStatus(st)
    }

    static func changeMode(_ fd: Int32, to mode: UInt32) throws(Errno) {
        _ = try retryingOnInterrupt { system_fchmod(fd, mode_t(mode)) }.get()
    }

    /// Gives the open, unnamed file `fd` the name `path`; fails with `EEXIST` if the name is
    /// taken. The corresponding C call is `linkat("/proc/self/fd/N", path, AT_SYMLINK_FOLLOW)`.
    static func link(descriptor fd: Int32, to path: String) throws(Errno) {
        _ = try once {
            system_linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, path, AT_SYMLINK_FOLLOW)
        }.get()
    }

    static func link(_ existing: String, to path: String) throws(Errno) {
        _ = try once { system_linkat(AT_FDCWD, existing, AT_FDCWD, path, 0) }.get()
    }

    static func unlink(_ path: String) throws(Errno) {
        _ = try once { system_unlink(path) }.get()
    }

    /// When a mapping's page tables are built.
    enum PagePopulation {
        /// At `mmap` (`MAP_POPULATE`): only for files whose every page this process just
        /// reserved itself, since populating a sparse file allocates its holes (and a failure
        /// to allocate is silently skipped, to become a `SIGBUS` on first touch).
        case immediately
        /// On first touch, page by page; ``prefault(_:length:)`` builds them later, once the
        /// header is validated.
        case onFirstTouch
    }

    /// Why a file could not be mapped.
    enum MappingError: Error, Equatable {
        /// `mmap` failed.
        case system(Errno)
        /// The SIGBUS guard already watches as many mappings as it can (``BusErrorGuard/capacity``):
        /// an unguarded mapping could kill the process, so none is made.
        case guardFull
    }

    /// Maps `length` bytes of `fd` shared, and registers the mapping with the SIGBUS guard
    /// (``unmap(_:length:)`` unregisters it). The corresponding C function is `mmap`.
    static func map(
        _ fd: Int32, length: Int, writable: Bool, pages: PagePopulation
    ) throws(MappingError) -> UnsafeMutableRawPointer {
        let protection = writable ? PROT_READ | PROT_WRITE : PROT_READ
        // MAP_POPULATE (creators only, see PagePopulation): build the page tables now. The
        // pages are already reserved (created with posix_fallocate), so this costs no memory,
        // only time at creation — and it keeps first-touch page faults out of the senders' and
        // receivers' hot loops.
        let flags = pages == .immediately ? MAP_SHARED | MAP_POPULATE : MAP_SHARED
        guard let p = system_mmap(length, protection, flags, fd, 0), p != MAP_FAILED else {
            throw .system(Errno(rawValue: errno))
        }
        do { try BusErrorGuard.register(p, length: length, protection: protection) } catch {
            if system_munmap(p, length) != 0 { preconditionFailureForBug("munmap", Errno(rawValue: errno)) }
            switch error {
            case .full: throw .guardFull
            case .system(let e): throw .system(e)
            }
        }
        return p
    }

    /// Builds the page tables of a mapping, as its first writes (or, for a read-only mapping,
    /// its first reads) would, reporting a page that cannot be provided as an error rather than
    /// a `SIGBUS`. Does nothing on kernels before 5.14, which lack `MADV_POPULATE_WRITE` and
    /// `MADV_POPULATE_READ` (pages are then faulted in on first touch). The corresponding C call
    /// is `madvise(address, length, MADV_POPULATE_WRITE)` (`MADV_POPULATE_READ` when not
    /// `writable`: a write fault on a `PROT_READ` mapping is refused).
    ///
    /// - Throws: `EFAULT` if a page is beyond the end of the file or cannot be allocated (a
    ///   full file system), `ENOMEM` if memory ran out, `EHWPOISON` for a hardware error.
    static func prefault(_ address: UnsafeMutableRawPointer, length: Int, writable: Bool = true) throws(Errno) {
        let advice = writable ? CIPC_MADV_POPULATE_WRITE : CIPC_MADV_POPULATE_READ
        switch retryingOnInterrupt({ system_madvise(address, length, advice) }) {
        case .success: return
        case .failure(let error) where error == .invalidArgument:
            return  // an older kernel: the advice is unknown (our arguments are page-aligned)
        case .failure(let error): throw error
        }
    }

    /// Unregisters a mapping from the SIGBUS guard and unmaps it.
    static func unmap(_ address: UnsafeMutableRawPointer, length: Int) {
        // Unregistered first: once the guard lets go, nothing maps zero pages over an address
        // range that the kernel may hand to another mapping after munmap.
        BusErrorGuard.unregister(address)
        // munmap fails only for arguments we did not get from mmap: a bug.
        if system_munmap(address, length) != 0 { preconditionFailureForBug("munmap", Errno(rawValue: errno)) }
    }

    /// A `memfd` that allows sealing; the corresponding C function is `memfd_create`.
    static func memfd(name: String) throws(Errno) -> Int32 {
        let rc = system_memfd_create(name)
        if let e = Errno(shimResult: rc) { throw e }
        return rc
    }

    /// The seals a file may carry (`F_SEAL_*`).
    struct Seals: OptionSet {
        let rawValue: Int32
        /// No `ftruncate` below the current size (nor any way to shrink it).
        static let shrink = Seals(rawValue: CIPC_SEAL_SHRINK)
        /// No `ftruncate` or `fallocate` beyond the current size.
        static let grow = Seals(rawValue: CIPC_SEAL_GROW)
        /// No seal can be added from now on.
        static let seal = Seals(rawValue: CIPC_SEAL_SEAL)
    }

    /// Adds `seals` to `fd`; the corresponding C call is `fcntl(fd, F_ADD_SEALS, seals)`.
    static func addSeals(_ fd: Int32, _ seals: Seals) throws(Errno) {
        if let e = Errno(shimResult: system_add_seals(fd, seals.rawValue)) { throw e }
    }

    /// The seals of `fd` — none for a file that does not support sealing (`EINVAL`: any file
    /// but a memfd, on Linux). The corresponding C call is `fcntl(fd, F_GET_SEALS)`.
    static func seals(_ fd: Int32) throws(Errno) -> Seals {
        let rc = system_get_seals(fd)
        if rc == -EINVAL { return [] }
        if let e = Errno(shimResult: rc) { throw e }
        return Seals(rawValue: rc)
    }

    /// Sends `fd` over the Unix socket `socket` (`SCM_RIGHTS`, with one data byte).
    static func sendDescriptor(_ fd: Int32, over socket: Int32) throws(Errno) {
        if let e = Errno(shimResult: system_send_descriptor(socket, fd)) { throw e }
    }

    /// What one message on a Unix socket carried.
    struct ReceivedDescriptors {
        /// The data bytes received: 0 means the other end closed the socket.
        var bytes: Int
        /// The descriptors installed in this process (close-on-exec); at most `capacity`.
        var descriptors: [Int32]
        /// How many descriptors the message carried (those beyond `capacity` were closed).
        var count: Int
        /// Whether the kernel cut the ancillary data short (and closed what did not fit).
        var truncated: Bool
    }

    /// Receives one message from `socket` with the descriptors it carries, keeping at most
    /// `capacity` of them; the corresponding C function is `recvmsg`.
    static func receiveDescriptors(from socket: Int32, capacity: Int) throws(Errno) -> ReceivedDescriptors {
        var buffer = [Int32](repeating: -1, count: max(capacity, 1))
        var count: Int32 = 0
        var truncated = false
        let rc = buffer.withUnsafeMutableBufferPointer {
            system_receive_descriptors(socket, $0.baseAddress!, Int32(capacity), &count, &truncated)
        }
        if let e = Errno(shimResult: rc) { throw e }
        return ReceivedDescriptors(
            bytes: Int(rc), descriptors: Array(buffer.prefix(min(Int(count), capacity))), count: Int(count),
            truncated: truncated)
    }

    /// The names in `directory` (without `.` and `..`).
    static func entries(of directory: String) throws(Errno) -> [String] {
        guard let dir = system_opendir(directory) else { throw Errno(rawValue: errno) }
        defer { _ = system_closedir(dir) }
        var names: [String] = []
        while let entry = system_readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// A lock another open file description holds.
    struct HeldLock: Equatable {
        /// Whether it is a write (exclusive) lock; `false` for a read (shared) lock.
        var isWrite: Bool
        var start: Int64
        /// 0: to the end of every file.
        var length: Int64
    }

    /// A lock of another open file description that conflicts with a lock of the given kind on
    /// `[start, start+length)`, or `nil`. A `write: false` query conflicts only with write
    /// locks, so it never reports what a read-only descriptor can take.
    static func conflictingLock(_ fd: Int32, write: Bool, start: Int64, length: Int64) throws(Errno) -> HeldLock? {
        var type: Int32 = 0
        var heldStart: Int64 = 0
        var heldLength: Int64 = 0
        let rc = cipc_ofd_query(fd, write ? 2 : 1, start, length, &type, &heldStart, &heldLength)
        if let e = Errno(shimResult: rc) { throw e }
        return rc == 1 ? HeldLock(isWrite: type == 2, start: heldStart, length: heldLength) : nil
    }

    /// Sleeps for `duration` (EINTR ends the sleep early, which callers that poll tolerate).
    static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        _ = system_nanosleep(&request, nil)
    }

    /// Takes (without waiting) an OFD lock; `false` if another open file description holds a
    /// conflicting one. `exclusive: false` takes a shared lock.
    static func tryLock(_ fd: Int32, start: Int, length: Int, exclusive: Bool) throws(Errno) -> Bool {
        let rc = cipc_ofd_lock(fd, exclusive ? 2 : 1, Int64(start), Int64(length), false)
        if rc == -EAGAIN { return false }
        if let e = Errno(shimResult: rc) { throw e }
        return true
    }

    static func unlock(_ fd: Int32, start: Int, length: Int) {
        _ = cipc_ofd_lock(fd, 0, Int64(start), Int64(length), false)
    }

    /// Nanoseconds since the UNIX epoch on the wall clock (for display only; never for timeouts).
    static var wallClockNanoseconds: Int64 {
        var ts = timespec()
        _ = system_clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// The effective user id of this process.
    static var effectiveUserID: UInt32 { geteuid() }

    /// The value of the environment variable `name`, if it is set.
    static func environmentValue(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
