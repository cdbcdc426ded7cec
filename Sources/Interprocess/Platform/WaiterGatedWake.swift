import Synchronization

/// The StoreLoad barrier every waiter-gated handshake in Interprocess uses.
///
/// A release store followed by an acquire (or even sequentially consistent) load of *another*
/// word may be reordered: on x86 the store waits in the store buffer while the load runs, so
/// two threads that each store their word and then load the other's can both miss the other's
/// store (the store-buffering litmus test; `Tools/StoreLoadBenchmark` shows it happening). A
/// protocol of the form "I store, then check whether you stored" on both sides (announce a
/// sleeper, then re-check the condition; publish a change, then check for sleepers) needs a
/// StoreLoad barrier on both sides.
///
/// The one idiom: the side's own store with whatever ordering its data needs (often relaxed),
/// then ``barrier()``, then the load, relaxed. ``barrier()`` is Swift's sequentially consistent
/// fence, so the guarantee is the memory model's, on every architecture: of two threads that
/// each store, fence and then load the other's word, at least one loads the other's store.
/// It orders atomics only: data handed over still travels through release and acquire
/// operations of its own.
///
/// Why this idiom: it is the only one of the three the code used (a sequentially consistent
/// read-modify-write as the announcing store; a relaxed store plus an inline-assembly fence in
/// the C shim; sequentially consistent stores and loads on both sides) that fits both halves
/// of the protocol without changing the caller's own store, and it costs no more than the
/// others: LLVM compiles it on x86-64 to the same locked add to the stack the inline assembly
/// used (cheaper than MFENCE), and on arm64 to `dmb ish`. BENCHMARKS.md, "StoreLoad idiom",
/// has the figures and how to rerun them.
@usableFromInline
package enum StoreLoad {
    /// Orders every store before it before every load after it, for atomics of every thread
    /// that also issues a barrier between its store and its load.
    @inlinable @inline(__always)
    package static func barrier() { atomicMemoryFence(ordering: .sequentiallyConsistent) }
}

/// A futex word and a count of announced sleepers: the sleepers' and wakers' handshake that
/// makes a wake free of syscalls while nobody sleeps, and never loses a wake-up.
///
/// ## Layout
/// Two 32-bit words: the futex word at offset 0, the sleeper count at offset 4. In shared
/// memory they sit at the owner's offset (``init(at:)``); for in-process use they are
/// allocated on a 128-byte block of their own (``allocate(initialValue:)``).
///
/// ## The protocol
/// - A sleeper reads the word, announces itself (count + 1), issues the ``StoreLoad``
///   barrier, re-checks its condition, and only then sleeps while the word still holds the
///   value it read; afterwards it withdraws (count − 1).
/// - A waker publishes its change, issues the barrier, and only if the count is non-zero
///   changes the word and wakes.
///
/// Either the sleeper's re-check sees the change, or the waker sees the sleeper; a waker that
/// changes the word after the sleeper read it makes the sleep return at once. The word is
/// either a *sequence* the waker bumps (``wake(count:)``: conditions, channel wake-ups, the
/// pool's epochs) or the *value* the condition is about, changed by the waker itself
/// (``wakeAfterChange(count:)``: a semaphore's count, an event's state).
///
/// Both words change with wrapping arithmetic: in shared memory another process can leave any
/// value there. A wrong count costs a spurious syscall or wake-up, never a crash or a lost
/// wake-up; a sleeper that dies leaves the count too high, which costs wakers a useless
/// syscall.
@usableFromInline
package struct WaiterGatedWake: @unchecked Sendable {
    /// The futex word.
    @usableFromInline package let word: FutexWord

    /// Names the pair at `base` (futex word at `base`, sleeper count at `base + 4`), which the
    /// owner initialised.
    ///
    /// - Precondition: `base` is 4-byte aligned.
    @inlinable
    package init(at base: UnsafeMutableRawPointer) { word = FutexWord(at: base) }

    /// Allocates a pair on the heap, on a 128-byte block of its own (two cache lines, so the
    /// adjacent-line prefetcher does not couple it to its neighbours), with the word holding
    /// `initialValue` and no sleeper; release it with ``deallocate()``.
    package static func allocate(initialValue: UInt32 = 0) -> WaiterGatedWake {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 128)
        let words = raw.bindMemory(to: Atomic<UInt32>.self, capacity: 2)
        words.initialize(to: Atomic(initialValue))
        (words + 1).initialize(to: Atomic(0))
        return WaiterGatedWake(at: raw)
    }

    /// Releases a pair made by ``allocate(initialValue:)``, once nobody uses it.
    package func deallocate() {
        word.atomic.deinitialize(count: 2)
        UnsafeMutableRawPointer(word.address).deallocate()
    }

    /// The number of announced sleepers.
    @inlinable
    package var waiters: UnsafeMutablePointer<Atomic<UInt32>> { word.atomic + 1 }

    // MARK: The sleeper's half

    /// Reads the word and announces a sleeper, then issues the barrier; returns the value read.
    ///
    /// The caller re-checks its condition next, then either ``withdraw()``s or sleeps with
    /// ``sleep(expecting:deadline:)`` on the value returned (and withdraws after).
    @inlinable @inline(__always)
    package func announce() -> UInt32 {
        // SYNC POINT: acquiring; pairs with the waker's releasing bump in `wake(count:)`, so a
        // sleeper that reads the new sequence also sees what the waker published before it.
        let observed = word.atomic.pointee.load(ordering: .acquiring)
        // Relaxed: the barrier below orders the announcement before the re-check.
        waiters.pointee.wrappingAdd(1, ordering: .relaxed)
        StoreLoad.barrier()
        return observed
    }

    /// Takes back an announcement.
    @inlinable @inline(__always)
    package func withdraw() {
        // Relaxed: the count only decides whether wakers make a syscall; it orders nothing.
        waiters.pointee.wrappingSubtract(1, ordering: .relaxed)
    }

    /// Sleeps while the word holds `observed` (the value ``announce()`` returned), until woken
    /// or `deadline` passes.
    @inlinable
    package func sleep(expecting observed: UInt32, deadline: Deadline) -> Futex.WaitResult {
        word.wait(expecting: observed, deadline: deadline)
    }

    /// How one ``sleep(until:unless:)`` ended.
    @usableFromInline
    package enum SleepOutcome: Sendable, Equatable {
        /// The re-check after the announcement held; the caller did not sleep.
        case ready
        /// Woken, or the word had changed already, or a signal: re-check.
        case woken
        /// The deadline passed.
        case timedOut
    }

    /// One round of the sleeper's half: announce, re-check `ready`, sleep unless it holds,
    /// withdraw.
    ///
    /// A word that changes before every sleep (wakers that publish for other sleepers, a
    /// hostile writer) returns each round at once; a caller with a deadline checks it after
    /// every ``SleepOutcome/woken`` itself.
    @inlinable @inline(__always)
    package func sleep(until deadline: Deadline, unless ready: () -> Bool) -> SleepOutcome {
        let observed = announce()
        if ready() {
            withdraw()
            return .ready
        }
        let result = sleep(expecting: observed, deadline: deadline)
        withdraw()
        return result == .timedOut ? .timedOut : .woken
    }

    // MARK: The waker's half

    /// Whether a sleeper is announced, read after the barrier; call after publishing.
    ///
    /// For wakers that decide more than "wake or not" (the pool's); the others use
    /// ``wake(count:)`` or ``wakeAfterChange(count:)``.
    @inlinable @inline(__always)
    package var hasWaitersAfterPublishing: Bool {
        StoreLoad.barrier()
        // Relaxed: the barrier above orders this load after the caller's publication.
        return waiters.pointee.load(ordering: .relaxed) != 0
    }

    /// The waker's half for a sequence word: after publishing a change, if a sleeper is
    /// announced, bumps the sequence and wakes at most `count` sleepers.
    @inlinable @inline(__always)
    package func wake(count: Int32) {
        if hasWaitersAfterPublishing { bumpAndWake(count: count) }
    }

    /// The waker's half for a value word: after changing the word itself, wakes at most
    /// `count` sleepers if one is announced.
    @inlinable @inline(__always)
    package func wakeAfterChange(count: Int32) {
        if hasWaitersAfterPublishing { word.wake(count: count) }
    }

    /// Bumps the sequence and wakes at most `count` sleepers, whether or not one is announced;
    /// returns how many the kernel woke.
    @inlinable @discardableResult
    package func bumpAndWake(count: Int32) -> Int {
        // Releasing: a sleeper that sees the new sequence (its futex wait returns at once) also
        // sees what we published before it.
        word.atomic.pointee.wrappingAdd(1, ordering: .releasing)
        return word.wake(count: count)
    }

    /// Bumps the sequence and wakes every sleeper unconditionally (close, cancellation,
    /// shutdown).
    @inlinable
    package func wakeAll() { bumpAndWake(count: Int32.max) }
}
