import Synchronization

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
    ///   keep the registration from being taken; ``SharedMemoryError/readOnly(name:)`` if this
    ///   handle is ``Access/readOnly`` (a registration is a write lock and a table entry);
    ///   ``SharedMemoryError/unexpected(_:operation:)`` if the kernel refuses the lock.
    public func register(as role: ParticipantRole) throws(SharedMemoryError) -> ParticipantRegistration {
        try checkWritable()
        let byte = try ObjectLocks.takePresence(descriptor, role: role, name: displayName)
        return register(as: role, presenceByte: byte)
    }

    /// Completes a registration whose presence byte the caller already holds: claims a table
    /// slot to show it, if one is free.
    func register(as role: ParticipantRole, presenceByte: Int64) -> ParticipantRegistration {
        heldPresence.withLock { $0[presenceByte] = role }
        let table = ParticipantTable(base: region.base)
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
                    table.announceChange()
                    return ParticipantRegistration(slot: index, role: role, presenceByte: presenceByte)
                }
            }
        }
        table.announceChange()
        return ParticipantRegistration(slot: nil, role: role, presenceByte: presenceByte)
    }

    /// Ends a registration made with ``register(as:)``.
    public func deregister(_ registration: ParticipantRegistration) {
        if let slot = registration.slot {
            heldSlots.withLock { held in
                guard held.remove(slot) != nil else { return }
                ParticipantTable(base: region.base).clear(slot)
                FileSystem.unlock(descriptor, start: ParticipantTable.lockByte(slot), length: 1)
            }
        }
        let removed: Bool = heldPresence.withLock { held in
            guard held.removeValue(forKey: registration.presenceByte) != nil else { return false }
            ObjectLocks.unlock(descriptor, byte: registration.presenceByte)
            return true
        }
        if removed { ParticipantTable(base: region.base).announceChange() }
    }

    /// The participants the table shows, live and dead (at most 47; see ``liveRegistrations(of:)``
    /// for a count that has no such bound).
    public var participants: [Participant] {
        let held = heldSlots.withLock { $0 }
        let fd = descriptor
        return ParticipantTable(base: region.base).read { index in
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

extension SharedMemory {
    /// Throws ``SharedMemoryError/readOnly(name:)`` if this handle is ``Access/readOnly``: the
    /// check before anything that writes the mapping or takes a write lock.
    func checkWritable() throws(SharedMemoryError) {
        if access == .readOnly { throw .readOnly(name: displayName) }
    }

    /// Takes the write lock on `byte` of the backing file without waiting. Used for roles only
    /// one process may hold.
    /// - Throws: ``SharedMemoryError/readOnly(name:)`` on a read-only handle.
    func tryLockByte(_ byte: Int64) throws(SharedMemoryError) -> ObjectLocks.Attempt {
        try checkWritable()
        do { return try ObjectLocks.tryWriteLock(descriptor, byte: byte) } catch {
            throw SharedMemoryError.from(error, name: displayName, operation: "fcntl(F_OFD_SETLK)")
        }
    }

    /// Releases a lock taken with ``tryLockByte(_:)``.
    func unlockByte(_ byte: Int64) {
        ObjectLocks.unlock(descriptor, byte: byte)
    }

    /// Takes the first free endpoint slot below `count` whose lock `byte(i)` no live process
    /// holds (an object's bounded roles: a topic's publishers and subscribers, a service's
    /// servers and clients); `nil` if every slot is held.
    func claimEndpointSlot(count: Int, byte: (Int) -> Int64) throws(SharedMemoryError) -> Int? {
        for i in 0..<count {
            switch try tryLockByte(byte(i)) {
            case .taken: return i
            case .heldByWriter: continue
            case .blockedByReader: throw .lockInterference(name: displayName)
            }
        }
        return nil
    }

    /// Whether another open file description holds the write lock on `byte`: the endpoint of
    /// that slot is alive. A failed query counts as alive (a wrong "alive" costs waiting, a
    /// wrong "dead" would lose messages).
    func isEndpointHeld(_ byte: Int64) -> Bool {
        do {
            return try FileSystem.conflictingLock(descriptor, write: false, start: byte, length: 1) != nil
        } catch {
            return true
        }
    }
}
