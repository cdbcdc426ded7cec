import Synchronization

/// The role a participant declared when it registered with an object.
public struct ParticipantRole: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// A process that opened the object (every open registers one).
    public static let opener = ParticipantRole(rawValue: 1)
    /// The sending side of a channel.
    public static let sender = ParticipantRole(rawValue: 2)
    /// The receiving side of a channel.
    public static let receiver = ParticipantRole(rawValue: 3)

    public var description: String {
        switch self {
        case .opener: "opener"
        case .sender: "sender"
        case .receiver: "receiver"
        default: "role \(rawValue)"
        }
    }
}

/// One entry of an object's participant table.
public struct Participant: Sendable, Hashable {
    /// The slot in the table.
    public let slot: Int
    /// What the participant registered as.
    public let role: ParticipantRole
    /// The participant's process.
    public let process: ProcessIdentity
    /// When it registered (nanoseconds since the UNIX epoch; display only).
    public let registeredAtNanoseconds: Int64
    /// Whether the participant is still registered by a live process.
    public let isAlive: Bool
}

/// The participant table in bytes 1088..<4096 of every segment header
/// (``HeaderLayout/participantTable``): 47 slots of 64 bytes, after the role and removal lock
/// bytes at 1024..<1088.
///
/// ## Liveness without trusting pids
/// Each slot is paired with one byte of the backing file (the byte at the slot's own offset).
/// A participant holds an exclusive *open file description* lock on that byte for as long as it
/// is registered. The kernel releases OFD locks when the last descriptor of the open file
/// description closes — including when the process is killed — so "the slot's byte is locked"
/// is exactly "its participant is alive", with no pid that could be reused and no PID-namespace
/// confusion. A slot that says "registered" while its byte is unlocked belonged to a process that
/// died without deregistering.
///
/// ## Slot layout (64 bytes, one cache line, written only by its owner)
/// | offset | size | field |
/// |---:|---:|---|
/// | 0 | 4 | state: 0 free, 1 registered (atomic; written last on registration) |
/// | 4 | 4 | role |
/// | 8 | 4 | pid |
/// | 16 | 8 | process start time (ticks after boot) |
/// | 24 | 8 | registration time (ns since the UNIX epoch) |
///
/// ## Claiming a slot
/// A registrant takes the write lock on the slot's byte *first*; only the lock holder writes
/// the slot. A dead participant's slot is therefore reclaimed simply by locking its byte. Locks
/// taken through one open file description do not conflict with each other, so each
/// ``SharedMemory`` remembers which slots it holds itself.
///
/// The table is for *showing* who uses an object. Liveness, cleanup and dead-peer detection
/// count presence locks instead (see `ObjectLocks`), which have no such bound.
struct ParticipantTable {
    static let offset = HeaderLayout.participantTable
    static let slotSize = HeaderLayout.participantSlotSize
    static let slotCount = HeaderLayout.participantSlotCount

    enum SlotOffset {
        static let state = 0, role = 4, pid = 8, startTime = 16, registeredAt = 24
    }

    let base: UnsafeMutableRawPointer  // the mapping's start (the header)

    func slot(_ index: Int) -> UnsafeMutableRawPointer {
        base + ParticipantTable.offset + index * ParticipantTable.slotSize
    }

    func stateWord(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        slot(index).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// The byte of the backing file whose lock stands for slot `index`.
    static func lockByte(_ index: Int) -> Int { offset + index * slotSize }

    /// Fills slot `index` (whose lock the caller holds) and marks it registered.
    func fill(_ index: Int, role: ParticipantRole) {
        let s = slot(index)
        let me = ProcessIdentity.current
        s.storeBytes(of: role.rawValue, toByteOffset: SlotOffset.role, as: UInt32.self)
        s.storeBytes(of: me.pid, toByteOffset: SlotOffset.pid, as: Int32.self)
        s.storeBytes(of: me.startTime, toByteOffset: SlotOffset.startTime, as: UInt64.self)
        s.storeBytes(of: FileSystem.wallClockNanoseconds, toByteOffset: SlotOffset.registeredAt, as: Int64.self)
        // SYNC POINT: releasing; publishes the fields above to readers that load the state with
        // acquiring ordering in `read`.
        stateWord(index).pointee.store(1, ordering: .releasing)
    }

    /// Marks slot `index` free (the caller still holds its lock).
    func clear(_ index: Int) {
        // Relaxed: readers treat a free slot as absent whatever the other fields say.
        stateWord(index).pointee.store(0, ordering: .relaxed)
    }

    /// The registered entries, with liveness decided by `isLocked(index)`.
    func read(isLocked: (Int) -> Bool) -> [Participant] {
        var result: [Participant] = []
        for index in 0..<ParticipantTable.slotCount {
            // SYNC POINT: acquiring; pairs with the releasing store in `fill`.
            guard stateWord(index).pointee.load(ordering: .acquiring) == 1 else { continue }
            let s = slot(index)
            result.append(
                Participant(
                    slot: index,
                    role: ParticipantRole(rawValue: s.load(fromByteOffset: SlotOffset.role, as: UInt32.self)),
                    process: ProcessIdentity(
                        pid: s.load(fromByteOffset: SlotOffset.pid, as: Int32.self),
                        startTime: s.load(fromByteOffset: SlotOffset.startTime, as: UInt64.self)),
                    registeredAtNanoseconds: s.load(fromByteOffset: SlotOffset.registeredAt, as: Int64.self),
                    isAlive: isLocked(index)))
        }
        return result
    }
}

/// A registration with an object, returned by ``SharedMemory/register(as:)``.
public struct ParticipantRegistration: Sendable, Hashable {
    /// The participant-table slot that shows it, or `nil` when the table was full: the
    /// registration counts for liveness all the same (see ``SharedObjectInfo/liveRegistrations``).
    public let slot: Int?
    /// The role registered.
    public let role: ParticipantRole
    /// The presence byte whose write lock is the registration (see `ObjectLocks`).
    let presenceByte: Int64
}

extension SharedMemory {
    /// Registers the calling process as a participant with `role`.
    ///
    /// The registration lasts until ``deregister(_:)`` or until this object is released; if the
    /// process dies first, the kernel drops it, and every other process sees the participant as
    /// gone. Liveness does not depend on the participant table: when its 47 slots are taken
    /// the registration has no slot (``ParticipantRegistration/slot`` is `nil`), is not listed
    /// by name, and still counts as a live user. Anonymous segments register too.
    ///
    /// - Parameter role: what the participant registers as.
    /// - Throws: ``SharedMemoryError/lockInterference(name:)`` if a read-only process's locks
    ///   keep the registration from being taken; ``SharedMemoryError/unexpected(_:operation:)``
    ///   if the kernel refuses the lock.
    public func register(as role: ParticipantRole) throws(SharedMemoryError) -> ParticipantRegistration {
        let byte = try ObjectLocks.takePresence(descriptor, role: role, name: displayName)
        return register(as: role, presenceByte: byte)
    }

    /// Completes a registration whose presence byte the caller already holds: claims a table
    /// slot to show it, if one is free.
    func register(as role: ParticipantRole, presenceByte: Int64) -> ParticipantRegistration {
        heldPresence.withLock { $0[presenceByte] = role }
        let table = ParticipantTable(base: mapping)
        // Why two passes (free slots first, dead participants' slots only when none is free):
        // a dead participant's entry is what `shm inspect` shows of a process that died using
        // the object; reclaiming it while free slots remain would erase that at once.
        for pass in 0..<2 {
            for index in 0..<ParticipantTable.slotCount {
                // Relaxed: only a hint for choosing a slot; the lock below decides.
                if pass == 0 && table.stateWord(index).pointee.load(ordering: .relaxed) != 0 { continue }
                let claimed: Bool = heldSlots.withLock { held in
                    if held.contains(index) { return false }
                    // A write lock of another open file description: a live slot. Read locks in
                    // the way (a read-only process) make the slot unusable, nothing more.
                    guard
                        (try? ObjectLocks.tryWriteLock(descriptor, byte: Int64(ParticipantTable.lockByte(index))))
                            == .taken
                    else { return false }
                    held.insert(index)
                    return true
                }
                if claimed {
                    table.fill(index, role: role)
                    return ParticipantRegistration(slot: index, role: role, presenceByte: presenceByte)
                }
            }
        }
        return ParticipantRegistration(slot: nil, role: role, presenceByte: presenceByte)
    }

    /// Ends a registration made with ``register(as:)``.
    public func deregister(_ registration: ParticipantRegistration) {
        if let slot = registration.slot {
            heldSlots.withLock { held in
                guard held.remove(slot) != nil else { return }
                ParticipantTable(base: mapping).clear(slot)
                FileSystem.unlock(descriptor, start: ParticipantTable.lockByte(slot), length: 1)
            }
        }
        heldPresence.withLock { held in
            guard held.removeValue(forKey: registration.presenceByte) != nil else { return }
            ObjectLocks.unlock(descriptor, byte: registration.presenceByte)
        }
    }

    /// The participants the table shows, live and dead (at most 47; see ``liveRegistrations(of:)``
    /// for a count that has no such bound).
    public var participants: [Participant] {
        let held = heldSlots.withLock { $0 }
        let fd = descriptor
        return ParticipantTable(base: mapping).read { index in
            held.contains(index) || ParticipantTable.slotIsLive(fd, index)
        }
    }

    /// The live registrations of `role` with this object, this handle's own included, however
    /// many there are.
    public func liveRegistrations(of role: ParticipantRole) -> Int {
        let own = heldPresence.withLock { held in held.values.filter { $0 == role }.count }
        let range = ObjectLocks.presenceRange(of: role)
        return own + ObjectLocks.writeLockCount(descriptor, start: range.start, length: range.length)
    }

    /// The name for messages: the object's name, or a description of an anonymous segment.
    var displayName: String { name?.rawValue ?? "<anonymous>" }
}

extension ParticipantTable {
    /// Whether another open file description holds slot `index`'s write lock. A read query:
    /// read locks, which a read-only process can take, never make a slot look alive.
    static func slotIsLive(_ fd: Int32, _ index: Int) -> Bool {
        do {
            return try FileSystem.conflictingLock(fd, write: false, start: Int64(lockByte(index)), length: 1) != nil
        } catch {
            return false  // shown as dead; liveness decisions never rest on the table
        }
    }
}

extension SharedMemory {
    /// Takes the write lock on `byte` of the backing file without waiting. Used for roles only
    /// one process may hold.
    func tryLockByte(_ byte: Int64) throws(SharedMemoryError) -> ObjectLocks.Attempt {
        do { return try ObjectLocks.tryWriteLock(descriptor, byte: byte) } catch {
            throw SharedMemoryError.from(error, name: displayName, operation: "fcntl(F_OFD_SETLK)")
        }
    }

    /// Releases a lock taken with ``tryLockByte(_:)``.
    func unlockByte(_ byte: Int64) {
        ObjectLocks.unlock(descriptor, byte: byte)
    }
}
