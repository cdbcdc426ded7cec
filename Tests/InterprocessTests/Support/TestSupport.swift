import Dispatch
import Glibc
import Synchronization
import Testing

@testable import Interprocess

// Helpers shared by the unit tests. Swift Testing runs tests in parallel inside one process, so
// every object name is unique (pid + random number + test name) and every test removes what it
// created. Blocking work runs on dedicated pthreads, never on the cooperative pool.

/// A name no other test (in this or another process) uses.
func uniqueName(_ test: String = #function) -> String {
    let cleaned = String(
        test.unicodeScalars.map { scalar -> Character in
            let c = Character(scalar)
            return c.isASCII && (c.isLetter || c.isNumber) ? c : "-"
        }
        .prefix(60))
    return "ut-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(cleaned)"
}

/// The backing file of the named object `name`.
func backingPath(_ name: String) -> String {
    SharedMemory.directory + "/" + SegmentName.prefix + name
}

/// Removes the named object, ignoring "not found".
func removeQuietly(_ name: String) {
    try? SharedMemory.remove(named: name)
}

/// The first payload byte of the existing raw segment `name`.
///
/// The segment object must outlive the read: `bytes` points into a mapping its deinit unmaps,
/// so `try SharedMemory(…).bytes[0]` would read unmapped memory.
func firstByte(ofSegment name: String, size: Int) throws -> UInt8 {
    let segment = try SharedMemory(named: name, mode: .open, size: size)
    return withExtendedLifetime(segment) { segment.bytes[0] }
}

/// The error `body` threw, if it was a `SharedMemoryError`.
func sharedMemoryError(_ body: () throws -> Void) -> SharedMemoryError? {
    do {
        try body()
        return nil
    } catch let error as SharedMemoryError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

/// The error `body` threw, if it was a `ProcessMutexError`.
func processMutexError(_ body: () throws -> Void) -> ProcessMutexError? {
    do {
        try body()
        return nil
    } catch let error as ProcessMutexError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

/// Milliseconds elapsed since `start` on the monotonic clock.
func millisecondsSince(_ start: Deadline) -> Double {
    Double(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}

/// Writes `bytes` at `offset` of the file at `path` (as another, hostile process would).
func overwrite(_ path: String, at offset: Int, with bytes: [UInt8]) throws {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    try #require(fd >= 0, "open \(path): errno \(errno)")
    defer { close(fd) }
    let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress!, $0.count, off_t(offset)) }
    try #require(written == bytes.count)
}

/// Writes the bytes of `value` (machine byte order) at `offset` of the file at `path`.
func overwrite<T: FixedWidthInteger>(_ path: String, at offset: Int, value: T) throws {
    try overwrite(path, at: offset, with: withUnsafeBytes(of: value) { Array($0) })
}

/// The permission bits of the file at `path`.
func fileMode(_ path: String) throws -> mode_t {
    var st = stat()
    try #require(stat(path, &st) == 0, "stat \(path): errno \(errno)")
    return st.st_mode & 0o7777
}

/// A pthread running `body`, joinable (after `join()` the thread has exited, so the kernel has
/// processed its robust-mutex list).
final class TestThread: @unchecked Sendable {
    // @unchecked: `thread` is written once in init, and `thread` and `joined` are used by `join`
    // on the creating thread only.
    private var thread = pthread_t()

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    init(_ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                let body = Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue()
                body.run()
                return nil
            }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    private var joined = false

    /// Waits for the thread to end; later calls return at once (joining a thread twice is
    /// undefined, and the address sanitizer aborts on it).
    func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }
}

/// Runs `body` on `count` threads at once and waits for all of them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let threads = (0..<count).map { index in TestThread { body(index) } }
    for thread in threads { thread.join() }
}

/// Polls `condition` every millisecond until it holds or `timeout` passes; returns its last value.
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) -> Bool {
    let deadline = Deadline(timeout: timeout)
    while !deadline.hasPassed {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}

/// Whether the kernel thread `tid` of this process is sleeping (state `S`).
func threadIsSleeping(_ tid: Int32) -> Bool {
    (try? ProcessIdentity.stat(of: tid).state) == "S"
}

/// A counter several threads bump.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() { value.add(1, ordering: .sequentiallyConsistent) }
    var current: Int { value.load(ordering: .sequentiallyConsistent) }
}

/// A list several threads append to.
///
/// Guarded by a pthread mutex rather than `Synchronization.Mutex`: the thread sanitizer
/// intercepts pthread locks, but on Linux it does not see the futex-based `Mutex` as a lock and
/// reports its critical sections as races.
final class Collector<T: Sendable>: @unchecked Sendable {
    // @unchecked: `items` is only touched while holding `lock`.
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var items: [T] = []

    init() { pthread_mutex_init(lock, nil) }

    deinit {
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    private func locked<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return body()
    }

    func append(_ item: T) { locked { items.append(item) } }
    var all: [T] { locked { items } }
}

/// A one-shot signal between threads.
final class Latch: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    func open() { semaphore.signal() }
    /// Waits for `open()`; `false` after `seconds`.
    func wait(seconds: Double = 10) -> Bool {
        semaphore.wait(timeout: .now() + seconds) == .success
    }
}

/// Moves an empty ring's indices to `position`, as if `position` messages had passed, so a test
/// reaches a 32-bit boundary or the 2^64 wrap without sending that many messages.
func reposition<E: BitwiseCopyable>(
    _ sender: inout ChannelSender<E>, _ receiver: inout ChannelReceiver<E>, to position: UInt64
) {
    let ring = sender.ring
    // Relaxed: single-threaded test set-up, no other process uses the ring.
    ring.control.producerIndex.pointee.store(position, ordering: .relaxed)
    ring.control.consumerIndex.pointee.store(position, ordering: .relaxed)
    // A free slot at position p holds sequence p for MPMC; for SPSC it holds what the
    // previous lap published there, p − capacity + 1 (see ChannelRing's notes).
    for i in 0..<UInt64(ring.capacity) {
        let p = position &+ i
        let free = ring.topology == .multiProducerMultiConsumer ? p : p &- UInt64(ring.capacity) &+ 1
        ring.sequence(ring.slot(p)).pointee.store(free, ordering: .relaxed)
    }
    sender.tail = position
    sender.releasedCache = position
    receiver.head = position
}

/// Moves an empty byte channel's indices to `position` (a multiple of 8, a frame boundary).
func reposition(
    _ sender: inout ByteChannelSender, _ receiver: inout ByteChannelReceiver, to position: UInt64
) {
    // Relaxed: single-threaded test set-up.
    sender.ring.control.producerIndex.pointee.store(position, ordering: .relaxed)
    sender.ring.control.consumerIndex.pointee.store(position, ordering: .relaxed)
    sender.tail = position
    sender.headCache = position
    receiver.head = position
}
