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

        /// How long a wait sleeps before it checks the sources' peers (the channels' interval).
        static let livenessInterval = ChannelControl.livenessInterval

        var entries: [Entry] = []
        private var nextToken = 0
        var mechanism = Mechanism.vectored
        /// When the sources' peers are checked next (per wait set, across waits, so that short
        /// waits in a loop still check them every interval).
        private var nextLivenessCheck: Deadline?
        /// A sequence word (no sleeper count needed: its wakers always wake) that ends a sleep
        /// from outside: an `async` wait's cancellation, and the fallback's watcher threads.
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
            return token
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

        /// The sources whose peers died (or whose segments are damaged), each once.
        private func checkPeers() -> [Fired] {
            var fired: [Fired] = []
            for entry in entries where entry.source.peerGone?() == true {
                fired.append(Fired(token: entry.token, count: 1))
            }
            return fired
        }

        /// Waits until a source fires, `deadline` passes, or (async waits) `cancelled` is set.
        func wait(deadline: Deadline) -> [Fired] {
            let ready = poll()
            if !ready.isEmpty { return ready }
            while true {
                // Relaxed: the interrupt word's acquiring load orders the flag (see `sleepOnce`).
                if deadline.hasPassed || cancelled.load(ordering: .relaxed) { return [] }
                let now = Deadline.now
                let livenessAt = nextLivenessCheck ?? now.advanced(by: Core.livenessInterval)
                nextLivenessCheck = livenessAt
                var end = min(deadline, livenessAt)
                for entry in entries {
                    if let next = entry.source.nextDeadline?() { end = min(end, next) }
                }
                let fired = sleepOnce(until: end)
                if !fired.isEmpty { return fired }
                if livenessAt.hasPassed {
                    nextLivenessCheck = Deadline.now.advanced(by: Core.livenessInterval)
                    let gone = checkPeers()
                    if !gone.isEmpty { return gone }
                }
            }
        }

        /// The sleeper's half of the wake protocol on every word at once: announce on each, one
        /// barrier, re-check each source, sleep on all the words, withdraw from each; then the
        /// sources' readiness.
        private func sleepOnce(until end: Deadline) -> [Fired] {
            announced.removeAll(keepingCapacity: true)
            observed.removeAll(keepingCapacity: true)
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
            StoreLoad.barrier()
            var fired = poll()
            // Relaxed: read after the interrupt word's acquiring load above.
            if fired.isEmpty && !cancelled.load(ordering: .relaxed) {
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
                if vector.wait(deadline: end) != .unsupported { return }
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
                _ = word.wait(expecting: value, deadline: end)
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
