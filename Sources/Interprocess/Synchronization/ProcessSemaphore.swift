import SystemPackage

/// A counting semaphore that lives in shared memory.
///
/// ## The state words
/// A `WaiterGatedWake` whose word is the value itself:
/// - `count` (offset 0), the futex word: the number of available units, `0...Int32.max`.
///   ``signal()`` increments it; `wait(timeout:)` decrements it with a compare-and-swap and
///   sleeps on it while it reads 0.
/// - `waiters` (offset 4): threads inside the sleeping part of a wait. ``signal()`` makes the
///   wake syscall only when it is non-zero. A waiter that dies leaves it too high, which costs
///   useless syscalls, never a lost unit or a lost wake-up.
public struct ProcessSemaphore: @unchecked Sendable {
    /// The bytes a semaphore occupies in shared memory.
    public static let storageSize = 64
    /// The alignment a semaphore needs.
    public static let storageAlignment = 8
    /// The largest count a semaphore holds.
    public static let maximumValue = Int(Int32.max)

    /// The count (offset 0) and the waiter count (offset 4).
    let gate: WaiterGatedWake
    var count: FutexWord { gate.word }
    /// The segment that keeps the semaphore mapped.
    public let segment: SharedMemory

    /// Creates or opens the semaphore named `name`.
    ///
    /// - Parameters:
    ///   - name: the semaphore's name.
    ///   - mode: create, open, or either.
    ///   - permissions: the file mode of a new object (default `0600`).
    ///   - lifetime: how long a new object's name lives (default ``SharedMemory/Lifetime/persistent``;
    ///     an existing object keeps the lifetime it was created with).
    ///   - owners: the owners of an existing object this open accepts (default: only the
    ///     current user; see ``SharedMemory/OwnerPolicy``).
    ///   - timeout: how long to wait for an object another process is still initialising.
    ///   - initialValue: the count of a newly created semaphore (ignored when opening).
    /// - Throws: ``SharedMemoryError``, including ``SharedMemoryError/invalidSize(_:reason:)``
    ///   for an initial value outside `0...maximumValue`.
    public init(
        named name: String, initialValue: Int = 0, mode: SharedMemory.OpenMode = .openOrCreate,
        permissions: FilePermissions = [.ownerRead, .ownerWrite],
        lifetime: SharedMemory.Lifetime = .persistent, owners: SharedMemory.OwnerPolicy = .currentUser,
        timeout: Duration = .seconds(5)
    ) throws(SharedMemoryError) {
        let segment = try SharedMemory.namedObject(
            name, kind: .semaphore, payloadSize: ProcessSemaphore.storageSize, mode: mode,
            permissions: permissions, lifetime: lifetime, owners: owners, timeout: timeout,
            initialize: { (address) throws(SharedMemoryError) in
                try ProcessSemaphore.unsafeInitializeStorage(at: address, initialValue: initialValue)
            })
        self.init(segment: segment, address: segment.bytes.baseAddress!)
    }

    /// Attaches to a semaphore placed at `offset` of `segment`'s payload.
    /// - Throws: ``SharedMemoryError/invalidPlacement(offset:size:reason:)``.
    public init(in segment: SharedMemory, at offset: Int) throws(SharedMemoryError) {
        let address = try segment.address(
            at: offset, size: ProcessSemaphore.storageSize, alignment: ProcessSemaphore.storageAlignment)
        self.init(segment: segment, address: address)
    }

    private init(segment: SharedMemory, address: UnsafeMutableRawPointer) {
        self.segment = segment
        self.gate = WaiterGatedWake(at: address)
    }

    /// Initialises the storage of a semaphore at `offset` of `payload`: call it exactly once per
    /// semaphore, before any process uses it — typically in the creator's initializer of
    /// ``SharedMemory/init(named:mode:size:permissions:lifetime:owners:timeout:removeOnDeinit:initializer:)``,
    /// which runs before the segment is visible to anyone else; then attach with ``init(in:at:)``.
    ///
    /// - Parameters:
    ///   - payload: the segment's payload (the initializer's argument).
    ///   - offset: where the semaphore goes: ``storageSize`` bytes, a multiple of ``storageAlignment``.
    ///   - initialValue: the units available at first, from 0 to ``maximumValue``.
    /// - Throws: ``SharedMemoryError/invalidPlacement(offset:size:reason:)`` if the storage does not
    ///   fit at `offset` or `offset` is misaligned; the other errors of the raw initialisation.
    public static func initializeStorage(
        in payload: UnsafeMutableRawBufferPointer, at offset: Int, initialValue: Int
    ) throws(SharedMemoryError) {
        let address = try SharedMemory.address(in: payload, at: offset, size: storageSize, alignment: storageAlignment)
        try unsafeInitializeStorage(at: address, initialValue: initialValue)
    }

    /// Initialises semaphore storage at `address` with `initialValue` units.
    /// - Throws: ``SharedMemoryError/invalidPlacement(offset:size:reason:)`` or
    ///   ``SharedMemoryError/invalidSize(_:reason:)``.
    ///
    /// - Precondition: `address` is the start of ``storageSize`` bytes of mapped memory that no
    ///   process uses yet (misalignment is still reported as an error).
    package static func unsafeInitializeStorage(at address: UnsafeMutableRawPointer, initialValue: Int)
        throws(SharedMemoryError)
    {
        guard Int(bitPattern: address) % storageAlignment == 0 else {
            throw .invalidPlacement(
                offset: 0, size: storageSize, reason: "a semaphore needs \(storageAlignment)-byte alignment")
        }
        guard (0...maximumValue).contains(initialValue) else {
            throw .invalidSize(initialValue, reason: "a semaphore's value is in 0...\(maximumValue)")
        }
        address.initializeMemory(as: UInt8.self, repeating: 0, count: storageSize)
        address.storeBytes(of: UInt32(initialValue), as: UInt32.self)
    }

    /// The current count (a snapshot; it may change at once).
    public var value: Int {
        // Relaxed: a diagnostic snapshot that orders nothing.
        Int(count.atomic.pointee.load(ordering: .relaxed))
    }

    /// Takes one unit, waiting at most `timeout` for one to become available.
    ///
    /// Returns within `timeout` plus scheduling latency, however busy the semaphore is.
    /// - Returns: `true` if a unit was taken, `false` if the deadline passed.
    public func wait(timeout: Duration? = nil) -> Bool {
        wait(deadline: Deadline(timeout: timeout))
    }

    func wait(deadline: Deadline) -> Bool {
        while true {
            if tryWait() { return true }
            // Announce, then re-check (the gate's protocol): either we see `signal`'s unit, or
            // it sees us and wakes us.
            let result = gate.sleep(until: deadline) {
                // Relaxed: only decides whether to sleep; `tryWait` takes the unit.
                count.atomic.pointee.load(ordering: .relaxed) != 0
            }
            // Also after a wake-up or a changed count: while other threads keep taking every
            // unit, the futex wait never reaches its deadline (a changed word returns at once,
            // deadline or not), and only this check ends the wait on time.
            if result == .timedOut || deadline.hasPassed { return tryWait() }
        }
    }

    /// Wakes every sleeping waiter without giving a unit (they re-check and sleep again);
    /// used to end offloaded waits on cancellation.
    func wakeAllWaiters() { count.wakeAll() }

    /// Takes one unit if one is available, without waiting.
    /// - Returns: whether a unit was taken.
    public func tryWait() -> Bool {
        // Relaxed first read: the compare-and-swap below is what synchronises.
        var current = count.atomic.pointee.load(ordering: .relaxed)
        while current > 0 {
            // SYNC POINT: acquiring, pairs with the releasing increment in `signal`, so what the
            // signaller wrote before signalling is visible to the taker.
            let (exchanged, original) = count.atomic.pointee.weakCompareExchange(
                expected: current, desired: current - 1, successOrdering: .acquiring, failureOrdering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Returns one unit and wakes one waiter, if any.
    ///
    /// - Throws: ``ProcessSemaphoreError/overflow`` if the count is already ``maximumValue``.
    public func signal() throws(ProcessSemaphoreError) {
        // Relaxed first read: the compare-and-swap below is what synchronises.
        var current = count.atomic.pointee.load(ordering: .relaxed)
        while true {
            guard current < UInt32(ProcessSemaphore.maximumValue) else { throw .overflow }
            // SYNC POINT: releasing; pairs with the acquiring exchange in `tryWait`.
            let (exchanged, original) = count.atomic.pointee.weakCompareExchange(
                expected: current, desired: current + 1, successOrdering: .releasing,
                failureOrdering: .relaxed)
            if exchanged { break }
            current = original
        }
        gate.wakeAfterChange(count: 1)
    }
}
