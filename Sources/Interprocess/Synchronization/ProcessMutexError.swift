import SystemPackage

/// Why a ``ProcessMutex`` (or a wait that relocks one) failed.
public enum ProcessMutexError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The previous owner died holding the mutex and nobody repaired the data; the mutex can
    /// no longer be used. Remove the object and create it again.
    case notRecoverable
    /// The previous owner died holding the mutex. Thrown by ``ProcessMutex/withLock(timeout:ifPreviousOwnerDied:_:)``
    /// when no repair was supplied, and by condition waits whose relock found a dead owner (the
    /// caller then holds the mutex: repair and call ``ProcessMutex/markConsistent()``, or unlock).
    case previousOwnerDied
    /// The calling thread does not hold the mutex.
    case notOwner
    /// The calling thread already holds the mutex (it is not recursive).
    case alreadyOwned
    /// The deadline passed before the mutex could be acquired (``ProcessMutex/withLock(timeout:ifPreviousOwnerDied:_:)`` only;
    /// ``ProcessMutex/lock(timeout:)`` returns ``ProcessMutex/LockResult/timedOut``).
    case timedOut
    /// A condition wait ended (by notification or by its deadline), but the deadline passed
    /// before the mutex could be reacquired: the caller does NOT hold the mutex.
    ///
    /// Thrown by ``ProcessCondition/wait(on:timeout:)`` and
    /// ``ProcessCondition/wait(on:timeout:until:)`` when another thread or process holds the
    /// mutex past the wait's deadline (a holder that is stopped, or stuck in a long critical
    /// section). Do not touch the protected data and do not unlock. Inside
    /// ``ProcessMutex/withLock(timeout:ifPreviousOwnerDied:_:)``, let it propagate: the deferred
    /// unlock finds the mutex not held by the calling thread and does nothing, and the caller
    /// of `withLock` gets this error.
    case reacquireTimedOut
    /// An unexpected system error.
    case unexpected(Errno, operation: String)

    public var description: String {
        switch self {
        case .notRecoverable: "the mutex is not recoverable: a previous owner died and the data was never repaired"
        case .previousOwnerDied: "the previous owner of the mutex died while holding it"
        case .notOwner: "the calling thread does not hold the mutex"
        case .alreadyOwned: "the calling thread already holds the mutex"
        case .timedOut: "timed out waiting for the mutex"
        case .reacquireTimedOut:
            "the wait's deadline passed before the mutex was reacquired; the caller does not hold it"
        case let .unexpected(errno, operation): "\(operation) failed: \(errno)"
        }
    }
}
