import SystemPackage

/// A mutual-exclusion lock that lives in shared memory and works across processes, and tells
/// the next owner when a previous owner died holding it.
///
/// ```swift
/// let lock = try ProcessMutex(named: "counter.lock")
/// try lock.withLock(ifPreviousOwnerDied: { repairCounter() }) {
///     counter += 1
/// }
/// ```
///
/// ## Owner death
/// When a process (or thread) dies holding the mutex, the kernel marks it, and the next
/// ``lock(timeout:)`` returns ``LockResult/previousOwnerDied``: the caller owns the mutex, but the
/// data it protects may be half-updated. The caller repairs the data and calls
/// ``markConsistent()`` before ``unlock()``. If it unlocks without doing so, the mutex becomes
/// permanently unusable and every later locker gets ``ProcessMutexError/notRecoverable`` —
/// nothing is ever recovered silently, and nobody waits forever on a dead owner.
///
/// ## Placement
/// A mutex is either a named object of its own (``init(named:mode:permissions:lifetime:owners:timeout:)``) or
/// placed by the user at an offset of a segment they lay out: initialise the storage with
/// ``initializeStorage(in:at:)`` in the segment's initializer, then attach with ``init(in:at:)``.
///
/// ## A held lock keeps its memory
/// While a thread of this process holds the mutex, the memory it lives in stays mapped, even if
/// every handle (and so the ``SharedMemory``) is released: the kernel writes into a held robust
/// mutex when its owner exits, which is how the next locker learns of the death, and that write
/// must land in the mutex, not in whatever this process mapped at the address since. The
/// mapping is released with the handle once the mutex is unlocked through a handle of the same
/// segment; locking through one handle and unlocking through a handle opened separately keeps
/// the first mapping for the life of the process (a small, deliberate leak).
///
/// The mutex is a glibc robust, process-shared, error-checking pthread mutex; all timeouts run on
/// the monotonic clock.
public struct ProcessMutex: @unchecked Sendable {
    // @unchecked Sendable: the handle is an address into shared memory plus the segment keeping
    // it mapped; the pthread mutex at the address is itself the synchronisation.

    // Equal to CIPC_MUTEX_STORAGE, which the C shim _Static_asserts holds a pthread_mutex_t.
    /// The bytes a mutex occupies in shared memory.
    public static let storageSize = 64
    /// The alignment a mutex needs in shared memory.
    public static let storageAlignment = 8

    /// The result of acquiring the mutex.
    public enum LockResult: Sendable, Hashable {
        /// The caller owns the mutex.
        case acquired
        /// The caller owns the mutex, and the previous owner died holding it: repair the
        /// protected data, then call ``ProcessMutex/markConsistent()``.
        case previousOwnerDied
        /// The deadline passed (or, for ``ProcessMutex/tryLock()``, another owner holds it).
        /// The caller does not own the mutex.
        case timedOut
    }

    /// The robust pthread mutex in shared memory (see `RobustMutexPrimitive`).
    let address: UnsafeMutableRawPointer
    /// The segment that keeps `address` mapped.
    public let segment: SharedMemory

    /// Creates or opens the mutex named `name`.
    ///
    /// - Parameters:
    ///   - name: the object's name.
    ///   - mode: create, open, or either.
    ///   - permissions: the file mode of a new mutex (default `0600`).
    ///   - lifetime: how long a new object's name lives (default ``SharedMemory/Lifetime/persistent``;
    ///     an existing object keeps the lifetime it was created with).
    ///   - owners: the owners of an existing object this open accepts (default: only the
    ///     current user; see ``SharedMemory/OwnerPolicy``).
    ///   - timeout: how long to wait for a mutex another process is still initialising.
    /// - Throws: ``SharedMemoryError``.
    public init(
        named name: String, mode: SharedMemory.OpenMode = .openOrCreate,
        permissions: FilePermissions = [.ownerRead, .ownerWrite],
        lifetime: SharedMemory.Lifetime = .persistent, owners: SharedMemory.OwnerPolicy = .currentUser,
        timeout: Duration = .seconds(5)
    ) throws(SharedMemoryError) {
        let segment = try SharedMemory.namedObject(
            name, kind: .mutex, payloadSize: ProcessMutex.storageSize, mode: mode, permissions: permissions,
            lifetime: lifetime, owners: owners,
            timeout: timeout,
            initialize: { (address) throws(SharedMemoryError) in try ProcessMutex.unsafeInitializeStorage(at: address) }
        )
        self.segment = segment
        self.address = segment.bytes.baseAddress!
        try ProcessMutex.checkKind(address, name: name)
    }

    /// Refuses storage that does not hold the kind of mutex `initializeStorage` makes (see
    /// `RobustMutexPrimitive.hasExpectedKind`).
    private static func checkKind(
        _ address: UnsafeMutableRawPointer, name: String
    ) throws(SharedMemoryError) {
        guard RobustMutexPrimitive.hasExpectedKind(address) else {
            throw .corruptContents(name: name, detail: "the mutex storage does not hold an initialised robust mutex")
        }
    }

    /// Attaches to a mutex placed at `offset` of `segment`'s payload.
    ///
    /// The storage must have been initialised with ``initializeStorage(in:at:)`` by the segment's
    /// creator.
    /// - Throws: ``SharedMemoryError/invalidPlacement(offset:size:reason:)`` if the mutex does not
    ///   fit at `offset` or `offset` is misaligned, ``SharedMemoryError/corruptContents(name:detail:)``
    ///   if the storage holds no initialised mutex.
    public init(in segment: SharedMemory, at offset: Int) throws(SharedMemoryError) {
        let raw = try segment.address(
            at: offset, size: ProcessMutex.storageSize, alignment: ProcessMutex.storageAlignment)
        self.segment = segment
        self.address = raw
        try ProcessMutex.checkKind(address, name: segment.name?.rawValue ?? "<anonymous>")
    }

    /// Initialises the storage of a mutex at `offset` of `payload`: call it exactly once per
    /// mutex, before any process uses it — typically in the creator's initializer of
    /// ``SharedMemory/init(named:mode:size:permissions:lifetime:owners:timeout:removeOnDeinit:initializer:)``,
    /// which runs before the segment is visible to anyone else; then attach with ``init(in:at:)``.
    ///
    /// - Parameters:
    ///   - payload: the segment's payload (the initializer's argument).
    ///   - offset: where the mutex goes: ``storageSize`` bytes, a multiple of ``storageAlignment``.
    /// - Throws: ``SharedMemoryError/invalidPlacement(offset:size:reason:)`` if the storage does not
    ///   fit at `offset` or `offset` is misaligned; the other errors of the raw initialisation.
    public static func initializeStorage(
        in payload: UnsafeMutableRawBufferPointer, at offset: Int
    ) throws(SharedMemoryError) {
        let address = try SharedMemory.address(in: payload, at: offset, size: storageSize, alignment: storageAlignment)
        try unsafeInitializeStorage(at: address)
    }

    /// Initialises mutex storage at `address`, which must be ``storageAlignment``-aligned and
    /// hold ``storageSize`` bytes of shared memory.
    ///
    /// Call it exactly once per mutex, before any process uses it — typically in the
    /// initializer of ``SharedMemory/init(named:mode:size:permissions:lifetime:owners:timeout:removeOnDeinit:initializer:)``,
    /// which runs before the segment is visible to anyone else.
    /// - Throws: ``SharedMemoryError/invalidPlacement(offset:size:reason:)`` for a misaligned
    ///   address, or ``SharedMemoryError/unexpected(_:operation:)``.
    ///
    /// - Precondition: `address` is the start of ``storageSize`` bytes of mapped memory that no
    ///   process uses yet (misalignment is still reported as an error).
    package static func unsafeInitializeStorage(at address: UnsafeMutableRawPointer) throws(SharedMemoryError) {
        guard Int(bitPattern: address) % storageAlignment == 0 else {
            throw .invalidPlacement(
                offset: 0, size: storageSize, reason: "a mutex needs \(storageAlignment)-byte alignment")
        }
        address.initializeMemory(as: UInt8.self, repeating: 0, count: storageSize)
        do { try RobustMutexPrimitive.initialize(address) } catch {
            throw .unexpected(error, operation: "pthread_mutex_init")
        }
    }

    /// Acquires the mutex, waiting at most `timeout` (`nil`: as long as it takes).
    ///
    /// - Returns: ``LockResult/acquired``, ``LockResult/previousOwnerDied`` (owned; repair and
    ///   call ``markConsistent()``), or ``LockResult/timedOut`` (not owned).
    /// - Throws: ``ProcessMutexError/notRecoverable`` if an earlier owner death was never
    ///   repaired; ``ProcessMutexError/alreadyOwned`` if the calling thread holds it already.
    public func lock(timeout: Duration? = nil) throws(ProcessMutexError) -> LockResult {
        // Without a deadline, one call to the shim (no deadline to convert).
        if timeout == nil {
            return try map(RobustMutexPrimitive.lockWithoutDeadline(address), operation: "pthread_mutex_lock")
        }
        return try lock(deadline: Deadline(timeout: timeout))
    }

    /// Acquires the mutex by `deadline` (the relock of a condition wait uses the wait's own).
    ///
    /// A mutex that is free is acquired even when the deadline has passed (POSIX: a timed lock
    /// never times out when it can lock at once).
    func lock(deadline: Deadline) throws(ProcessMutexError) -> LockResult {
        try map(RobustMutexPrimitive.lock(address, deadline: deadline), operation: "pthread_mutex_clocklock")
    }

    /// Records that a thread of this process now holds the mutex: its segment keeps its mapping
    /// until the matching ``unlock()``, whatever happens to the handles (see "A held lock keeps
    /// its memory").
    private func holding(_ result: LockResult) -> LockResult {
        // Relaxed: the count is only read by the segment's deinit, which the release in
        // `unlock` (or the reference count's own ordering) orders after this.
        if result != .timedOut { segment.heldMutexCount.wrappingAdd(1, ordering: .relaxed) }
        return result
    }

    /// Acquires the mutex if no one holds it, without waiting.
    ///
    /// - Returns: as ``lock(timeout:)``, with ``LockResult/timedOut`` meaning "held by another".
    /// - Throws: as ``lock(timeout:)``.
    public func tryLock() throws(ProcessMutexError) -> LockResult {
        // A timed lock whose deadline has already passed, not pthread_mutex_trylock: glibc's
        // trylock on a not-recoverable robust mutex reports ENOTRECOVERABLE but leaves the
        // mutex held by the caller, which would wedge it for everyone. The timed path tries
        // once and releases correctly.
        try map(
            RobustMutexPrimitive.lock(address, deadline: Deadline(uptimeNanoseconds: 0)),
            operation: "pthread_mutex_clocklock")
    }

    /// Releases the mutex.
    ///
    /// If the mutex was acquired with ``LockResult/previousOwnerDied`` and not marked
    /// consistent, unlocking makes it permanently unusable (``ProcessMutexError/notRecoverable``).
    /// - Throws: ``ProcessMutexError/notOwner`` if the calling thread does not hold it.
    public func unlock() throws(ProcessMutexError) {
        do { try RobustMutexPrimitive.unlock(address) } catch {
            throw error == .notPermitted ? .notOwner : .unexpected(error, operation: "pthread_mutex_unlock")
        }
        // SYNC POINT: releasing; pairs with the acquiring load in `SharedMemory.deinit`, which
        // may run on another thread once the last handle is gone.
        segment.heldMutexCount.wrappingSubtract(1, ordering: .releasing)
    }

    /// Declares the protected data repaired after ``LockResult/previousOwnerDied``; the mutex is
    /// then usable by everyone again.
    ///
    /// - Throws: ``ProcessMutexError/notOwner`` unless the caller holds the mutex after an owner
    ///   death.
    public func markConsistent() throws(ProcessMutexError) {
        do { try RobustMutexPrimitive.markConsistent(address) } catch {
            throw error == .invalidArgument ? .notOwner : .unexpected(error, operation: "pthread_mutex_consistent")
        }
    }

    private func map(
        _ body: @autoclosure () throws(Errno) -> RobustMutexPrimitive.LockStatus, operation: String
    ) throws(ProcessMutexError) -> LockResult {
        let status: RobustMutexPrimitive.LockStatus
        do { status = try body() } catch { throw .unexpected(error, operation: operation) }
        switch status {
        case .acquired: return holding(.acquired)
        case .acquiredOwnerDied: return holding(.previousOwnerDied)
        case .timedOut: return .timedOut
        case .notRecoverable: throw .notRecoverable
        case .alreadyOwned: throw .alreadyOwned
        }
    }
}

extension ProcessMutex {
    /// Runs `body` while holding the mutex.
    ///
    /// If the previous owner died holding the mutex, `repair` runs first (holding the mutex);
    /// when it returns, the mutex is marked consistent and `body` runs. The default `repair`
    /// throws ``ProcessMutexError/previousOwnerDied``: the mutex is then released *without*
    /// being marked consistent, so it becomes not recoverable — a deliberate, visible failure
    /// rather than silently trusting half-updated data.
    ///
    /// - Parameters:
    ///   - timeout: how long to wait for the mutex (`nil`: as long as it takes).
    ///   - repair: restores the protected data's invariants after an owner death.
    ///   - body: the critical section.
    /// A ``ProcessCondition`` wait inside `body` that throws
    /// ``ProcessMutexError/reacquireTimedOut`` has left the mutex unlocked: let the error
    /// propagate. The deferred unlock then finds that the calling thread does not hold the mutex
    /// (the mutex checks its owner) and does nothing, so the caller of `withLock` gets
    /// ``ProcessMutexError/reacquireTimedOut`` itself — never ``ProcessMutexError/notOwner``, and
    /// never an unlock of a mutex another thread or process holds.
    ///
    /// - Throws: ``ProcessMutexError/timedOut`` when the deadline passes,
    ///   ``ProcessMutexError/notRecoverable``, what `repair` throws, or what `body` throws. The
    ///   errors of `repair` and `body` reach the caller as themselves (`catch let e as MyError`
    ///   matches), which is why this throws `any Error`: one typed error for both the lock's
    ///   failures and the closures' would have to wrap the closures' errors.
    public func withLock<R>(
        timeout: Duration? = nil,
        ifPreviousOwnerDied repair: () throws -> Void = { throw ProcessMutexError.previousOwnerDied },
        _ body: () throws -> R
    ) throws -> R {
        switch try lock(timeout: timeout) {
        case .timedOut:
            throw ProcessMutexError.timedOut
        case .previousOwnerDied:
            do { try repair() } catch {
                try? unlock()
                throw error
            }
            try markConsistent()
        case .acquired:
            break
        }
        // `try?`: after a condition wait in `body` that threw `reacquireTimedOut`, the calling
        // thread does not hold the mutex; the error-checking unlock then fails with `notOwner`,
        // which must not replace the error `body` threw.
        defer { try? unlock() }
        return try body()
    }
}
