import CInterprocess
import Glibc
import SystemPackage

/// The raw robust, process-shared pthread mutex the `ProcessMutex` is built on.
///
/// glibc's robust mutexes are the only correct way to get owner-death notification on Linux:
/// the kernel walks each dying thread's robust list (registered by glibc with
/// `set_robust_list`) and marks every mutex the thread held with `FUTEX_OWNER_DIED`. A thread
/// can register only one robust list, and glibc owns it, so an own futex design could not
/// receive the same guarantee.
enum RobustMutexPrimitive {
    enum LockStatus: Equatable {
        case acquired
        case acquiredOwnerDied
        case timedOut
        case notRecoverable
        case alreadyOwned
    }

    /// Initialises the mutex at `address` (which must be 8-byte aligned and hold
    /// `CIPC_MUTEX_STORAGE` bytes). Every function here takes the mutex's raw address, so that
    /// callers outside Platform never name `pthread_mutex_t`.
    static func initialize(_ address: UnsafeMutableRawPointer) throws(Errno) {
        if let e = Errno(shimResult: cipc_mutex_init(address.assumingMemoryBound(to: pthread_mutex_t.self))) { throw e }
    }

    static func lock(_ address: UnsafeMutableRawPointer, deadline: Deadline) throws(Errno)
        -> LockStatus
    {
        while true {
            let rc = deadline.withTimespecPointer {
                cipc_mutex_lock(address.assumingMemoryBound(to: pthread_mutex_t.self), $0)
            }
            // `nil`: interrupted (glibc does not return EINTR here; defensive), lock again.
            if let status = try status(rc) { return status }
        }
    }

    /// Locks without a deadline: `.acquired` in the common case, at the cost of one call to
    /// the shim, and every other outcome as ``lock(_:deadline:)`` reports it.
    @inline(__always)
    static func lockWithoutDeadline(_ address: UnsafeMutableRawPointer) throws(Errno) -> LockStatus {
        let rc = cipc_mutex_lock(address.assumingMemoryBound(to: pthread_mutex_t.self), nil)
        if rc == 0 { return .acquired }
        // EINTR is not acquired (glibc never returns it here): wait again, as the timed path.
        if let status = try status(rc) { return status }
        return try lock(address, deadline: .never)
    }

    /// What a lock's shim result says; `nil` for an interrupted call, which locked nothing.
    private static func status(_ rc: Int32) throws(Errno) -> LockStatus? {
        switch Errno(shimResult: rc) {
        case nil: return .acquired
        case .interrupted?: return nil
        case Errno(rawValue: EOWNERDEAD)?: return .acquiredOwnerDied
        case Errno(rawValue: ENOTRECOVERABLE)?: return .notRecoverable
        case .timedOut?: return .timedOut
        case .deadlock?: return .alreadyOwned
        case let e?: throw e
        }
    }

    static func unlock(_ address: UnsafeMutableRawPointer) throws(Errno) {
        if let e = Errno(shimResult: cipc_mutex_unlock(address.assumingMemoryBound(to: pthread_mutex_t.self))) {
            throw e
        }
    }

    static func markConsistent(_ address: UnsafeMutableRawPointer) throws(Errno) {
        if let e = Errno(shimResult: cipc_mutex_consistent(address.assumingMemoryBound(to: pthread_mutex_t.self))) {
            throw e
        }
    }

    /// Whether the mutex at `address` has the kind `initialize` gives (robust, process-shared,
    /// error-checking).
    ///
    /// The kind decides which code path glibc takes; a kind another process overwrote (a PI or
    /// recursive mutex, or an unknown value) leads glibc into paths whose behaviour on garbage is
    /// not ours to predict (assertions, EINVAL, futex PI calls on a stranger's thread id). glibc
    /// never changes the kind after initialisation — not even when it marks the mutex not
    /// recoverable — so checking it on attach refuses those mutexes up front. The remaining
    /// words (lock word, owner) can still hold garbage: glibc then behaves as for a mutex held
    /// by someone, or reports the owner dead, both of which the timeouts and typed results
    /// cover (the fuzzer exercises this).
    static func hasExpectedKind(_ address: UnsafeMutableRawPointer) -> Bool {
        address.assumingMemoryBound(to: pthread_mutex_t.self).pointee.__data.__kind == expectedKind
    }

    private static let expectedKind: Int32 = {
        var mutex = pthread_mutex_t()
        let rc = cipc_mutex_init(&mutex)
        precondition(rc == 0, "pthread_mutex_init of a local mutex failed: \(rc)")
        return mutex.__data.__kind
    }()
}
