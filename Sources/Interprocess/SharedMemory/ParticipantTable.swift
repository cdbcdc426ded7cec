import Synchronization

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
/// ## The change word
/// Every registration and deregistration, whether or not it has a slot, ends by bumping the
/// header's change word (``HeaderLayout/participantsChanged``, a `WaiterGatedWake` pair) and
/// waking its sleepers if one is announced: a wait set sleeps on it to learn of participants
/// that join while it sleeps. It is a sequence, bumped whether or not anyone sleeps, so a
/// sleeper compares it with the value it read before its last read of the table. Anyone who
/// can write the segment can bump it too: a change only says "re-read the table", never what
/// the table or the locks say, and its readers bound how often they re-read.
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

    /// The change word and its sleeper count (see "The change word").
    var changeWake: WaiterGatedWake { WaiterGatedWake(at: base + HeaderLayout.participantsChanged) }

    /// Announces that a registration or deregistration happened: bumps the change word and
    /// wakes its sleepers, if one is announced. Called after the locks and the slot are
    /// final, so a sleeper that sees the new value re-reads a table and locks that show it.
    func announceChange() {
        let wake = changeWake
        // SYNC POINT: releasing; pairs with the sleeper's acquiring load of the word before it
        // re-reads the table (`WaitSet.PeerWatch`), so the slot filled or cleared before is seen.
        wake.word.atomic.pointee.wrappingAdd(1, ordering: .releasing)
        // The barrier and the sleeper count: a futex wake only when someone sleeps on it.
        wake.wakeAfterChange(count: Int32.max)
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
