// One `system_<name>` wrapper per syscall, and nothing else in it: no retry, no errno
// interpretation. The callers in this folder decide EINTR policy through `retryingOnInterrupt`
// and turn the result into typed errors. In debug builds each wrapper consults the mocking
// table first (see Mocking.swift).
//
// Convention: a wrapper returns what the C function returns; `-1` means "look at errno".
// Wrappers of calls that return an error number instead (posix_fallocate) say so.

import CInterprocess
import Glibc
import SystemPackage

@inline(__always)
private func failWith(_ e: Errno) -> Int32 {
    errno = e.rawValue
    return -1
}

// open
func system_open(_ path: UnsafePointer<CChar>, _ flags: Int32, _ mode: mode_t) -> Int32 {
    #if ENABLE_MOCKING
        if let e = mockedFailure(.open) { return failWith(e) }
    #endif
    return open(path, flags, mode)
}

// close
func system_close(_ fd: Int32) -> Int32 {
    close(fd)
}

// read
func system_read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}

// ftruncate
func system_ftruncate(_ fd: Int32, _ length: off_t) -> Int32 {
    #if ENABLE_MOCKING
        if let e = mockedFailure(.ftruncate) { return failWith(e) }
    #endif
    return ftruncate(fd, length)
}

// posix_fallocate: returns an error number (not -1/errno).
func system_posix_fallocate(_ fd: Int32, _ offset: off_t, _ length: off_t) -> Int32 {
    #if ENABLE_MOCKING
        if let e = mockedFailure(.fallocate) { return e.rawValue }
    #endif
    return posix_fallocate(fd, offset, length)
}

// fstat
func system_fstat(_ fd: Int32, _ buffer: UnsafeMutablePointer<stat>) -> Int32 {
    #if ENABLE_MOCKING
        if let e = mockedFailure(.fstat) { return failWith(e) }
    #endif
    return fstat(fd, buffer)
}

// lstat
func system_lstat(_ path: UnsafePointer<CChar>, _ buffer: UnsafeMutablePointer<stat>) -> Int32 {
    lstat(path, buffer)
}

// nanosleep
func system_nanosleep(_ request: UnsafePointer<timespec>, _ remaining: UnsafeMutablePointer<timespec>?) -> Int32 {
    nanosleep(request, remaining)
}

// fchmod
func system_fchmod(_ fd: Int32, _ mode: mode_t) -> Int32 {
    #if ENABLE_MOCKING
        if let e = mockedFailure(.fchmod) { return failWith(e) }
    #endif
    return fchmod(fd, mode)
}

// mmap
func system_mmap(
    _ length: Int, _ protection: Int32, _ flags: Int32, _ fd: Int32, _ offset: off_t
) -> UnsafeMutableRawPointer? {
    #if ENABLE_MOCKING
        if let e = mockedFailure(.mmap) {
            errno = e.rawValue
            return MAP_FAILED
        }
    #endif
    return mmap(nil, length, protection, flags, fd, offset)
}

// munmap
func system_munmap(_ address: UnsafeMutableRawPointer, _ length: Int) -> Int32 {
    munmap(address, length)
}

// linkat
func system_linkat(
    _ oldDirfd: Int32, _ oldPath: UnsafePointer<CChar>, _ newDirfd: Int32,
    _ newPath: UnsafePointer<CChar>, _ flags: Int32
) -> Int32 {
    #if ENABLE_MOCKING
        if let e = mockedFailure(.linkat) { return failWith(e) }
    #endif
    return linkat(oldDirfd, oldPath, newDirfd, newPath, flags)
}

// unlink
func system_unlink(_ path: UnsafePointer<CChar>) -> Int32 {
    #if ENABLE_MOCKING
        if let e = mockedFailure(.unlink) { return failWith(e) }
    #endif
    return unlink(path)
}

// kill
func system_kill(_ pid: pid_t, _ signal: Int32) -> Int32 {
    kill(pid, signal)
}

// getpid
func system_getpid() -> pid_t {
    getpid()
}

// clock_gettime
func system_clock_gettime(_ clock: clockid_t, _ time: UnsafeMutablePointer<timespec>) -> Int32 {
    clock_gettime(clock, time)
}

// futex(FUTEX_WAIT_BITSET): returns 0 or -errno (the shim's convention).
func system_futex_wait(
    _ word: UnsafeMutablePointer<UInt32>, _ expected: UInt32, _ deadline: UnsafePointer<timespec>?
) -> Int32 {
    #if ENABLE_MOCKING
        if let e = mockedFailure(.futexWait) { return -e.rawValue }
    #endif
    return cipc_futex_wait(word, expected, deadline)
}

// futex(FUTEX_WAKE): returns the number woken or -errno.
func system_futex_wake(_ word: UnsafeMutablePointer<UInt32>, _ count: Int32) -> Int32 {
    cipc_futex_wake(word, count)
}

// futex_waitv: returns the index of a woken word or -errno.
func system_futex_waitv(
    _ waiters: UnsafeMutablePointer<cipc_futex_waiter>, _ count: UInt32, _ deadline: UnsafePointer<timespec>?
) -> Int32 {
    #if ENABLE_MOCKING
        if let e = mockedFailure(.futexWaitv) { return -e.rawValue }
    #endif
    return cipc_futex_waitv(waiters, count, deadline)
}

// memfd_create: returns the descriptor or -errno.
func system_memfd_create(_ name: UnsafePointer<CChar>) -> Int32 {
    #if ENABLE_MOCKING
        if let e = mockedFailure(.memfdCreate) { return -e.rawValue }
    #endif
    return cipc_memfd_create(name)
}

// opendir
func system_opendir(_ path: UnsafePointer<CChar>) -> OpaquePointer? {
    opendir(path)
}

// readdir
func system_readdir(_ dir: OpaquePointer) -> UnsafeMutablePointer<dirent>? {
    readdir(dir)
}

// closedir
func system_closedir(_ dir: OpaquePointer) -> Int32 {
    closedir(dir)
}

// sysconf
func system_sysconf(_ name: Int32) -> Int {
    sysconf(name)
}

// pthread_create: returns an error number (not -1/errno).
func system_pthread_create(
    _ thread: UnsafeMutablePointer<pthread_t>,
    _ start: @escaping @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer?,
    _ argument: UnsafeMutableRawPointer?
) -> Int32 {
    pthread_create(thread, nil, start, argument)
}

// pthread_detach: returns an error number (not -1/errno).
func system_pthread_detach(_ thread: pthread_t) -> Int32 {
    pthread_detach(thread)
}

// pthread_key_create: returns an error number (not -1/errno).
func system_pthread_key_create(_ key: UnsafeMutablePointer<pthread_key_t>) -> Int32 {
    pthread_key_create(key, nil)
}

// pthread_getspecific: cannot fail; `nil` when unset.
func system_pthread_getspecific(_ key: pthread_key_t) -> UnsafeMutableRawPointer? {
    pthread_getspecific(key)
}

// pthread_setspecific: returns an error number (not -1/errno).
func system_pthread_setspecific(_ key: pthread_key_t, _ value: UnsafeRawPointer?) -> Int32 {
    pthread_setspecific(key, value)
}

// sched_yield: cannot fail on Linux.
func system_sched_yield() -> Int32 {
    sched_yield()
}

// madvise
func system_madvise(_ address: UnsafeMutableRawPointer, _ length: Int, _ advice: Int32) -> Int32 {
    #if ENABLE_MOCKING
        if let e = mockedFailure(.madvise) { return failWith(e) }
    #endif
    return madvise(address, length, advice)
}

// fcntl(F_ADD_SEALS): returns 0 or -errno (the shim's convention).
func system_add_seals(_ fd: Int32, _ seals: Int32) -> Int32 {
    cipc_add_seals(fd, seals)
}

// fcntl(F_GET_SEALS): returns the seals or -errno (the shim's convention).
func system_get_seals(_ fd: Int32) -> Int32 {
    cipc_get_seals(fd)
}

// sendmsg with one SCM_RIGHTS descriptor: returns 0 or -errno (the shim's convention).
func system_send_descriptor(_ socket: Int32, _ fd: Int32) -> Int32 {
    cipc_send_descriptor(socket, fd)
}

// recvmsg with SCM_RIGHTS: returns the bytes received or -errno (the shim's convention).
func system_receive_descriptors(
    _ socket: Int32, _ descriptors: UnsafeMutablePointer<Int32>, _ capacity: Int32,
    _ count: UnsafeMutablePointer<Int32>, _ truncated: UnsafeMutablePointer<Bool>
) -> Int32 {
    cipc_receive_descriptors(socket, descriptors, capacity, count, truncated)
}

// pidfd_open: returns the descriptor or -errno (the shim's convention).
func system_pidfd_open(_ pid: pid_t) -> Int32 {
    #if ENABLE_MOCKING
        if let e = mockedFailure(.pidfdOpen) { return -e.rawValue }
    #endif
    return cipc_pidfd_open(pid)
}

// poll
func system_poll(_ fds: UnsafeMutablePointer<pollfd>, _ count: Int, _ timeout: Int32) -> Int32 {
    poll(fds, nfds_t(count), timeout)
}

// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK): returns the descriptor or -errno.
func system_eventfd() -> Int32 {
    cipc_eventfd()
}

// write
func system_write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

// futex_waitv with no words: EINVAL where the call exists, ENOSYS where it does not. Never
// mocked: its answer is cached for the whole process (see `Futex.hasVectoredWait`).
func system_futex_waitv_probe() -> Int32 {
    cipc_futex_waitv(nil, 0, nil)
}
