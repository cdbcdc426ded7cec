import SystemPackage

/// The byte-range locks of an object's file and what each one means: the only evidence of
/// liveness, roles and removals that Interprocess trusts, because the kernel keeps it and
/// drops it when a process dies.
///
/// ## Only write locks mean something
/// Every lock that stands for a live registration, a role or a removal in progress is a
/// *write* (exclusive) open-file-description lock, which the kernel grants only through a
/// descriptor opened for writing. Every question about them is asked with a *read*-lock query,
/// which conflicts only with write locks. A process that can only read an object can therefore
/// neither take a role or a registration nor make anyone look alive. What it can do is hold
/// read locks that keep others from taking a write lock; no Interprocess process ever takes a
/// read lock, so a read lock in the way is recognised for what it is and reported as
/// ``SharedMemoryError/lockInterference(name:)``, never mistaken for a live holder.
///
/// A header field, by contrast, is written by whoever can write the file: nothing here reads
/// the header to decide who is alive or whether an object may be removed.
///
/// ## The map (byte offsets in the file, named in ``HeaderLayout``; a lock may lie past the end of the file)
/// | bytes | lock | held |
/// |---:|---|---|
/// | 1024 | the single sender's role (SPSC channels) | while the sender is open |
/// | 1025 | the single receiver's role (SPSC channels) | while the receiver is open |
/// | 1026 | removal | while a process decides whether to unlink the object, and unlinks it |
/// | 1088 + 64·i | participant-table slot i (see `ParticipantTable`) | by the participant the slot shows |
/// | 2³⁹ + p | topic publisher slot p | while that publisher is open |
/// | 2³⁹ + 2³² + j | topic subscriber slot j | while that subscriber is open |
/// | 2³⁹ | a blackboard's writer role (`BlackboardLayout.writerLockByte`) | while its writer is open |
/// | 2⁴⁰ + r·2²⁴ + k | presence of a registration of role r, k random below 2²⁴ | as long as the registration lasts |
///
/// ## Presence: bounded display, unbounded liveness
/// The participant table has 47 slots, enough to show who uses an object; liveness must not
/// depend on it. Every registration therefore also holds one presence byte of its own, chosen
/// at random in its role's range (another byte on the rare collision). Counting the write
/// locks in a range counts the live registrations of that role, however many there are.
///
/// ## Removal without removing a live object
/// A remover takes the removal lock, checks that no write lock but its own is held anywhere
/// in the file, checks that the name still refers to the file it holds, unlinks, and releases
/// the lock. An opener takes its presence lock first, then waits until no removal lock is
/// held, then checks that the name still refers to the file it opened (and starts over if
/// not). Whatever the interleaving, either the remover sees the opener's presence and keeps
/// the object, or the opener finds the name gone and opens or creates it anew: no process is
/// ever left using an object that has lost its name to a removal it did not ask for.
enum ObjectLocks {
    static let senderRoleByte = Int64(HeaderLayout.senderRoleByte)
    static let receiverRoleByte = Int64(HeaderLayout.receiverRoleByte)
    static let removalByte = Int64(HeaderLayout.removalByte)
    /// Every lock of the header area: the role bytes, the removal byte and the table's slots.
    static let headerRange: (start: Int64, length: Int64) = (
        Int64(HeaderLayout.lockArea), Int64(HeaderLayout.size - HeaderLayout.lockArea)
    )

    /// Presence bytes of every role (role raw values are 32-bit).
    static let presenceRegion: (start: Int64, length: Int64) = (
        HeaderLayout.presenceBase, HeaderLayout.presenceSpan << 32
    )

    /// The presence range of `role`.
    static func presenceRange(of role: ParticipantRole) -> (start: Int64, length: Int64) {
        HeaderLayout.presenceRange(of: role)
    }

    /// How a write lock attempt ended.
    enum Attempt: Equatable {
        case taken
        /// Another open file description holds a write lock: a live holder.
        case heldByWriter
        /// Only read locks stand in the way: a read-only process is interfering.
        case blockedByReader
    }

    /// Tries to take a write lock on `byte` without waiting.
    static func tryWriteLock(_ fd: Int32, byte: Int64) throws(Errno) -> Attempt {
        // One write query says who is in the way: a byte is held either by one write lock or by
        // read locks only, never both, so the type of the lock it reports decides. (Two queries
        // would race: a writer that unlocks between them and locks again before the second
        // looks like a reader.) A holder can also unlock between the failed attempt and the
        // query; then no lock is found, and the attempt is made again (a few times: a holder
        // that comes and goes that fast is a writer, not a reader).
        for _ in 0..<4 {
            if try FileSystem.tryLock(fd, start: Int(byte), length: 1, exclusive: true) { return .taken }
            guard let held = try FileSystem.conflictingLock(fd, write: true, start: byte, length: 1) else { continue }
            return held.isWrite ? .heldByWriter : .blockedByReader
        }
        return .heldByWriter
    }

    static func unlock(_ fd: Int32, byte: Int64) {
        FileSystem.unlock(fd, start: Int(byte), length: 1)
    }

    /// Takes a presence byte of `role` through `fd` (opened for writing) and returns it.
    /// - Throws: ``SharedMemoryError/lockInterference(name:)`` when read locks keep every byte
    ///   tried from being locked.
    static func takePresence(_ fd: Int32, role: ParticipantRole, name: String) throws(SharedMemoryError) -> Int64 {
        let range = presenceRange(of: role)
        // Random bytes make collisions rare (two live registrations of one role share a byte
        // with probability ~n²/2²⁵); a collision only costs another try. A range covered with
        // read locks makes every try fail the same way, which ends the loop quickly.
        for _ in 0..<32 {
            let byte = range.start + Int64.random(in: 0..<range.length)
            let attempt: Attempt
            do { attempt = try tryWriteLock(fd, byte: byte) } catch {
                throw SharedMemoryError.from(error, name: name, operation: "fcntl(F_OFD_SETLK)")
            }
            switch attempt {
            case .taken: return byte
            case .heldByWriter: continue
            case .blockedByReader: throw .lockInterference(name: name)
            }
        }
        throw .lockInterference(name: name)
    }

    /// The write locks other open file descriptions hold in `[start, start+length)`, counted up
    /// to `limit` (a hostile writer could hold millions; callers only need "how many, roughly").
    ///
    /// A query returns *one* conflicting lock, not necessarily the lowest, so the range is split
    /// around each lock found and both sides are asked again.
    static func writeLockCount(_ fd: Int32, start: Int64, length: Int64, limit: Int = 4096) -> Int {
        var pending: [(Int64, Int64)] = [(start, start + length)]  // half-open [from, to)
        var count = 0
        while let (from, to) = pending.popLast(), count < limit {
            guard from < to,
                let held = try? FileSystem.conflictingLock(fd, write: false, start: from, length: to - from)
            else { continue }
            count += 1
            let heldEnd = held.length == 0 ? Int64.max : held.start + held.length
            pending.append((from, max(from, held.start)))
            pending.append((min(to, heldEnd), to))
        }
        return count
    }

    /// Whether any other open file description holds a write lock anywhere that means a live
    /// user: a presence byte, a role byte, a table slot or the removal byte.
    static func hasOtherLiveUser(_ fd: Int32) -> Bool {
        for range in [headerRange, presenceRegion] {
            do {
                if try FileSystem.conflictingLock(fd, write: false, start: range.start, length: range.length) != nil {
                    return true
                }
            } catch {
                return true  // a failing query counts as "in use": removal errs on the side of keeping
            }
        }
        return false
    }

    /// How a removal attempt ended.
    enum Removal: Equatable {
        case removed
        /// A live user holds the object (or a query failed): kept.
        case inUse
        /// Another process is removing it, or read locks keep the removal lock from being taken.
        case busy
        /// The name no longer refers to this file.
        case replaced
        case failed(Errno)
    }

    /// Unlinks `path` if it still names the file open as `fd` (opened for writing) and no other
    /// open file description holds a live user's lock on it; the protocol is in the type's
    /// discussion.
    static func removeIfUnused(_ fd: Int32, path: String) -> Removal {
        switch (try? tryWriteLock(fd, byte: removalByte)) ?? .blockedByReader {
        case .taken: break
        case .heldByWriter, .blockedByReader: return .busy
        }
        defer { unlock(fd, byte: removalByte) }
        if hasOtherLiveUser(fd) { return .inUse }
        guard names(path, fd) else { return .replaced }
        do { try FileSystem.unlink(path) } catch { return error == .noSuchFileOrDirectory ? .replaced : .failed(error) }
        return .removed
    }

    /// The opener's half of the removal protocol, after it took its presence lock: waits while a
    /// removal is in progress (polling, until `deadline`), then returns whether `path` still
    /// names `fd`'s file.
    /// - Throws: ``SharedMemoryError/removalInProgress(name:)`` if a removal lock is still held
    ///   at the deadline (a live process holding it that long is hostile or stopped).
    static func survivesRemoval(_ fd: Int32, path: String, name: String, deadline: Deadline) throws(SharedMemoryError)
        -> Bool
    {
        while removalIsHeld(fd) {
            if deadline.hasPassed { throw .removalInProgress(name: name) }
            FileSystem.sleep(.microseconds(200))
        }
        return names(path, fd)
    }

    /// Whether another open file description holds the removal lock (a failing query counts
    /// as held, so the opener waits and re-checks rather than trusting a name it could not verify).
    static func removalIsHeld(_ fd: Int32) -> Bool {
        do { return try FileSystem.conflictingLock(fd, write: false, start: removalByte, length: 1) != nil } catch {
            return true
        }
    }

    /// Whether `path` is the directory entry of the file open as `fd` (same device and inode;
    /// a symbolic link there is never the same file).
    static func names(_ path: String, _ fd: Int32) -> Bool {
        guard let mine = try? FileSystem.status(fd), let entry = try? FileSystem.linkStatus(path: path) else {
            return false
        }
        return mine.isSameFile(as: entry)
    }
}
