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

/// The participant table in bytes 1024..<4096 of every segment header.
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
/// A registrant takes the OFD lock on the slot's byte *first*; only the lock holder writes the
/// slot. A dead participant's slot is therefore reclaimed simply by locking its byte. Locks
/// taken through one open file description do not conflict with each other, so each
/// ``SharedMemory`` remembers which slots it holds itself.
struct ParticipantTable {
    static let offset = 1088
    static let slotSize = 64
    static let slotCount = (SegmentHeader.size - offset) / slotSize  // 47

    enum SlotOffset {
        static let state = 0, role = 4, pid = 8, startTime = 16, registeredAt = 24
    }

    let base: UnsafeMutableRawPointer  // the mapping's start (the header)

    func slot(_ index: Int) -> UnsafeMutableRawPointer { base + ParticipantTable.offset + index * ParticipantTable.slotSize }

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

/// A registration in an object's participant table, returned by ``SharedMemory/register(as:)``.
public struct ParticipantRegistration: Sendable, Hashable {
    /// The slot held.
    public let slot: Int
    /// The role registered.
    public let role: ParticipantRole
}

extension SharedMemory {
    /// Registers the calling process as a participant with `role`.
    ///
    /// The registration lasts until ``deregister(_:)`` or until this object is released; if the
    /// process dies first, the kernel drops it, and every other process sees the participant as
    /// dead. Anonymous segments have a table too.
    ///
    /// - Parameter role: what the participant registers as.
    /// - Returns: the registration, or `nil` if all 47 slots are held by live participants.
    /// - Throws: ``SharedMemoryError/unexpected(_:operation:)`` if the kernel refuses the lock.
    public func register(as role: ParticipantRole) throws(SharedMemoryError) -> ParticipantRegistration? {
        let table = ParticipantTable(base: mapping)
        // Why two passes (free slots first, dead participants' slots only when none is free): a
        // dead participant's entry is the evidence channels use to report a peer that died in
        // the middle of an operation (an MPMC sender or receiver holding a claimed slot).
        // Reclaiming it while free slots remained erased that evidence as soon as anyone else
        // opened the channel, and the other side then waited forever (found by the multi-process
        // channel death tests).
        for pass in 0..<2 {
            for index in 0..<ParticipantTable.slotCount {
                // Relaxed: only a hint for choosing a slot; the lock below decides.
                if pass == 0 && table.stateWord(index).pointee.load(ordering: .relaxed) != 0 { continue }
                let claimed: Bool = heldSlots.withLock { held in
                    if held.contains(index) { return false }
                    // Another open file description holding the byte makes this fail: live slot.
                    guard (try? FileSystem.tryLock(descriptor, start: ParticipantTable.lockByte(index), length: 1, exclusive: true)) == true
                    else { return false }
                    held.insert(index)
                    return true
                }
                if claimed {
                    table.fill(index, role: role)
                    return ParticipantRegistration(slot: index, role: role)
                }
            }
        }
        return nil
    }

    /// Ends a registration made with ``register(as:)``.
    public func deregister(_ registration: ParticipantRegistration) {
        heldSlots.withLock { held in
            guard held.remove(registration.slot) != nil else { return }
            ParticipantTable(base: mapping).clear(registration.slot)
            FileSystem.unlock(descriptor, start: ParticipantTable.lockByte(registration.slot), length: 1)
        }
    }

    /// The participants registered with this object, live and dead.
    public var participants: [Participant] {
        let held = heldSlots.withLock { $0 }
        let fd = descriptor
        return ParticipantTable(base: mapping).read { index in
            held.contains(index)
                || (try? FileSystem.isLockedByOthers(fd, start: ParticipantTable.lockByte(index), length: 1)) == true
        }
    }
}

extension SharedMemory {
    /// Takes the exclusive OFD lock on `byte` of the backing file without waiting; `false` if
    /// another open file description holds it. Used for roles only one process may hold.
    func tryLockByte(_ byte: Int) -> Bool {
        (try? FileSystem.tryLock(descriptor, start: byte, length: 1, exclusive: true)) == true
    }

    /// Releases a lock taken with ``tryLockByte(_:)``.
    func unlockByte(_ byte: Int) {
        FileSystem.unlock(descriptor, start: byte, length: 1)
    }
}
