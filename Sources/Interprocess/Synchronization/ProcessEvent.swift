import SystemPackage

/// An event that lives in shared memory: threads of any process wait until it is set.
///
/// A *manual-reset* event stays set, releasing every waiter, until ``reset()``. An *auto-reset*
/// event releases exactly one waiter per ``set()`` and resets itself as that waiter passes.
/// The reset mode is recorded in shared memory when the event is created, so every process
/// agrees on it.
///
/// ## The state words
/// A `WaiterGatedWake` whose word is the state itself, then the mode:
/// - `state` (offset 0), the futex word: 0 not set, 1 set. ``set()`` stores 1; a waiter of a
///   manual event returns when it reads 1; a waiter of an auto event returns when it swaps 1
///   for 0.
/// - `waiters` (offset 4): threads inside the sleeping part of a wait; ``set()`` makes the wake
///   syscall only when it is non-zero. A dead waiter leaves it too high: harmless.
/// - `mode` (offset 8): 0 manual reset, 1 auto reset; written once at initialisation.
public struct ProcessEvent: @unchecked Sendable {
    /// The bytes an event occupies in shared memory.
    public static let storageSize = 64
    /// The alignment an event needs.
    public static let storageAlignment = 8

    /// How the event returns to "not set".
    public enum ResetMode: UInt32, Sendable, Hashable {
        /// Stays set until ``ProcessEvent/reset()``; releases every waiter.
        case manual = 0
        /// Releases one waiter per ``ProcessEvent/set()`` and resets as it does.
        case automatic = 1
    }

    /// The state (offset 0) and the waiter count (offset 4).
    let gate: WaiterGatedWake
    var state: FutexWord { gate.word }
    /// The event's reset mode.
    public let resetMode: ResetMode
    /// The segment that keeps the event mapped.
    public let segment: SharedMemory

    /// Creates or opens the event named `name`.
    ///
    /// - Parameters:
    ///   - name: the event's name.
    ///   - mode: create, open, or either.
    ///   - permissions: the file mode of a new object (default `0600`).
    ///   - lifetime: how long a new object's name lives (default ``SharedMemory/Lifetime/persistent``;
    ///     an existing object keeps the lifetime it was created with).
    ///   - owners: the owners of an existing object this open accepts (default: only the
    ///     current user; see ``SharedMemory/OwnerPolicy``).
    ///   - timeout: how long to wait for an object another process is still initialising.
    ///   - resetMode: the mode of a newly created event. When opening, the recorded mode
    ///     must equal it, or the open fails with ``SharedMemoryError/Mismatch/configuration(_:)``;
    ///     `nil` accepts the recorded mode.
    ///   - initiallySet: whether a newly created event starts set.
    /// - Throws: ``SharedMemoryError``.
    public init(
        named name: String, resetMode: ResetMode? = .manual, initiallySet: Bool = false,
        mode: SharedMemory.OpenMode = .openOrCreate, permissions: FilePermissions = [.ownerRead, .ownerWrite],
        lifetime: SharedMemory.Lifetime = .persistent, owners: SharedMemory.OwnerPolicy = .currentUser,
        timeout: Duration = .seconds(5)
    ) throws(SharedMemoryError) {
        let createMode = resetMode ?? .manual
        let segment = try SharedMemory.namedObject(
            name, kind: .event, payloadSize: ProcessEvent.storageSize, mode: mode, permissions: permissions,
            lifetime: lifetime, owners: owners,
            timeout: timeout,
            initialize: { (address) throws(SharedMemoryError) in
                try ProcessEvent.unsafeInitializeStorage(at: address, resetMode: createMode, initiallySet: initiallySet)
            })
        try self.init(segment: segment, address: segment.bytes.baseAddress!, name: name)
        if let resetMode, resetMode != self.resetMode {
            throw .mismatch(name: name, .configuration("reset mode \(self.resetMode), not \(resetMode)"))
        }
    }

    /// Attaches to an event placed at `offset` of `segment`'s payload.
    /// - Throws: ``SharedMemoryError/invalidPlacement(offset:size:reason:)``, or
    ///   ``SharedMemoryError/corruptContents(name:detail:)`` if the storage holds no valid mode.
    public init(in segment: SharedMemory, at offset: Int) throws(SharedMemoryError) {
        let address = try segment.address(
            at: offset, size: ProcessEvent.storageSize, alignment: ProcessEvent.storageAlignment)
        try self.init(segment: segment, address: address, name: segment.name?.rawValue ?? "<anonymous>")
    }

    private init(segment: SharedMemory, address: UnsafeMutableRawPointer, name: String) throws(SharedMemoryError) {
        self.segment = segment
        self.gate = WaiterGatedWake(at: address)
        // Untrusted: another process wrote it.
        let raw = address.load(fromByteOffset: 8, as: UInt32.self)
        guard let mode = ResetMode(rawValue: raw) else {
            throw .corruptContents(name: name, detail: "event reset mode \(raw)")
        }
        self.resetMode = mode
    }

    /// Initialises the storage of a event at `offset` of `payload`: call it exactly once per
    /// event, before any process uses it — typically in the creator's initializer of
    /// ``SharedMemory/init(named:mode:size:permissions:lifetime:owners:timeout:removeOnDeinit:initializer:)``,
    /// which runs before the segment is visible to anyone else; then attach with ``init(in:at:)``.
    ///
    /// - Parameters:
    ///   - payload: the segment's payload (the initializer's argument).
    ///   - offset: where the event goes: ``storageSize`` bytes, a multiple of ``storageAlignment``.
    ///   - resetMode: whether the event stays set (``ResetMode/manual``) or resets as it releases a
    ///     waiter (``ResetMode/automatic``).
    ///   - initiallySet: whether the event starts set.
    /// - Throws: ``SharedMemoryError/invalidPlacement(offset:size:reason:)`` if the storage does not
    ///   fit at `offset` or `offset` is misaligned; the other errors of the raw initialisation.
    public static func initializeStorage(
        in payload: UnsafeMutableRawBufferPointer, at offset: Int, resetMode: ResetMode, initiallySet: Bool = false
    ) throws(SharedMemoryError) {
        let address = try SharedMemory.address(in: payload, at: offset, size: storageSize, alignment: storageAlignment)
        try unsafeInitializeStorage(at: address, resetMode: resetMode, initiallySet: initiallySet)
    }

    /// Initialises event storage at `address`.
    /// - Throws: ``SharedMemoryError/invalidPlacement(offset:size:reason:)`` when misaligned.
    ///
    /// - Precondition: `address` is the start of ``storageSize`` bytes of mapped memory that no
    ///   process uses yet (misalignment is still reported as an error).
    package static func unsafeInitializeStorage(
        at address: UnsafeMutableRawPointer, resetMode: ResetMode, initiallySet: Bool = false
    ) throws(SharedMemoryError) {
        guard Int(bitPattern: address) % storageAlignment == 0 else {
            throw .invalidPlacement(
                offset: 0, size: storageSize, reason: "an event needs \(storageAlignment)-byte alignment")
        }
        address.initializeMemory(as: UInt8.self, repeating: 0, count: storageSize)
        address.storeBytes(of: initiallySet ? 1 : 0, as: UInt32.self)
        address.storeBytes(of: resetMode.rawValue, toByteOffset: 8, as: UInt32.self)
    }

    /// Whether the event is set (a snapshot).
    public var isSet: Bool {
        // Acquiring: a caller that sees "set" may read what the setter wrote before setting.
        state.atomic.pointee.load(ordering: .acquiring) == 1
    }

    /// Sets the event, releasing all waiters (manual reset) or one waiter (auto reset).
    public func set() {
        // SYNC POINT: releasing; pairs with the acquiring load or exchange of the waiters,
        // which then see what we wrote before.
        state.atomic.pointee.store(1, ordering: .releasing)
        gate.wakeAfterChange(count: resetMode == .manual ? Int32.max : 1)
    }

    /// Returns the event to "not set".
    public func reset() {
        // Relaxed: resetting publishes nothing.
        state.atomic.pointee.store(0, ordering: .relaxed)
    }

    /// Waits until the event is set (and, for an auto-reset event, consumes the set).
    ///
    /// Returns within `timeout` plus scheduling latency, however often the event changes.
    ///
    /// - Returns: `true` if the event was set, `false` if the deadline passed.
    public func wait(timeout: Duration? = nil) -> Bool {
        wait(deadline: Deadline(timeout: timeout))
    }

    func wait(deadline: Deadline) -> Bool {
        while true {
            if tryWait() { return true }
            // Announce, then re-check (the gate's protocol). Any value but 1 (set) sleeps: a
            // state word overwritten with garbage reads as "not set" until someone sets the
            // event, and the wait sleeps on the garbage value instead of returning at once.
            let result = gate.sleep(until: deadline) {
                // Relaxed: only decides whether to sleep; `tryWait` decides the outcome.
                state.atomic.pointee.load(ordering: .relaxed) == 1
            }
            // Also after a wake-up or a changed word: a word that keeps changing (an auto-reset
            // event set and consumed by others, or a hostile writer) makes every futex wait
            // return at once, deadline or not; only this check ends the wait on time.
            if result == .timedOut || deadline.hasPassed { return tryWait() }
        }
    }

    /// Wakes every sleeping waiter without setting the event (they re-check and sleep again);
    /// used to end offloaded waits on cancellation.
    func wakeAllWaiters() { state.wakeAll() }

    /// Returns whether the event is set, without waiting (consuming it if auto-reset).
    public func tryWait() -> Bool {
        switch resetMode {
        case .manual:
            return isSet
        case .automatic:
            // SYNC POINT: acquiring; pairs with `set`'s store.
            return state.atomic.pointee.compareExchange(
                expected: 1, desired: 0, successOrdering: .acquiring, failureOrdering: .relaxed
            ).exchanged
        }
    }
}
