import CInterprocess
import Glibc
import SystemPackage

/// The file operations the shared-memory layer needs, each a typed-error front for one
/// wrapper in Syscalls.swift. Blocking calls retry `EINTR` through `retryingOnInterrupt`.
enum FileSystem {
    /// The size of a memory page.
    static let pageSize: Int = system_sysconf(Int32(_SC_PAGESIZE))

    /// `open(path, flags, mode)`; the corresponding C function is `open`.
    static func open(_ path: String, flags: Int32, mode: mode_t = 0) throws(Errno) -> Int32 {
        try retryingOnInterrupt { system_open(path, flags | O_CLOEXEC, mode) }.get()
    }

    /// A descriptor for the directory entry `path` itself, opened for no I/O at all
    /// (`O_PATH | O_NOFOLLOW`): a symbolic link yields the link, never its target; a FIFO
    /// cannot block; a device is not opened. Inspect it with ``status(_:)``, then
    /// ``reopen(_:flags:)`` it when it is what the caller wants.
    static func openEntry(_ path: String) throws(Errno) -> Int32 {
        try retryingOnInterrupt { system_open(path, cipc_o_path_flags(), 0) }.get()
    }

    /// Opens the very inode `entry` (from ``openEntry(_:)``) refers to, for I/O with `flags`,
    /// through its `/proc/self/fd` link. The kernel checks the caller's permission on the inode
    /// as for any open; the path is never looked up again, so nothing can be swapped in between.
    static func reopen(_ entry: Int32, flags: Int32) throws(Errno) -> Int32 {
        try retryingOnInterrupt { system_open("/proc/self/fd/\(entry)", flags | O_CLOEXEC | O_NOCTTY, 0) }.get()
    }

    /// What a file mode's type bits name, for messages ("regular file", "symbolic link", …).
    static func typeDescription(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "regular file"
        case S_IFLNK: "symbolic link"
        case S_IFIFO: "FIFO"
        case S_IFSOCK: "socket"
        case S_IFCHR: "character device"
        case S_IFBLK: "block device"
        case S_IFDIR: "directory"
        default: "file of type \(String(mode & S_IFMT, radix: 8))"
        }
    }

    static func isRegularFile(_ st: stat) -> Bool { st.st_mode & S_IFMT == S_IFREG }

    /// An unnamed file in `directory` that a later `link` can publish; the corresponding C
    /// call is `open(directory, O_TMPFILE)`.
    static func openUnnamed(inDirectory directory: String, mode: mode_t) throws(Errno) -> Int32 {
        try retryingOnInterrupt { system_open(directory, cipc_o_tmpfile_flags(), mode) }.get()
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

    static func status(_ fd: Int32) throws(Errno) -> stat {
        var st = stat()
        _ = try once { system_fstat(fd, &st) }.get()
        return st
    }

    static func status(path: String) throws(Errno) -> stat {
        var st = stat()
        _ = try once { system_stat(path, &st) }.get()
        return st
    }

    /// `lstat`: the entry itself, a symbolic link included.
    static func linkStatus(path: String) throws(Errno) -> stat {
        var st = stat()
        _ = try once { system_lstat(path, &st) }.get()
        return st
    }

    static func changeMode(_ fd: Int32, to mode: mode_t) throws(Errno) {
        _ = try retryingOnInterrupt { system_fchmod(fd, mode) }.get()
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

    static func map(_ fd: Int32, length: Int, writable: Bool) throws(Errno) -> UnsafeMutableRawPointer {
        let protection = writable ? PROT_READ | PROT_WRITE : PROT_READ
        // MAP_POPULATE: build the page tables now. The pages are already reserved (created
        // with posix_fallocate), so this costs no memory, only time at open — and it keeps
        // first-touch page faults out of the senders' and receivers' hot loops.
        guard let p = system_mmap(length, protection, MAP_SHARED | MAP_POPULATE, fd, 0), p != MAP_FAILED else {
            throw Errno(rawValue: errno)
        }
        return p
    }

    static func unmap(_ address: UnsafeMutableRawPointer, length: Int) {
        // munmap fails only for arguments we did not get from mmap: a bug.
        if system_munmap(address, length) != 0 { preconditionFailureForBug("munmap", Errno(rawValue: errno)) }
    }

    static func memfd(name: String) throws(Errno) -> Int32 {
        let rc = system_memfd_create(name)
        if let e = Errno(shimResult: rc) { throw e }
        return rc
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
}
