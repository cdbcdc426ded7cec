import SystemPackage

/// Reads the keys of a blackboard: the latest value of each, consistent, without taking a lock.
///
/// ```swift
/// let reader = try BlackboardReader(named: "vehicle")
/// if let speed = try reader.value(forKey: "speed", as: Double.self) { print(speed) }
///
/// let heading = try reader.key("heading", as: Float.self)   // checked once
/// if let current = try reader.read(heading) {
///     _ = try reader.waitForChange(of: heading, since: current.version, timeout: .seconds(1))
/// }
/// ```
///
/// A read never waits on the writer and never returns a torn value, whatever the writer does,
/// dying in the middle of a write included (see <doc:Blackboard>). A key asked for with a type
/// other than its declared one is ``BlackboardError/typeMismatch(key:expected:found:)``, never a
/// reinterpretation.
///
/// The reader keeps a cache from key names to slots, refreshed when it meets a name it does not
/// know, so a lookup by name costs one dictionary lookup; a ``BlackboardKey`` costs none. The
/// cache makes the reader a class to use from one isolation domain at a time (it is not
/// `Sendable`); open one reader per thread or task that reads.
///
/// A process that may only read the blackboard's file (a blackboard created with mode `0644`
/// by another user, say) opens it with `access: .readOnly`; such a reader reads, lists and waits
/// like any other, waits by polling, and is not counted as a user (see <doc:Blackboard>,
/// "Read-only readers").
public final class BlackboardReader {
    @usableFromInline let storage: BlackboardStorage

    /// Where a known key's value lives, and the Swift type last checked against its entry:
    /// trivial, so a lookup copies no string.
    struct Resolved {
        let entry: Int
        let slot: Int
        var checkedType: ObjectIdentifier?
    }
    /// The entries known, in directory order, and each name's resolution.
    struct Cache {
        var entries: [BlackboardStorage.Entry] = []
        var index: [String: Resolved] = [:]
    }
    /// Behind a pointer, not in stored `var`s: the reader is used from one isolation domain at a
    /// time, and a class's stored `var` would cost a dynamic exclusivity check on every lookup.
    let cache: UnsafeMutablePointer<Cache>

    /// The blackboard's configuration.
    public var configuration: BlackboardConfiguration { storage.layout.configuration }
    /// The blackboard's segment.
    public var segment: SharedMemory { storage.segment }
    /// Whether a live writer holds the writer role now (a snapshot). A lock query, which a
    /// read-only reader can make too.
    public var hasWriter: Bool { storage.hasWriter }
    /// How this reader opened the blackboard (``SharedMemory/Access/readWrite`` unless asked).
    public var access: SharedMemory.Access { storage.segment.access }

    /// Opens the existing blackboard `name` for reading.
    ///
    /// The default, ``SharedMemory/Access/readWrite``, opens the file for reading and writing
    /// although the reader writes no value: that is what lets its waits announce themselves
    /// (so the writer wakes them at once) and its presence count as a user of the blackboard.
    /// It needs write permission on the file, else it fails with
    /// ``SharedMemoryError/permissionDenied(name:)``. ``SharedMemory/Access/readOnly`` needs read
    /// permission only: the file opened `O_RDONLY` and mapped `PROT_READ`, validated the same
    /// way; every read, key listing and writer check works as usual, a wait notices a change
    /// up to 8 ms late (it polls), and the reader is not counted as a user. A
    /// read-write open never falls back to read-only by itself: what the reader gives up is
    /// then explicit where it is opened.
    ///
    /// - Parameters:
    ///   - name: the blackboard's name.
    ///   - access: read-write (the default) or read-only, as above.
    ///   - owners: the owners of the blackboard this open accepts (default: only the current
    ///     user; a reader of another user's blackboard names that user, for example
    ///     `.trusting(userIDs: [0])`).
    ///   - timeout: how long to wait for a blackboard another process is still initialising.
    /// - Throws: ``BlackboardError``; ``BlackboardError/segment(_:)`` with
    ///   ``SharedMemoryError/notFound(name:)`` when there is no such blackboard, with
    ///   ``SharedMemoryError/permissionDenied(name:)`` when the file's mode does not allow `access`.
    public init(
        named name: String, access: SharedMemory.Access = .readWrite, owners: SharedMemory.OwnerPolicy = .currentUser,
        timeout: Duration = .seconds(5)
    ) throws(BlackboardError) {
        storage = try BlackboardStorage(
            name: name, configuration: nil, mode: .open, permissions: [], lifetime: .persistent, owners: owners,
            timeout: timeout, access: access)
        cache = .allocate(capacity: 1)
        cache.initialize(to: Cache())
    }

    deinit {
        cache.deinitialize(count: 1)
        cache.deallocate()
    }

    // MARK: - Keys

    /// Reads the directory entries published since the last refresh into the cache; returns the
    /// number of keys.
    @discardableResult
    func refresh() throws(BlackboardError) -> Int {
        let count = try storage.publishedKeyCount()
        while cache.pointee.entries.count < count {
            let entry = try storage.entry(at: cache.pointee.entries.count)
            // The writer never publishes a name twice; a hostile one that does is ignored here
            // (the first entry keeps the name).
            if cache.pointee.index[entry.name] == nil {
                cache.pointee.index[entry.name] = Resolved(
                    entry: cache.pointee.entries.count, slot: entry.slot, checkedType: nil)
            }
            cache.pointee.entries.append(entry)
        }
        return count
    }

    /// The slot of `name` after checking that its values are `type`s.
    @usableFromInline
    func slot(of name: String, type: ObjectIdentifier, elementType: () -> ElementType) throws(BlackboardError) -> Int {
        if let known = cache.pointee.index[name] {
            if known.checkedType == type { return known.slot }
        } else {
            try refresh()
        }
        guard let known = cache.pointee.index[name] else { throw .keyNotFound(name) }
        let expected = elementType()
        let found = cache.pointee.entries[known.entry].type
        guard found == expected else { throw .typeMismatch(key: name, expected: expected, found: found) }
        cache.pointee.index[name]?.checkedType = type
        return known.slot
    }

    /// The blackboard's keys, with their types and the versions of their values.
    /// - Throws: ``BlackboardError/corrupt(_:)`` for a directory entry out of bounds.
    public func keys() throws(BlackboardError) -> [BlackboardKeyInfo] {
        try refresh()
        return cache.pointee.entries.map {
            BlackboardKeyInfo(name: $0.name, valueType: $0.type, version: storage.currentVersion($0.slot))
        }
    }

    /// A handle on the key `name`, whose values must be `Value`s.
    /// - Throws: ``BlackboardError/keyNotFound(_:)``, ``BlackboardError/typeMismatch(key:expected:found:)``.
    public func key<Value: BitwiseCopyable>(_ name: String, as _: Value.Type = Value.self) throws(BlackboardError)
        -> BlackboardKey<Value>
    {
        let slot = try slot(of: name, type: ObjectIdentifier(Value.self)) { ElementType(Value.self) }
        return BlackboardKey(name: name, slot: slot, token: storage.token)
    }

    /// Waits until the writer has added the key `name` (or `timeout` passes) and returns a
    /// handle on it; `nil` at the timeout.
    /// - Throws: ``BlackboardError/typeMismatch(key:expected:found:)`` if the key has another type.
    public func waitForKey<Value: BitwiseCopyable>(
        _ name: String, as _: Value.Type = Value.self, timeout: Duration? = nil
    ) throws(BlackboardError) -> BlackboardKey<Value>? {
        let deadline = Deadline(timeout: timeout)
        while true {
            do { return try key(name, as: Value.self) } catch .keyNotFound {}
            guard try storage.waitForKeys(beyond: cache.pointee.entries.count, deadline: deadline) else { return nil }
        }
    }

    // MARK: - Reading

    /// The value of `key` and its version, or `nil` if the key has no value yet.
    /// - Throws: ``BlackboardError/valueUnstable(key:attempts:)``, ``BlackboardError/corrupt(_:)``,
    ///   ``BlackboardError/foreignKey(_:)``.
    @inlinable
    public func read<Value: BitwiseCopyable>(_ key: BlackboardKey<Value>) throws(BlackboardError)
        -> BlackboardValue<Value>?
    {
        // Inlinable so the copy specialises for `Value` in the caller.
        guard key.token == storage.token else { throw .foreignKey(key.name) }
        return try read(slot: key.slot, name: key.name, as: Value.self)
    }

    /// The value of `key`, or `nil` if the key has no value yet.
    /// - Throws: the errors of ``read(_:)``.
    @inlinable
    public func value<Value: BitwiseCopyable>(_ key: BlackboardKey<Value>) throws(BlackboardError) -> Value? {
        try read(key)?.value
    }

    /// The value of the key `name`, which must hold `Value`s, or `nil` if it has no value yet.
    /// - Throws: ``BlackboardError/keyNotFound(_:)``, ``BlackboardError/typeMismatch(key:expected:found:)``,
    ///   and the errors of ``read(_:)``.
    @inlinable
    public func value<Value: BitwiseCopyable>(forKey name: String, as _: Value.Type = Value.self)
        throws(BlackboardError) -> Value?
    {
        try read(forKey: name, as: Value.self)?.value
    }

    /// The value of the key `name` with its version, or `nil` if it has no value yet.
    /// - Throws: the errors of ``value(forKey:as:)``.
    @inlinable
    public func read<Value: BitwiseCopyable>(forKey name: String, as _: Value.Type = Value.self)
        throws(BlackboardError) -> BlackboardValue<Value>?
    {
        let slot = try slot(of: name, type: ObjectIdentifier(Value.self)) { ElementType(Value.self) }
        return try read(slot: slot, name: name, as: Value.self)
    }

    @inlinable
    func read<Value: BitwiseCopyable>(slot: Int, name: String, as _: Value.Type) throws(BlackboardError)
        -> BlackboardValue<Value>?
    {
        // The bytes land in scratch space and become a `Value` only once the read is known to be
        // consistent. One attempt inline; the bounded retries and the diagnosis out of line.
        let fast: BlackboardValue<Value>? = withUnsafeTemporaryAllocation(of: Value.self, capacity: 1) { buffer in
            let version = storage.tryRead(
                slot: slot, size: MemoryLayout<Value>.size, into: UnsafeMutableRawPointer(buffer.baseAddress!))
            return version == 0 ? nil : BlackboardValue(value: buffer[0], version: version)
        }
        if let fast { return fast }
        return try readRetrying(slot: slot, name: name, as: Value.self)
    }

    @usableFromInline
    func readRetrying<Value: BitwiseCopyable>(slot: Int, name: String, as _: Value.Type) throws(BlackboardError)
        -> BlackboardValue<Value>?
    {
        let result: Result<BlackboardValue<Value>?, BlackboardError> = withUnsafeTemporaryAllocation(
            of: Value.self, capacity: 1
        ) { buffer in
            do throws(BlackboardError) {
                let version = try storage.read(
                    slot: slot, size: MemoryLayout<Value>.size, into: UnsafeMutableRawPointer(buffer.baseAddress!),
                    key: name)
                return .success(version == 0 ? nil : BlackboardValue(value: buffer[0], version: version))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// The version of `key`'s value now (0: none yet).
    /// - Throws: ``BlackboardError/foreignKey(_:)``.
    public func version<Value>(of key: BlackboardKey<Value>) throws(BlackboardError) -> UInt64 {
        guard key.token == storage.token else { throw .foreignKey(key.name) }
        return storage.currentVersion(key.slot)
    }

    // MARK: - Waiting for a change

    /// Waits until `key`'s version differs from `version` (the last one seen), without
    /// spinning; returns the new version, or `nil` if `timeout` (measured on the monotonic
    /// clock) passes first.
    ///
    /// Returns at once if the version differs already. Read the value afterwards with
    /// ``read(_:)``; several writes may have happened meanwhile, and the read returns the latest.
    /// A read-only reader polls instead, in sleeps of 1 to 8 ms (see <doc:Blackboard>,
    /// "Read-only readers").
    /// - Throws: ``BlackboardError/foreignKey(_:)``, ``BlackboardError/segment(_:)`` when the
    ///   segment is damaged.
    public func waitForChange<Value>(of key: BlackboardKey<Value>, since version: UInt64, timeout: Duration? = nil)
        throws(BlackboardError) -> UInt64?
    {
        guard key.token == storage.token else { throw .foreignKey(key.name) }
        return try storage.waitForChange(slot: key.slot, since: version, deadline: Deadline(timeout: timeout))
    }

    // MARK: - For a wait set

    /// The wake word the writer bumps after writing `key` while someone sleeps on it: what a wait
    /// set attaches to wait on the key. A read-only reader's word must not be announced on (the
    /// announcement is a store into a `PROT_READ` mapping): see ``changePollInterval``.
    package func changeWake<Value>(of key: BlackboardKey<Value>) throws(BlackboardError) -> WaiterGatedWake {
        guard key.token == storage.token else { throw .foreignKey(key.name) }
        return storage.change(key.slot)
    }

    /// How long a waiter that must poll a read-only reader's key (it may not announce itself
    /// on ``changeWake(of:)``) sleeps before it re-checks ``hasChanged(_:since:)``, once the key
    /// has stayed unchanged for `unchanged`: the reader's own waits' rule, 1 to 8 ms.
    package static func readOnlyPollInterval(afterWaiting unchanged: Duration) -> Duration {
        BlackboardStorage.readOnlyPollInterval(afterWaiting: unchanged)
    }

    /// Whether `key`'s version differs from `version` (the wait set's readiness check; an
    /// acquiring load, no syscall).
    package func hasChanged<Value>(_ key: BlackboardKey<Value>, since version: UInt64) -> Bool {
        key.token == storage.token && storage.currentVersion(key.slot) != version
    }
}
