import Glibc

/// A process-local lock on a heap-allocated `pthread_mutex_t`, guarding a value.
///
/// Used for process-local bookkeeping instead of `Synchronization.Mutex`, whose Linux futex
/// implementation the thread sanitizer does not recognise as a lock (it reports the data it
/// protects as racing). Never placed in shared memory: it is a PRIVATE lock.
final class PlatformLock<Value>: @unchecked Sendable {
    // @unchecked Sendable: `value` is only touched inside `withLock`.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        // A default mutex initialises without failure on Linux.
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value.
    @inline(__always)
    func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
