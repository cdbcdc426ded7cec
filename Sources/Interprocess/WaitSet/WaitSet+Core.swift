import Synchronization

extension WaitSet {
    /// The sources and the waiting: a class so that an `async` wait can run it on an offload
    /// thread while the `~Copyable` owner stays suspended.
    ///
    /// Not thread-safe: one wait at a time (the owner is `~Copyable` and waits through a
    /// `mutating` method); only `cancelled` and the interrupt word are touched by other threads.
    final class Core: @unchecked Sendable {
        struct Entry {
            let token: Token
            let source: WaitSource
        }

        /// How often a source reported gone is checked again (and reported again while it stays
        /// so), and at most how often the peers are re-read while the wait set is awake anyway:
        /// the channels' liveness interval.
        static let livenessInterval = ChannelControl.livenessInterval
        /// How often the peers are checked while some peer's exit cannot be watched.
        static let unwatchedCheckInterval: Duration = .seconds(1)
        /// How often the peers and segments are checked while every peer is watched: the only
        /// timed wake-up of an idle wait set, for what no exit and no change word announces (a
        /// damaged segment, a participant table that misnames its processes, a registration by
        /// a build that does not bump the change word).
        static let backstopInterval: Duration = .seconds(5)

        var entries: [Entry] = []
        private var nextToken = 0
        var mechanism = Futex.hasVectoredWait ? Mechanism.vectored : Mechanism.watchers
        /// When the sources' peers are checked next by the clock (per wait set, across waits, so
        /// that short waits in a loop still check them).
        private var nextPeerCheck: Deadline?
        /// When the sources reported gone are checked again.
        private var nextGoneCheck: Deadline?
        /// The tokens whose last peer check said gone.
        private var reportedGone: Set<Int> = []
        /// Until when the segments' change words stay out of the sleeps, after a refresh that
        /// one of them caused (see `wait`, "Why the change words rest").
        private var changeRestUntil: Deadline?
        /// Where the change words begin in `announced`, and whether the last vectored sleep was
        /// woken on one of them (a wake of the word without a change).
        private var firstChangeWord = 0
        private var wokenOnChangeWord = false
        /// The peers' processes and their exit subscriptions.
        let peers = PeerWatch()
        /// Set by an exit subscription's handler (on the exit watch's thread) before it bumps
        /// `interrupt`.
        let peerExited = Atomic<Bool>(false)
        /// A sequence word (no sleeper count needed: its wakers always wake) that ends a sleep
        /// from outside: an `async` wait's cancellation, a peer's exit, and the fallback's
        /// watcher threads.
        let interrupt = WaiterGatedWake.allocate()
        /// Set by an `async` wait's cancellation handler before it bumps `interrupt`.
        let cancelled = Atomic<Bool>(false)
        private let vector = FutexWaitVector()
        /// The words announced for the current sleep, and the values read when announcing.
        private var announced: [WaiterGatedWake] = []
        private var observed: [UInt32] = []

        static let watchersStarted = Atomic<Int>(0)

        deinit { interrupt.deallocate() }

        func add(_ source: WaitSource) -> Token {
            let token = Token(id: nextToken)
            nextToken += 1
            entries.append(Entry(token: token, source: source))
            peers.isStale = true
            return token
        }

        func remove(_ token: Token) {
            entries.removeAll { $0.token == token }
            reportedGone.remove(token.id)
            peers.isStale = true
        }

        /// Every source's readiness, checked once: no system call, no announcement.
        func poll() -> [Fired] {
            var fired: [Fired] = []
            for entry in entries {
                let count = entry.source.check()
                if count > 0 { fired.append(Fired(token: entry.token, count: count)) }
            }
            return fired
        }

        /// The sources whose peers died (or whose segments are damaged), each once; only those
        /// in `only` if given. Remembers which are gone, to check them again.
        private func checkPeers(only: Set<Int>? = nil) -> [Fired] {
            var fired: [Fired] = []
            for entry in entries {
                guard let peerGone = entry.source.peerGone else { continue }
                if let only, !only.contains(entry.token.id) { continue }
                if peerGone() {
                    fired.append(Fired(token: entry.token, count: 1))
                    reportedGone.insert(entry.token.id)
                } else {
                    reportedGone.remove(entry.token.id)
                }
            }
            return fired
        }

        /// Re-reads the peers (see `PeerWatch.refresh`), subscribing to the exit of new ones.
        private func refreshPeers(force: Bool) {
            peers.refresh(entries, force: force) { [weak self] in self?.peerDidExit() }
        }

        /// An exit subscription's handler: ends the current (or next) sleep.
        private func peerDidExit() {
            // Releasing, before the bump: a sleeper that reads the bumped interrupt word (with
            // acquire) sees the flag.
            peerExited.store(true, ordering: .releasing)
            interrupt.bumpAndWake(count: Int32.max)
        }

        /// Waits until a source fires, `deadline` passes, or (async waits) `cancelled` is set.
        ///
        /// Peer checks run when a peer's process exits, once when the sources changed, when a
        /// segment's participant-table change word moved (at most once per liveness interval),
        /// every `unwatchedCheckInterval` while some peer cannot be watched (else every
        /// `backstopInterval`), and every liveness interval for a source reported gone.
        ///
        /// ## Why the change words rest
        /// Every segment's change word is in the sleep, so a participant that registers while
        /// the wait set sleeps wakes it: the table is re-read and the newcomer's exit watched.
        /// Any process that can write the segment can also bump the word, or wake it, in a loop.
        /// So after a refresh that a change word caused, the change words stay out of the sleeps
        /// for one liveness interval (the sleep ends then, to take them back with the values
        /// read at that refresh: a change meanwhile ends the next sleep at once). Why the bound
        /// is safe: whatever the words do, change-driven refreshes and their peer checks run at
        /// most once per liveness interval (ten a second), plus the refresh that waking at the
        /// end of each rest makes (as any wake-up does at most once per interval); each costs
        /// what one check of the slow schedule costs (the table loads and lock queries of the
        /// segments whose word moved, one peer check per source), so the waiting thread stays a
        /// few milliseconds a second from idle. An honest newcomer is noticed at once, or within
        /// one liveness interval of the change before it. What no word announces, the timed
        /// checks still find.
        func wait(deadline: Deadline) -> [Fired] {
            let ready = poll()
            if !ready.isEmpty { return ready }
            while true {
                // Relaxed: the interrupt word's acquiring load orders the flag (see `sleepOnce`).
                if deadline.hasPassed || cancelled.load(ordering: .relaxed) { return [] }
                let now = Deadline.now
                if peers.isStale {
                    // A peer may have died before its exit was watched: check once now.
                    refreshPeers(force: true)
                    let gone = checkPeers()
                    if !gone.isEmpty { return gone }
                } else if let at = peers.refreshedAt, at.advanced(by: Core.livenessInterval) < now {
                    // Awake anyway: catch participants that joined since (table loads only,
                    // unless a table changed).
                    refreshPeers(force: false)
                }
                var end = deadline
                var checkAt: Deadline? = nil
                if peers.hasPeerChecks {
                    let interval = peers.hasUnwatched ? Core.unwatchedCheckInterval : Core.backstopInterval
                    let at = min(nextPeerCheck ?? now.advanced(by: interval), now.advanced(by: interval))
                    nextPeerCheck = at
                    checkAt = at
                    end = min(end, at)
                }
                if !reportedGone.isEmpty {
                    let goneAt = nextGoneCheck ?? now.advanced(by: Core.livenessInterval)
                    nextGoneCheck = goneAt
                    end = min(end, goneAt)
                }
                for entry in entries {
                    if let next = entry.source.nextDeadline?() { end = min(end, next) }
                }
                if let rest = changeRestUntil, rest.hasPassed { changeRestUntil = nil }
                if let rest = changeRestUntil, !peers.changeWords.isEmpty { end = min(end, rest) }
                let fired = sleepOnce(until: end, changeWords: changeRestUntil == nil ? peers.changeWords : [])
                if !fired.isEmpty { return fired }
                // Acquiring: pairs with `peerDidExit`'s releasing store (the subscription's
                // exit state is seen).
                if peerExited.exchange(false, ordering: .acquiring) {
                    refreshPeers(force: false)
                    let gone = checkPeers()
                    if !gone.isEmpty { return gone }
                }
                // The words were in this sleep (not resting): a moved one means a registration
                // or deregistration; a wake of one that did not move costs the same rest.
                if changeRestUntil == nil && (wokenOnChangeWord || peers.changeWordMoved) {
                    changeRestUntil = Deadline.now.advanced(by: Core.livenessInterval)
                    // A newcomer may have died already: its exit is watched from now on, so
                    // check once now.
                    refreshPeers(force: false)
                    let gone = checkPeers()
                    if !gone.isEmpty { return gone }
                }
                if let checkAt, checkAt.hasPassed {
                    nextPeerCheck = nil
                    refreshPeers(force: true)
                    let gone = checkPeers()
                    if !gone.isEmpty { return gone }
                }
                if let goneAt = nextGoneCheck, goneAt.hasPassed {
                    nextGoneCheck = nil
                    let gone = checkPeers(only: reportedGone)
                    if !gone.isEmpty { return gone }
                }
            }
        }

        /// The sleeper's half of the wake protocol on every word at once: announce on each, one
        /// barrier, re-check each source, sleep on all the words, withdraw from each; then the
        /// sources' readiness.
        ///
        /// `changeWords` (the segments' participant-table change words, with the values read
        /// before their tables were) are announced and slept on too, expecting those values, so
        /// a change since that read ends the sleep at once. With `futex_waitv`, only as many as
        /// fit in the one call beside the sources' words: a wait set whose words fill it leaves
        /// the rest to the timed checks rather than start a watcher thread at every sleep.
        private func sleepOnce(until end: Deadline, changeWords: [(wake: WaiterGatedWake, seen: UInt32)]) -> [Fired] {
            announced.removeAll(keepingCapacity: true)
            observed.removeAll(keepingCapacity: true)
            wokenOnChangeWord = false
            // SYNC POINT: acquiring; pairs with `interruptWait`'s releasing bump, so a sleeper
            // that reads the new value also sees `cancelled` set.
            let interruptSeen = interrupt.word.atomic.pointee.load(ordering: .acquiring)
            for entry in entries {
                for wake in entry.source.wakes {
                    // SYNC POINT: acquiring; pairs with the waker's releasing bump (see
                    // `WaiterGatedWake.announce`). Relaxed announcement: the one barrier below
                    // orders every announcement before every re-check.
                    observed.append(wake.word.atomic.pointee.load(ordering: .acquiring))
                    wake.waiters.pointee.wrappingAdd(1, ordering: .relaxed)
                    announced.append(wake)
                }
            }
            firstChangeWord = announced.count
            // The interrupt word takes one place of the call.
            let room =
                mechanism == .vectored && announced.count < Futex.vectorLimit
                ? Futex.vectorLimit - 1 - announced.count : Int.max
            for (wake, seen) in changeWords.prefix(room) {
                // Relaxed announcement: the barrier below orders it before the re-checks, as
                // above. The expected value is `seen`, read (acquiring) before the table.
                wake.waiters.pointee.wrappingAdd(1, ordering: .relaxed)
                announced.append(wake)
                observed.append(seen)
            }
            StoreLoad.barrier()
            var fired = poll()
            // Relaxed: read after the interrupt word's acquiring load above (their setters store
            // them before they bump it).
            if fired.isEmpty && !cancelled.load(ordering: .relaxed) && !peerExited.load(ordering: .relaxed) {
                sleep(until: end, interruptSeen: interruptSeen)
            }
            // Relaxed: the count only decides whether wakers make a syscall (as `withdraw`).
            for wake in announced { wake.withdraw() }
            if fired.isEmpty { fired = poll() }
            return fired
        }

        /// Sleeps on every announced word (and `interrupt`) until one changes or is woken, or
        /// `end` passes.
        private func sleep(until end: Deadline, interruptSeen: UInt32) {
            if mechanism == .vectored && announced.count < Futex.vectorLimit {
                vector.removeAll()
                vector.append(interrupt.word, expecting: interruptSeen)
                for (wake, value) in zip(announced, observed) { vector.append(wake.word, expecting: value) }
                let result = vector.wait(deadline: end)
                // Index 0 is `interrupt`, so announced word k is index k + 1.
                if case .woken(let index?) = result, index > firstChangeWord { wokenOnChangeWord = true }
                if result != .unsupported { return }
                // The process-wide probe said it exists; a call refused later (a seccomp filter
                // installed since) still falls back, for this wait set.
                mechanism = .watchers
            }
            sleepWithWatchers(until: end, interruptSeen: interruptSeen)
        }

        /// The fallback sleep: watcher threads sleep on the words (with `futex_waitv`, up to 127
        /// words and `interrupt` each; without it, one word each) while this thread sleeps on
        /// `interrupt`; the first watcher woken bumps `interrupt`.
        ///
        /// No wake-up is lost: the words were announced and re-checked before the watchers
        /// start, and each watcher sleeps only while its word still holds the value read then.
        /// The cost: a thread start per watcher per sleep, and one more wake-up hop.
        private func sleepWithWatchers(until end: Deadline, interruptSeen: UInt32) {
            let vectored = mechanism == .vectored
            let perWatcher = vectored ? Futex.vectorLimit - 1 : 1
            let words = Array(zip(announced.map(\.word), observed))
            let interrupt = self.interrupt
            let stop = StopFlag()
            // With `futex_waitv` this thread takes the first group itself.
            let own = vectored ? min(perWatcher, words.count) : 0
            var spawnFailed = false
            var start = own
            while start < words.count {
                let group = Array(words[start..<min(start + perWatcher, words.count)])
                start += perWatcher
                do {
                    // The closure holds the core, so `interrupt` outlives every watcher.
                    try PlatformThread.spawnDetached(name: "ipc-waitset") { [self] in
                        Core.watch(
                            group, vectored: vectored, interrupt: self.interrupt, seen: interruptSeen, stop: stop,
                            end: end)
                    }
                    // Relaxed: a statistic for tests.
                    Core.watchersStarted.add(1, ordering: .relaxed)
                } catch {
                    spawnFailed = true
                    break
                }
            }
            // No thread could be started: poll every millisecond rather than miss a wake-up.
            let ownEnd = spawnFailed ? min(end, Deadline.after(.milliseconds(1))) : end
            if vectored {
                vector.removeAll()
                vector.append(interrupt.word, expecting: interruptSeen)
                for (word, value) in words[0..<own] { vector.append(word, expecting: value) }
                _ = vector.wait(deadline: ownEnd)
            } else {
                _ = interrupt.word.wait(expecting: interruptSeen, deadline: ownEnd)
            }
            // Releasing: a watcher that reads the flag set skips its sleep.
            stop.value.store(true, ordering: .releasing)
            // Ends the vectored watchers' sleeps (they sleep on `interrupt` too).
            interrupt.bumpAndWake(count: Int32.max)
            if !vectored {
                // A plain watcher sleeps on its word alone: wake it there. Other sleepers on the
                // word wake spuriously and re-check; a watcher that has not slept yet sees the
                // flag, and one that slept just after this wake ends at `end`.
                for (word, _) in words[own...] { word.wakeAll() }
            }
        }

        private static func watch(
            _ group: [(FutexWord, UInt32)], vectored: Bool, interrupt: WaiterGatedWake, seen: UInt32,
            stop: StopFlag, end: Deadline
        ) {
            // Acquiring: pairs with the releasing store of the flag.
            guard !stop.value.load(ordering: .acquiring) else { return }
            if vectored {
                let vector = FutexWaitVector()
                vector.append(interrupt.word, expecting: seen)
                for (word, value) in group { vector.append(word, expecting: value) }
                _ = vector.wait(deadline: end)
            } else if let (word, value) = group.first {
                // A wake while the word still holds `value` is for another sleeper (a wait set
                // ending its round wakes every sleeper of its words, and a change word is shared
                // by every wait set on the segment): sleep again, so that two wait sets sharing
                // a word never wake each other in turn. Every waker of a source word changes it
                // before it wakes.
                // Acquiring: as the announcing load (pairs with the waker's releasing change).
                while word.atomic.pointee.load(ordering: .acquiring) == value
                    && !stop.value.load(ordering: .acquiring) && !end.hasPassed
                {
                    _ = word.wait(expecting: value, deadline: end)
                }
            }
            guard !stop.value.load(ordering: .acquiring) else { return }
            interrupt.bumpAndWake(count: Int32.max)
        }

        /// Ends a sleep from another thread (an `async` wait's cancellation).
        func interruptWait() {
            // Relaxed: the releasing bump below publishes it.
            cancelled.store(true, ordering: .relaxed)
            interrupt.bumpAndWake(count: Int32.max)
        }

        /// The flag that tells a round's watchers that the round is over.
        final class StopFlag: Sendable {
            let value = Atomic<Bool>(false)
        }
    }
}
