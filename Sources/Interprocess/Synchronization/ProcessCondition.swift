import SystemPackage

/// A condition variable that lives in shared memory: threads of any process wait on it until
/// another thread signals a change of the data a ``ProcessMutex`` protects.
///
/// ```swift
/// try lock.withLock {
///     while queueIsEmpty {
///         _ = try ready.wait(on: lock)
///     }
///     …
/// }
/// ```
///
/// ## The state words
/// A `WaiterGatedWake` at the start of the storage, whose word is a sequence:
/// - `sequence` (offset 0), the futex word: incremented by a notification that finds a waiter.
///   A waiter reads it and announces itself while holding the mutex, unlocks, and sleeps only
///   while it still holds the value read, so a notification between unlock and sleep is never
///   lost.
/// - `waiters` (offset 4): how many threads are between announcing and leaving a wait.
///   Notifiers skip the increment and the wake syscall when it is zero: a waiter announces
///   itself before it releases the mutex, and a notifier's change to the predicate is made
///   under the mutex, so a notifier that finds no waiter notifies nobody who could miss the
///   change. A waiter that dies leaves it too high, which costs only a useless wake syscall
///   per notification, never a lost wake-up.
///
/// Nothing a dying waiter leaves behind can block or corrupt the condition.
public struct ProcessCondition: @unchecked Sendable {
    /// The bytes a condition occupies in shared memory.
    public static let storageSize = 64
    /// The alignment a condition needs.
    public static let storageAlignment = 8

    /// Whether a wait ended by a notification or by its deadline.
    public enum WaitResult: Sendable, Hashable {
        /// Woken by a notification (or spuriously): re-check the predicate.
        case signaled
        /// The deadline passed without a notification.
        case timedOut
    }

    /// The sequence word (offset 0) and the waiter count (offset 4).
    let gate: WaiterGatedWake
    /// The segment that keeps the condition mapped.
    public let segment: SharedMemory

    /// Creates or opens the condition named `name`.
    ///
    /// - Parameters:
    ///   - name: the object's name.
    ///   - mode: create, open, or either.
    ///   - permissions: the file mode of a new condition (default `0600`).
    ///   - lifetime: how long a new object's name lives (default ``SharedMemory/Lifetime/persistent``;
    ///     an existing object keeps the lifetime it was created with).
    ///   - owners: the owners of an existing object this open accepts (default: only the
    ///     current user; see ``SharedMemory/OwnerPolicy``).
    ///   - timeout: how long to wait for a condition another process is still initialising.
    /// - Throws: ``SharedMemoryError``.
    public init(
        named name: String, mode: SharedMemory.OpenMode = .openOrCreate,
        permissions: FilePermissions = [.ownerRead, .ownerWrite],
        lifetime: SharedMemory.Lifetime = .persistent, owners: SharedMemory.OwnerPolicy = .currentUser,
        timeout: Duration = .seconds(5)
    ) throws(SharedMemoryError) {
        let segment = try SharedMemory.namedObject(
            name, kind: .condition, payloadSize: ProcessCondition.storageSize, mode: mode,
            permissions: permissions, lifetime: lifetime, owners: owners, timeout: timeout,
            initialize: { (address) throws(SharedMemoryError) in
                try ProcessCondition.unsafeInitializeStorage(at: address)
            })
        self.init(segment: segment, address: segment.bytes.baseAddress!)
    }

    /// Attaches to a condition placed at `offset` of `segment`'s payload (initialised with
    /// ``initializeStorage(in:at:)``).
    /// - Throws: ``SharedMemoryError/invalidPlacement(offset:size:reason:)``.
    public init(in segment: SharedMemory, at offset: Int) throws(SharedMemoryError) {
        let address = try segment.address(
            at: offset, size: ProcessCondition.storageSize, alignment: ProcessCondition.storageAlignment)
        self.init(segment: segment, address: address)
    }

    private init(segment: SharedMemory, address: UnsafeMutableRawPointer) {
        self.segment = segment
        self.gate = WaiterGatedWake(at: address)
    }

    /// Initialises the storage of a condition at `offset` of `payload`: call it exactly once per
    /// condition, before any process uses it — typically in the creator's initializer of
    /// ``SharedMemory/init(named:mode:size:permissions:lifetime:owners:timeout:removeOnDeinit:initializer:)``,
    /// which runs before the segment is visible to anyone else; then attach with ``init(in:at:)``.
    ///
    /// - Parameters:
    ///   - payload: the segment's payload (the initializer's argument).
    ///   - offset: where the condition goes: ``storageSize`` bytes, a multiple of ``storageAlignment``.
    /// - Throws: ``SharedMemoryError/invalidPlacement(offset:size:reason:)`` if the storage does not
    ///   fit at `offset` or `offset` is misaligned; the other errors of the raw initialisation.
    public static func initializeStorage(
        in payload: UnsafeMutableRawBufferPointer, at offset: Int
    ) throws(SharedMemoryError) {
        let address = try SharedMemory.address(in: payload, at: offset, size: storageSize, alignment: storageAlignment)
        try unsafeInitializeStorage(at: address)
    }

    /// Initialises condition storage at `address` (``storageSize`` bytes, ``storageAlignment``-aligned).
    /// - Throws: ``SharedMemoryError/invalidPlacement(offset:size:reason:)`` when misaligned.
    ///
    /// - Precondition: `address` is the start of ``storageSize`` bytes of mapped memory that no
    ///   process uses yet (misalignment is still reported as an error).
    package static func unsafeInitializeStorage(at address: UnsafeMutableRawPointer) throws(SharedMemoryError) {
        guard Int(bitPattern: address) % storageAlignment == 0 else {
            throw .invalidPlacement(
                offset: 0, size: storageSize, reason: "a condition needs \(storageAlignment)-byte alignment")
        }
        address.initializeMemory(as: UInt8.self, repeating: 0, count: storageSize)
    }

    /// How long a relock may still try after the wait's deadline has passed.
    ///
    /// A wait whose deadline passes while a notifier holds the mutex for an instant (the usual
    /// "lock, change, notify, unlock") would otherwise report ``ProcessMutexError/reacquireTimedOut``
    /// for a mutex that is free a few microseconds later. The grace bounds what a holder that
    /// does not let go (stopped, or in a long critical section) can add to the wait.
    static let relockGrace: Duration = .milliseconds(1)

    /// Atomically releases `mutex` and waits for a notification, then reacquires `mutex`.
    ///
    /// The caller must hold `mutex`. A return of ``WaitResult/signaled`` may be spurious: always
    /// re-check the predicate in a loop (or use ``wait(on:timeout:until:)``).
    ///
    /// The timeout bounds the whole call, the relock included: the call returns (or throws)
    /// within `timeout` plus 1 ms (a relock that finds the mutex held as the deadline passes
    /// still tries that long) plus scheduling latency, even when another thread or process
    /// holds the mutex and never lets go (it is stopped, say).
    ///
    /// - Parameters:
    ///   - mutex: the mutex protecting the predicate, held by the caller.
    ///   - timeout: the longest time to wait (`nil`: no limit), on the monotonic clock.
    /// - Returns: whether the wait ended by notification or timeout. `mutex` is held again
    ///   either way.
    /// - Throws: ``ProcessMutexError/reacquireTimedOut`` if the deadline passed before the
    ///   mutex could be reacquired (the caller does *not* hold it; see
    ///   ``ProcessMutex/withLock(timeout:ifPreviousOwnerDied:_:)`` for what that means inside
    ///   `withLock`); ``ProcessMutexError/notOwner`` if the caller does not hold `mutex`;
    ///   ``ProcessMutexError/previousOwnerDied`` if, while reacquiring, the mutex turned out to
    ///   have been held by a process that died (the caller holds it: repair, then
    ///   ``ProcessMutex/markConsistent()``); ``ProcessMutexError/notRecoverable`` (not held).
    public func wait(on mutex: ProcessMutex, timeout: Duration? = nil) throws(ProcessMutexError) -> WaitResult {
        try wait(on: mutex, deadline: Deadline(timeout: timeout))
    }

    /// Waits until `predicate` holds or the deadline passes, releasing `mutex` while waiting.
    ///
    /// The timeout bounds the whole call, relocks included, as for ``wait(on:timeout:)``.
    ///
    /// - Returns: `true` if the predicate holds, `false` if the deadline passed first. `mutex`
    ///   is held again either way.
    /// - Throws: as ``wait(on:timeout:)``; after ``ProcessMutexError/reacquireTimedOut`` the
    ///   caller does not hold `mutex` and the predicate was not evaluated again.
    public func wait(
        on mutex: ProcessMutex, timeout: Duration? = nil, until predicate: () -> Bool
    ) throws(ProcessMutexError) -> Bool {
        let deadline = Deadline(timeout: timeout)
        while !predicate() {
            if try wait(on: mutex, deadline: deadline) == .timedOut { return predicate() }
        }
        return true
    }

    func wait(on mutex: ProcessMutex, deadline: Deadline) throws(ProcessMutexError) -> WaitResult {
        // Announced while holding the mutex: a notifier that changes the predicate under the
        // mutex after our unlock finds us announced (see "The state words").
        let observed = gate.announce()
        do { try mutex.unlock() } catch {
            gate.withdraw()
            throw error
        }
        let outcome = gate.sleep(expecting: observed, deadline: deadline)
        gate.withdraw()
        // Relock by the wait's own deadline (plus the grace): a holder that never lets go
        // (stopped with SIGSTOP, or looping) must not turn a timed wait into an endless one.
        let relockDeadline = max(deadline, Deadline.after(ProcessCondition.relockGrace))
        switch try mutex.lock(deadline: relockDeadline) {
        case .acquired: break
        case .previousOwnerDied: throw .previousOwnerDied
        case .timedOut: throw .reacquireTimedOut
        }
        return outcome == .timedOut ? .timedOut : .signaled
    }

    /// Wakes one waiting thread, if any.
    ///
    /// May be called with or without holding the mutex; the waiter re-checks its predicate
    /// under the mutex.
    public func notifyOne() { notify(count: 1) }

    /// Wakes every waiting thread.
    public func notifyAll() { notify(count: Int32.max) }

    private func notify(count: Int32) { gate.wake(count: count) }
}
