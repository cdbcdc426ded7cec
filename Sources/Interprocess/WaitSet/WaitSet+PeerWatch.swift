import Synchronization

extension WaitSet {
    /// Which processes a wait set's peer checks depend on, and their exit subscriptions: a peer
    /// check (`WaitSource.peerGone`) can only change its answer when a participant of the
    /// source's segment exits (or the segment is damaged), so a wait set whose every such
    /// participant is watched sleeps without timed wake-ups and checks when told of an exit.
    ///
    /// The participants come from each segment's participant table (live slots only: a slot's
    /// lock held by another open file description). The table is untrusted and bounded, so it is
    /// only used to decide *when* to check, never *what* the check answers (the kernel's locks
    /// do): a segment is fully watched only when its presence locks are no more than its live
    /// entries and every entry's process could be watched (see `ProcessExitWatch`); any other
    /// segment — a full table, a pid of another PID namespace, a recycled or hidden pid, no
    /// pidfd support, an exited process whose descriptors live on in another — makes the wait
    /// set check every `unwatchedCheckInterval`.
    ///
    /// Participants that join are announced by each segment's change word (see
    /// `ParticipantTable`, "The change word"): the wait set sleeps on it, expecting the value
    /// read (acquiring) before the table was last read, so a registration after that read ends
    /// the sleep and the table is read again. A read-only segment's word cannot be announced on
    /// (a store): its newcomers are found at the timed checks.
    ///
    /// Used on the waiting thread only.
    final class PeerWatch {
        private struct Segment {
            var fingerprint: UInt64
            /// The change word's value read before the table was (0 without a word).
            var changeSeen: UInt32
            var processes: [ProcessIdentity]
            var complete: Bool
        }

        private var segments: [ObjectIdentifier: Segment] = [:]
        private var subscriptions: [ProcessIdentity: ProcessExitWatch.Subscription] = [:]
        /// Processes whose exit could not be watched at the last try.
        private var unwatchable: Set<ProcessIdentity> = []
        /// The sources changed since the last refresh (or none was made yet).
        var isStale = true
        /// When the last refresh ran.
        private(set) var refreshedAt: Deadline?
        /// Whether some peer cannot be watched (so the wait set checks on a schedule).
        private(set) var hasUnwatched = false

        /// Whether some source has a peer check at all.
        private(set) var hasPeerChecks = false

        /// Whether exits are watched at all (tests turn it off to stand for a kernel without
        /// pidfds: every peer is then checked on the unwatched schedule).
        var watchesExits = true

        /// Processes watched now (for tests).
        var watchedCount: Int { subscriptions.count }

        /// The change word of every watched segment that has one (in the sources' order), with
        /// the value read before the segment's table was last read.
        private(set) var changeWords: [(wake: WaiterGatedWake, seen: UInt32)] = []

        /// Whether some change word moved since its table was read.
        var changeWordMoved: Bool {
            // Relaxed: only decides whether to refresh; the refresh reads the word with acquire.
            changeWords.contains { $0.wake.word.atomic.pointee.load(ordering: .relaxed) != $0.seen }
        }

        /// Re-reads the participants of every segment whose table changed (every one if
        /// `force`) or whose watched process exited, and subscribes to the exit of each new one,
        /// calling `onExit` then; drops the subscriptions nobody needs any more.
        func refresh(_ entries: [Core.Entry], force: Bool, onExit: @escaping @Sendable () -> Void) {
            isStale = false
            refreshedAt = Deadline.now
            var seen: [ObjectIdentifier: Segment] = [:]
            hasPeerChecks = entries.contains { $0.source.peerGone != nil }
            changeWords.removeAll(keepingCapacity: true)
            for entry in entries {
                guard let segment = entry.source.peerSegment else { continue }
                let id = ObjectIdentifier(segment)
                if seen[id] != nil { continue }
                let change = segment.access == .readWrite ? ParticipantTable(base: segment.region.base).changeWake : nil
                // SYNC POINT: acquiring, before the table is read; pairs with the releasing bump
                // in `ParticipantTable.announceChange`: a registration this load sees is in the
                // table read below, and one it misses bumps the word after this value, which
                // ends the next sleep.
                let changeSeen = change?.word.atomic.pointee.load(ordering: .acquiring) ?? 0
                if let change { changeWords.append((change, changeSeen)) }
                let fingerprint = PeerWatch.fingerprint(of: segment)
                if !force, let known = segments[id], known.fingerprint == fingerprint, known.changeSeen == changeSeen,
                    !known.processes.contains(where: { subscriptions[$0]?.hasExited == true })
                {
                    seen[id] = known
                    continue
                }
                let (processes, complete) = PeerWatch.participants(of: segment)
                seen[id] = Segment(
                    fingerprint: fingerprint, changeSeen: changeSeen, processes: processes, complete: complete)
            }
            segments = seen
            var unwatched = false
            var wanted: Set<ProcessIdentity> = []
            for segment in seen.values {
                if !segment.complete { unwatched = true }
                wanted.formUnion(segment.processes)
            }
            for process in wanted {
                if let subscription = subscriptions[process] {
                    // Exited, yet its slot is still held: another process holds its
                    // descriptors now (fork, descriptor passing), whose pid nobody recorded.
                    if subscription.hasExited { unwatched = true }
                } else if !force && unwatchable.contains(process) {
                    // Tried already: tried again only on a forced refresh (the slow schedule).
                    unwatched = true
                } else if watchesExits, let subscription = ProcessExitWatch.shared.watch(process, onExit: onExit) {
                    subscriptions[process] = subscription
                    unwatchable.remove(process)
                } else {
                    unwatchable.insert(process)
                    unwatched = true
                }
            }
            unwatchable.formIntersection(wanted)
            for process in subscriptions.keys where !wanted.contains(process) {
                subscriptions.removeValue(forKey: process)?.cancel()
            }
            hasUnwatched = unwatched
        }

        /// The processes of the live non-opener entries of `segment`'s participant table other
        /// than this one, and whether they are all its role holders: no more presence locks of
        /// other open file descriptions in the roles' ranges than such entries (a registration
        /// without a table slot makes the locks outnumber the entries). Openers are left out:
        /// every handle holds an opener lock, shown in the table or not, and no peer check is
        /// about an opener.
        static func participants(of segment: SharedMemory) -> (processes: [ProcessIdentity], complete: Bool) {
            let own = segment.heldSlots.withLock { $0 }
            let live = segment.participants.filter { $0.isAlive && $0.role != .opener && !own.contains($0.slot) }
            let me = ProcessIdentity.current
            var processes: [ProcessIdentity] = []
            for participant in live where participant.process != me && !processes.contains(participant.process) {
                processes.append(participant.process)
            }
            let region = ObjectLocks.presenceRegion
            let openers = ObjectLocks.presenceRange(of: .opener)
            let fd = segment.descriptor
            let limit = 4096
            let openerLocks = ObjectLocks.writeLockCount(fd, start: openers.start, length: openers.length, limit: limit)
            // At the limit the count says nothing (a hostile process can hold millions).
            guard openerLocks < limit else { return (processes, false) }
            let locks = ObjectLocks.writeLockCount(
                fd, start: region.start, length: region.length, limit: openerLocks + live.count + 1)
            return (processes, locks - openerLocks <= live.count)
        }

        /// A hash of `segment`'s participant table (state, role, pid and start time of every
        /// slot): it changes when a participant registers or deregisters. Loads only.
        static func fingerprint(of segment: SharedMemory) -> UInt64 {
            let table = ParticipantTable(base: segment.region.base)
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for index in 0..<ParticipantTable.slotCount {
                let slot = table.slot(index)
                // Relaxed: a hint for when to re-read the table; the re-read decides.
                let state = table.stateWord(index).pointee.load(ordering: .relaxed)
                let role = slot.load(fromByteOffset: ParticipantTable.SlotOffset.role, as: UInt32.self)
                let pid = slot.load(fromByteOffset: ParticipantTable.SlotOffset.pid, as: UInt32.self)
                let start = slot.load(fromByteOffset: ParticipantTable.SlotOffset.startTime, as: UInt64.self)
                // FNV-1a over 64-bit words.
                hash = (hash ^ (UInt64(state) | UInt64(role) << 32)) &* 0x100_0000_01b3
                hash = (hash ^ UInt64(pid)) &* 0x100_0000_01b3
                hash = (hash ^ start) &* 0x100_0000_01b3
            }
            return hash
        }
    }
}
