import Synchronization
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
/// - `sequence` (offset 0, 32 bits), the futex word: incremented by a notification that wakes.
///   A waiter reads it and announces itself while holding the mutex, unlocks, and sleeps only
///   while it still holds the value read, so a notification between unlock and sleep is never
///   lost.
/// - `waiters` (offset 8, 64 bits): the announced waiters *W* (low half), threads between
///   announcing and leaving a wait, and the wake-ups *S* (high half) notifications have sent
///   them that no leaving waiter has taken yet. A notification wakes only while *W* > *S*: a
///   waiter announces itself before it releases the mutex, and a notifier's change to the
///   predicate is made under the mutex, so a notifier that finds every waiter woken already
///   (or none) notifies nobody who could miss the change. A woken waiter takes one wake-up as
///   it leaves (*W* − 1, *S* − 1 while *S* > 0), so the notifications a stream sends while the
///   woken waiter is not yet running cost no system call. Both halves change together, by
///   compare-and-swap.
///
/// Neither side issues a StoreLoad barrier: the mutex orders the handshake. A waiter announces
/// itself before its unlock; a notifier changed the predicate holding the mutex and reads the
/// waiters after that; so either the notifier's critical section follows the waiter's, and its
/// read sees the announcement, or it precedes it, and the waiter sees the change.
///
/// Why *S* is safe: every wake-up a notifier sends either wakes a sleeper, which takes one as
/// it leaves, or finds none in the kernel, when every announced waiter is woken already, is
/// about to find the sequence changed, or is dead; so *S* never hides a sleeper nobody woke.
/// A waiter that dies leaves *W* one too high, and at most one wake-up is then spent on it;
/// the live waiters are woken as before. Another process that can write the condition can
/// withhold wake-ups (as it can by never notifying); a timed wait still ends at its deadline.
///
/// The layout is the condition kind's payload version 2 (``ObjectKind/layoutVersion``): an
/// object of version 1 (its count at offset 4) is refused, not misread. A condition placed in a
/// segment of the caller's layout has no header, so every process that uses it must run a
/// build with the same layout.
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

    /// The sequence word (offset 0).
    let sequence: FutexWord
    /// The announced waiters and the wake-ups sent to them (offset 8, see "The state words").
    let waiters: UnsafeMutablePointer<Atomic<UInt64>>
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
        self.sequence = FutexWord(at: address)
        self.waiters = (address + ProcessCondition.waitersOffset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// Where the waiter word lives in the storage.
    static let waitersOffset = 8

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
        let observed = announce()
        do { try mutex.unlock() } catch {
            withdraw()
            throw error
        }
        let outcome = sequence.wait(expecting: observed, deadline: deadline)
        withdraw()
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
    /// May be called with or without holding the mutex; the change it announces must have been
    /// made holding the mutex (as with any condition variable), and the waiter re-checks its
    /// predicate under the mutex. A notification that finds no waiter, or only waiters already
    /// woken, makes no system call.
    public func notifyOne() { notify(count: 1) }

    /// Wakes every waiting thread (the change it announces made holding the mutex, as for
    /// ``notifyOne()``).
    public func notifyAll() { notify(count: Int32.max) }

    private func notify(count: Int32) {
        // No barrier: the mutex orders. The caller changed the predicate holding the mutex;
        // a waiter announces itself holding it too, before its unlock. If the waiter's
        // critical section came first, its announcement happens before the notifier's lock and
        // so before this load; if the notifier's came first, the waiter sees the change under
        // the mutex and does not wait. (A predicate changed without the mutex can lose a
        // wake-up with any condition variable.)
        // Relaxed, as is the exchange below: the sequence's releasing bump publishes.
        var state = waiters.pointee.load(ordering: .relaxed)
        for _ in 0..<ProcessCondition.exchangeAttempts {
            let announced = state & 0xFFFF_FFFF, sent = state >> 32
            // Every announced waiter woken already (or none): nobody to wake.
            guard announced > sent else { return }
            let woken = count == Int32.max ? announced : sent &+ 1
            let (exchanged, found) = waiters.pointee.weakCompareExchange(
                expected: state, desired: woken << 32 | announced, ordering: .relaxed)
            if exchanged { break }
            state = found
        }
        // After too many lost exchanges (another process keeps writing the word) the wake goes
        // out anyway: a wake-up too many costs a syscall, never correctness.
        // Releasing: a waiter whose sleep sees the new sequence sees what we published before.
        sequence.atomic.pointee.wrappingAdd(1, ordering: .releasing)
        _ = sequence.wake(count: count)
    }

    /// Reads the sequence and announces a waiter (*W* + 1); returns the sequence read. Called
    /// holding the mutex, whose unlock (a release) orders the announcement before every later
    /// critical section, and so before the notifications that follow them.
    func announce() -> UInt32 {
        // SYNC POINT: acquiring; pairs with the notifier's releasing bump, so a waiter that
        // reads the new sequence sees what the notifier published before it.
        let observed = sequence.atomic.pointee.load(ordering: .acquiring)
        // Relaxed: ordered by the unlock that follows; *W* wraps in its half (a hostile value
        // never carries into *S*).
        var state = waiters.pointee.load(ordering: .relaxed)
        var announced = false
        for _ in 0..<ProcessCondition.exchangeAttempts {
            let (exchanged, found) = waiters.pointee.weakCompareExchange(
                expected: state, desired: state & ~0xFFFF_FFFF | (state &+ 1) & 0xFFFF_FFFF, ordering: .relaxed)
            if exchanged {
                announced = true
                break
            }
            state = found
        }
        // A waiter must be counted, or a notifier could skip it: after too many lost exchanges,
        // a plain increment (which carries into *S* only from a value no build writes).
        if !announced { waiters.pointee.wrappingAdd(1, ordering: .relaxed) }
        return observed
    }

    /// Leaves a wait: *W* − 1, and takes one wake-up (*S* − 1) if any is outstanding.
    func withdraw() {
        // Relaxed: the counts only decide whether notifiers make a syscall; they order nothing.
        var state = waiters.pointee.load(ordering: .relaxed)
        for _ in 0..<ProcessCondition.exchangeAttempts {
            let announced = state & 0xFFFF_FFFF, sent = state >> 32
            let left = announced == 0 ? 0 : announced &- 1
            // *S* ≤ *W* after the change (a hostile *S* above it is cut down).
            let remaining = min(sent == 0 ? 0 : sent &- 1, left)
            let (exchanged, found) = waiters.pointee.weakCompareExchange(
                expected: state, desired: remaining << 32 | left, ordering: .relaxed)
            if exchanged { return }
            state = found
        }
    }

    /// How many times a change of the waiter word is tried against other writers before the
    /// caller falls back to a change that is safe without it (only a process writing the word
    /// in a loop makes one fail that often): a notifier wakes anyway, a waiter that announces
    /// increments plainly, a leaving waiter leaves the word (*W* and *S* one too high each, or
    /// *W* alone: a useless syscall at worst).
    static let exchangeAttempts = 64
}
