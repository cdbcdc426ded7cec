import Synchronization
import SystemPackage

/// Writes the keys of a blackboard: adds keys at runtime (up to the key capacity) and publishes
/// their values for any number of readers in any processes.
///
/// ```swift
/// var writer = try BlackboardWriter(
///     named: "vehicle", configuration: BlackboardConfiguration(keyCapacity: 32))
/// let speed = try writer.addKey("speed", as: Double.self, initialValue: 0)
/// try writer.write(12.5, to: speed)
/// try writer.write(Float(90), forKey: "heading")   // a key added earlier as Float
/// ```
///
/// A blackboard has one writer at a time: the writer role is a kernel lock the writer holds
/// while it is open, so a writer that dies (killed, crashed) frees it at once and the next
/// writer takes over where it left off, with every key and value. It is `~Copyable` because it
/// owns that role, and `Sendable`: move it to the thread that writes.
///
/// A write never blocks and never waits for readers; see <doc:Blackboard> for what readers see
/// when a writer dies mid-write (the previous value, never part of the new one).
public struct BlackboardWriter: ~Copyable, Sendable {
    @usableFromInline let core: BlackboardWriterCore

    /// The blackboard's configuration.
    public var configuration: BlackboardConfiguration { core.storage.layout.configuration }
    /// The blackboard's segment.
    public var segment: SharedMemory { core.storage.segment }

    /// Opens (or creates) the blackboard `name` and takes its writer role.
    ///
    /// - Parameters:
    ///   - name: the blackboard's name.
    ///   - configuration: required to create; checked when opening (`nil` accepts the existing
    ///     blackboard's).
    ///   - mode: create, open, or either.
    ///   - permissions: the file mode of a new blackboard (default `0600`).
    ///   - lifetime: how long a new blackboard's name lives (default ``SharedMemory/Lifetime/persistent``).
    ///   - owners: the owners of an existing blackboard this open accepts (default: only the
    ///     current user).
    ///   - timeout: how long to wait for a blackboard another process is still initialising.
    /// - Throws: ``BlackboardError``; ``BlackboardError/writerActive`` when a live writer holds
    ///   the role.
    public init(
        named name: String, configuration: BlackboardConfiguration? = nil, mode: SharedMemory.OpenMode = .openOrCreate,
        permissions: FilePermissions = [.ownerRead, .ownerWrite], lifetime: SharedMemory.Lifetime = .persistent,
        owners: SharedMemory.OwnerPolicy = .currentUser, timeout: Duration = .seconds(5)
    ) throws(BlackboardError) {
        let storage = try BlackboardStorage(
            name: name, configuration: configuration, mode: mode, permissions: permissions, lifetime: lifetime,
            owners: owners, timeout: timeout)
        core = try BlackboardWriterCore(storage: storage)
    }

    /// The blackboard's keys, with their types and the versions of their values.
    public var keys: [BlackboardKeyInfo] {
        core.entries.map {
            BlackboardKeyInfo(name: $0.name, valueType: $0.type, version: core.storage.currentVersion($0.slot))
        }
    }

    /// Adds the key `name` for values of type `Value`, or returns the existing key of that name
    /// and type (a writer that takes over re-adds its keys this way).
    ///
    /// - Parameters:
    ///   - name: 1 to 48 bytes of ASCII letters, digits and `._-:/`.
    ///   - type: the type of the key's values.
    ///   - initialValue: the key's first value, written only if the key is new; without one,
    ///     readers read `nil` until the first write.
    /// - Throws: ``BlackboardError/typeMismatch(key:expected:found:)`` for an existing key of
    ///   another type, ``BlackboardError/invalidKeyName(_:reason:)``,
    ///   ``BlackboardError/keyCapacityReached(maximum:)``,
    ///   ``BlackboardError/valueSpaceExhausted(needed:available:)``,
    ///   ``BlackboardError/unsupportedValueType(_:reason:)``.
    @discardableResult
    public mutating func addKey<Value: BitwiseCopyable>(
        _ name: String, as type: Value.Type = Value.self, initialValue: Value? = nil
    ) throws(BlackboardError) -> BlackboardKey<Value> {
        let elementType = ElementType(type)
        let slot: Int
        if let initialValue {
            slot = try withUnsafeBytes(of: initialValue) { (bytes) throws(BlackboardError) in
                try core.add(name, type: elementType, initialValue: bytes.baseAddress!)
            }
        } else {
            slot = try core.add(name, type: elementType, initialValue: nil)
        }
        return BlackboardKey(name: name, slot: slot, token: core.storage.token)
    }

    /// A handle on the existing key `name`, whose values must be `Value`s.
    /// - Throws: ``BlackboardError/keyNotFound(_:)``, ``BlackboardError/typeMismatch(key:expected:found:)``.
    public func key<Value: BitwiseCopyable>(_ name: String, as _: Value.Type = Value.self) throws(BlackboardError)
        -> BlackboardKey<Value>
    {
        let slot = try core.slot(of: name, type: ObjectIdentifier(Value.self)) { ElementType(Value.self) }
        return BlackboardKey(name: name, slot: slot, token: core.storage.token)
    }

    /// Publishes `value` as `key`'s new value and wakes its waiting readers; returns its version.
    ///
    /// Never blocks. Readers see either the previous value or this one, whole.
    /// - Throws: ``BlackboardError/foreignKey(_:)``.
    @inlinable @discardableResult
    public mutating func write<Value: BitwiseCopyable>(_ value: Value, to key: BlackboardKey<Value>)
        throws(BlackboardError) -> UInt64
    {
        // Inlinable so the copy specialises for `Value` in the caller.
        guard key.token == core.storage.token else { throw .foreignKey(key.name) }
        return core.write(value, slot: key.slot)
    }

    /// Publishes `value` as the new value of the key `name`, which must hold `Value`s; returns
    /// its version.
    /// - Throws: ``BlackboardError/keyNotFound(_:)``, ``BlackboardError/typeMismatch(key:expected:found:)``.
    @inlinable @discardableResult
    public mutating func write<Value: BitwiseCopyable>(_ value: Value, forKey name: String) throws(BlackboardError)
        -> UInt64
    {
        let slot = try core.slot(of: name, type: ObjectIdentifier(Value.self)) { ElementType(Value.self) }
        return core.write(value, slot: slot)
    }

    /// Gives up the writer role (as releasing the writer does); the values stay.
    public consuming func close() {}
}

/// The writer's state: its storage, the role it holds, and the directory as it wrote it (or
/// found it when it took over).
@usableFromInline
final class BlackboardWriterCore: @unchecked Sendable {
    // @unchecked Sendable: owned by one ~Copyable writer, used by one thread at a time.
    @usableFromInline let storage: BlackboardStorage
    var entries: [BlackboardStorage.Entry] = []
    var index: [String: Int] = [:]
    /// The Swift type last checked against each entry.
    var checkedTypes: [ObjectIdentifier?] = []
    /// The end of the last slot, from the value area's start.
    var used = 0

    init(storage: BlackboardStorage) throws(BlackboardError) {
        self.storage = storage
        let attempt: ObjectLocks.Attempt
        do { attempt = try storage.segment.tryLockByte(BlackboardLayout.writerLockByte) } catch {
            throw .segment(error)
        }
        switch attempt {
        case .taken: break
        case .heldByWriter: throw .writerActive
        case .blockedByReader: throw .segment(.lockInterference(name: storage.segment.displayName))
        }
        do {
            // Take over what the previous writers published; an entry they were adding when
            // they died is not covered by the count and is overwritten by the next add.
            let count = try storage.publishedKeyCount()
            for i in 0..<count {
                let entry = try storage.entry(at: i)
                if index[entry.name] == nil { index[entry.name] = entries.count }
                entries.append(entry)
                checkedTypes.append(nil)
                used = max(
                    used,
                    entry.slot - storage.layout.valueArea + BlackboardLayout.slotSize(valueSize: entry.type.size))
            }
        } catch {
            storage.segment.unlockByte(BlackboardLayout.writerLockByte)
            throw error
        }
        // Relaxed: display only.
        storage.atomic(BlackboardLayout.writerGeneration, UInt64.self).pointee.wrappingAdd(1, ordering: .relaxed)
    }

    deinit { storage.segment.unlockByte(BlackboardLayout.writerLockByte) }

    @usableFromInline
    func slot(of name: String, type: ObjectIdentifier, elementType: () -> ElementType) throws(BlackboardError) -> Int {
        guard let i = index[name] else { throw .keyNotFound(name) }
        if checkedTypes[i] == type { return entries[i].slot }
        let expected = elementType()
        guard entries[i].type == expected else {
            throw .typeMismatch(key: name, expected: expected, found: entries[i].type)
        }
        checkedTypes[i] = type
        return entries[i].slot
    }

    @inlinable
    func write<Value: BitwiseCopyable>(_ value: Value, slot: Int) -> UInt64 {
        withUnsafeBytes(of: value) { bytes in
            storage.write(
                slot: slot, after: published(slot), from: bytes.baseAddress!, size: MemoryLayout<Value>.size)
        }
    }

    /// The version published at `slot`: this writer's own last write, or its predecessor's.
    @usableFromInline
    func published(_ slot: Int) -> UInt64 {
        // Relaxed: only this writer stores it (a hostile store changes nothing but the version:
        // the next write goes to the buffer the stored version does not name).
        storage.version(slot).pointee.load(ordering: .relaxed)
    }

    /// Adds (or finds) the key; returns its slot.
    func add(_ name: String, type: ElementType, initialValue: UnsafeRawPointer?) throws(BlackboardError) -> Int {
        if let problem = BlackboardStorage.problem(withKeyName: name) { throw .invalidKeyName(name, reason: problem) }
        if let i = index[name] {
            guard entries[i].type == type else {
                throw .typeMismatch(key: name, expected: type, found: entries[i].type)
            }
            return entries[i].slot
        }
        guard type.alignment <= BlackboardLayout.maximumValueAlignment else {
            throw .unsupportedValueType(
                type, reason: "its alignment exceeds \(BlackboardLayout.maximumValueAlignment) bytes")
        }
        let layout = storage.layout
        guard entries.count < layout.keyCapacity else { throw .keyCapacityReached(maximum: layout.keyCapacity) }
        let needed = BlackboardLayout.slotSize(valueSize: type.size)
        guard type.stride <= BlackboardConfiguration.maximumValueSpace, needed <= layout.valueSpace - used else {
            throw .valueSpaceExhausted(needed: needed, available: layout.valueSpace - used)
        }
        let slot = layout.valueArea + used
        let base = storage.base
        // Nobody reads the slot or the entry before the count covers them: plain stores.
        (base + slot).initializeMemory(as: UInt8.self, repeating: 0, count: BlackboardLayout.slotHeaderSize)
        if let initialValue {
            // Version 1 lives in buffer 1.
            (base + slot + BlackboardLayout.slotHeaderSize + BlackboardLayout.bufferSize(valueSize: type.size))
                .copyMemory(from: initialValue, byteCount: type.size)
            (base + slot + BlackboardLayout.slotStamps + 8).storeBytes(of: UInt64(1), as: UInt64.self)
            (base + slot + BlackboardLayout.slotVersion).storeBytes(of: UInt64(1), as: UInt64.self)
        }
        let e = base + layout.entry(entries.count)
        e.initializeMemory(as: UInt8.self, repeating: 0, count: BlackboardLayout.entrySize)
        let nameBytes = Array(name.utf8)
        let typeBytes = Array(type.name.utf8)
        e.storeBytes(of: UInt32(nameBytes.count), toByteOffset: BlackboardLayout.entryNameLength, as: UInt32.self)
        e.storeBytes(of: UInt32(typeBytes.count), toByteOffset: BlackboardLayout.entryTypeNameLength, as: UInt32.self)
        e.storeBytes(of: UInt32(type.size), toByteOffset: BlackboardLayout.entryValueSize, as: UInt32.self)
        e.storeBytes(of: UInt32(type.stride), toByteOffset: BlackboardLayout.entryValueStride, as: UInt32.self)
        e.storeBytes(of: UInt32(type.alignment), toByteOffset: BlackboardLayout.entryValueAlignment, as: UInt32.self)
        e.storeBytes(of: UInt64(used), toByteOffset: BlackboardLayout.entrySlotOffset, as: UInt64.self)
        nameBytes.withUnsafeBytes {
            (e + BlackboardLayout.entryName).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
        }
        typeBytes.withUnsafeBytes {
            guard let source = $0.baseAddress else { return }
            (e + BlackboardLayout.entryTypeName).copyMemory(from: source, byteCount: $0.count)
        }
        let entry = BlackboardStorage.Entry(name: name, type: type, slot: slot)
        index[name] = entries.count
        entries.append(entry)
        checkedTypes.append(nil)
        used += needed
        // SYNC POINT: releasing; publishes the entry and the slot's initial words; pairs with
        // the readers' acquiring load of the count.
        storage.atomic(BlackboardLayout.keyCount, UInt32.self).pointee.store(
            UInt32(entries.count), ordering: .releasing)
        storage.keysChanged.wake(count: Int32.max)
        return slot
    }
}
