import Synchronization

/// The engine behind `ThreadPool`: the queue, the workers' loop, parking and waking, counting.
///
/// The public `ThreadPool` owns one core; every worker thread holds a strong reference to it,
/// so the core outlives the public object until the last worker has exited.
///
/// Every "store, then check what the other side stored" handshake here uses the one StoreLoad
/// idiom (`StoreLoad.barrier()` between the two), and every futex sleep is a
/// `WaiterGatedWake` (`park`, `idle`, `space`).
///
/// Waking protocol (no lost wake-up, and no futex syscall while a worker is awake):
/// - a submitter publishes the job (a releasing store), issues the barrier, then reads the
///   parked count and `searching`; it issues a wake only if someone sleeps and nobody
///   searches, and only one wake is in flight at a time (`wakePending`);
/// - a worker about to sleep announces itself on `park` (which issues the barrier), then
///   looks at the queue once more and sleeps only if it is still empty;
/// - a searcher that found work and was the last searcher wakes a sleeper if more work is
///   queued, so that parallelism ramps up without the submitter paying for it.
///
/// Invariant: every wake a producer skips is owed by a worker that will look at the queue after
/// the producer's barrier, and that worker, if it leaves work queued, wakes a sleeper. A
/// producer skips because a searcher is counted (that searcher owes it) or because a wake is in
/// flight (the woken worker owes it, and searches first). A searcher pays as it leaves: with
/// jobs, the last one hands the rest on (`handOffRemainingWork`); empty-handed, it carries the
/// debt into its park's re-check, and a worker whose re-check finds work takes it and hands
/// the rest on in the same way (the skipped producers' jobs may be exactly what it found).
///
/// Shutdown protocol: `admit` counts a submission in `pending`, issues the barrier and then
/// reads the lifecycle; `shutdown` changes the lifecycle with a sequentially consistent
/// compare-and-swap; a worker exits when it reads a lifecycle other than `running`, then (after
/// the barrier) `pending == 0`. The compare-and-swap is ordered in the one total order of
/// sequentially consistent operations and fences, between the admitting thread's barrier
/// (which read the lifecycle before it) and the exiting worker's (which read it after), so a
/// worker that exits sees every submission that was admitted.
///
/// Delayed work waits in `timer` (`PoolTimer`), whose thread hands each due job to this queue
/// through `pushUnbounded`; nothing above depends on it, and a pool that never delays work never
/// starts that thread.
final class PoolCore: @unchecked Sendable {
    /// Which core (if any) the calling thread works for: the core's address while a worker of
    /// that core runs, `nil` elsewhere.
    static let workerSlot = ThreadLocalSlot()

    static let maximumBatch = 32
    static let maximumSpin: UInt64 = 50_000  // ns a worker searches before parking
    static let minimumSpin: UInt64 = 0
    static let waiterSpin: UInt64 = 20_000  // ns a waiting thread spins before parking
    static let unboundedRingCapacity = 1 << 15
    /// Spin iterations (PAUSE plus a look) before a spinning thread starts yielding its CPU
    /// between looks, so an oversubscribed machine still runs the thread being waited for.
    static let pureSpinIterations = 128

    /// One step of a spin-wait: a PAUSE while the wait is young, a `sched_yield` after.
    @inline(__always)
    static func spinStep(_ iteration: Int) {
        if iteration < pureSpinIterations { CPU.relax() } else { CurrentThread.yield() }
    }

    let threadCount: Int
    let namePrefix: String
    let queueCapacity: Int?
    let policy: ThreadPool.FullQueuePolicy
    let maximumSearchers: Int
    let ring: JobRing
    /// Jobs that did not fit in the ring of an unbounded pool (and Swift jobs of a full bounded
    /// pool, which must not be rejected). Workers look here when the ring is empty, and first
    /// at every 64th take, so that nothing waits here forever under sustained load; order is
    /// therefore only roughly the submission order once the ring has overflowed.
    let overflow = Mutex(JobDeque())
    /// Makes the mutual exclusion of `overflow` and `terminationWaiters` visible to the thread
    /// sanitizer, which cannot see inside `Synchronization.Mutex` (its futex lock lives in the
    /// uninstrumented standard library). Every critical section begins with `enterLocked` and
    /// ends with `leaveLocked` on this counter.
    let lockOrder = Atomic<Int>(0)

    /// Called first inside a critical section of the core's mutexes.
    @inline(__always)
    func enterLocked() {
        // SYNC POINT (acquire): pairs with `leaveLocked` of the previous critical section; the
        // mutex already orders them, this only shows it to the thread sanitizer.
        _ = lockOrder.load(ordering: .acquiring)
    }

    /// Called last inside a critical section of the core's mutexes.
    @inline(__always)
    func leaveLocked() {
        // SYNC POINT (release): pairs with `enterLocked` of the next critical section.
        lockOrder.add(1, ordering: .releasing)
    }

    /// Async `awaitTermination` callers, resumed by the last exiting worker.
    let terminationWaiters = Mutex<(terminated: Bool, continuations: [CheckedContinuation<Void, Never>])>(
        (false, []))
    /// Set once by `ThreadPool.init` before any job can run; Swift jobs run on it.
    nonisolated(unsafe) var taskExecutor: UnownedTaskExecutor? = nil

    // MARK: Shared counters, each on its own cache lines.
    private let shared = PaddedCounters(count: 8)
    /// Submitted jobs not yet retired (admitted but not yet queued, queued, or running).
    @inline(__always) var pending: UnsafeMutablePointer<Atomic<Int>> { shared[0] }
    /// Jobs in `overflow`.
    @inline(__always) var overflowCount: UnsafeMutablePointer<Atomic<Int>> { shared[1] }
    /// Workers looking for work while awake (spinning); see the waking protocol.
    @inline(__always) var searching: UnsafeMutablePointer<Atomic<Int>> { shared[2, 0] }
    /// 1 while a wake of one worker is in flight (set by its issuer, cleared by the woken
    /// worker, or by the issuer if the kernel found nobody to wake); limits wake syscalls.
    @inline(__always) var wakePending: UnsafeMutablePointer<Atomic<Int>> { shared[2, 1] }
    /// The raw value of a `Lifecycle`; read it through `lifecycle`.
    @inline(__always) var lifecycleWord: UnsafeMutablePointer<Atomic<Int>> { shared[3, 0] }
    // Statistics written off the hot path (line 4) and by the submitter (line 5).
    @inline(__always) var rejectedCount: UnsafeMutablePointer<Atomic<Int>> { shared[4, 0] }
    @inline(__always) var discardedCount: UnsafeMutablePointer<Atomic<Int>> { shared[4, 1] }
    @inline(__always) var cancelledCount: UnsafeMutablePointer<Atomic<Int>> { shared[4, 2] }
    @inline(__always) var callerSucceeded: UnsafeMutablePointer<Atomic<Int>> { shared[4, 3] }
    @inline(__always) var callerFailed: UnsafeMutablePointer<Atomic<Int>> { shared[4, 4] }
    @inline(__always) var peakDepth: UnsafeMutablePointer<Atomic<Int>> { shared[5, 0] }
    @inline(__always) var submissionsSampled: UnsafeMutablePointer<Atomic<Int>> { shared[5, 1] }
    /// How long (ns) waiting threads spin before they park: doubled when a spin saw its
    /// condition come true, halved when it had to park (like glibc's adaptive mutex), so an
    /// oversubscribed machine stops wasting the waited-for thread's CPU on spinning.
    @inline(__always) var waiterSpinBudget: UnsafeMutablePointer<Atomic<Int>> { shared[6, 0] }
    @inline(__always) var waiterSpinProbe: UnsafeMutablePointer<Atomic<Int>> { shared[6, 1] }

    /// Per worker (one line pair each): 0 jobs started, 1 succeeded, 2 failed, 3 skipped
    /// (cancelled, or run by a waiting thread). Written only by
    /// the owning worker.
    private let perWorker: PaddedCounters

    /// Parked workers: the word is an epoch (any value is valid) that notifiers bump before
    /// they wake; its count is the workers announced as about to sleep or sleeping. Moved by
    /// submitters, searchers and shutdown.
    let park = WaiterGatedWake.allocate()
    /// `waitUntilIdle`: an epoch bumped whenever `pending` reaches zero while a waiter is
    /// announced.
    let idle = WaiterGatedWake.allocate()
    /// Submitters blocked on a full bounded queue: an epoch bumped when a consumer frees slots
    /// while a submitter is announced, and at shutdown.
    let space = WaiterGatedWake.allocate()
    /// Futex word counting worker threads that have not exited yet: starts at the thread
    /// count, each exiting worker decrements it, and the one that makes it 0 wakes everybody
    /// in `awaitTermination`, who sleep while it is non-zero.
    let liveWord: FutexWord
    /// Where tests interpose; empty in pools made through the public API.
    let testHooks: TestHooks
    /// Delayed work (`execute(after:)`, `sleep(for:)`, …). Set once at the end of `init`, before
    /// the core is shared; its thread starts only with the first delayed entry.
    private(set) var timer: PoolTimer!

    init(
        threadCount: Int, namePrefix: String, queueCapacity: Int?, policy: ThreadPool.FullQueuePolicy,
        unboundedRingCapacity: Int = PoolCore.unboundedRingCapacity, testHooks: TestHooks = TestHooks()
    ) {
        self.testHooks = testHooks
        self.threadCount = threadCount
        self.namePrefix = namePrefix
        self.queueCapacity = queueCapacity
        self.policy = policy
        self.maximumSearchers = max(1, threadCount / 2)
        self.ring = JobRing(
            capacity: queueCapacity ?? unboundedRingCapacity,
            producersMayBlock: queueCapacity != nil && policy == .block)
        self.perWorker = PaddedCounters(count: threadCount)
        self.liveWord = FutexWord.allocate(initialValue: UInt32(threadCount))
        // Relaxed: no other thread can see the core yet.
        waiterSpinBudget.pointee.store(Int(Self.waiterSpin), ordering: .relaxed)
        timer = PoolTimer(core: self)
    }

    /// Spins until `condition()` holds or the adaptive budget runs out; returns whether it
    /// holds. Adjusts the budget for the next waiter: a wait that ended during the pure spin
    /// (no yield needed) grows it; one that needed yields or ran out shrinks it, so on an
    /// oversubscribed machine waiters soon park at once (a direct futex hand-off), and every
    /// 32nd wait probes with a full budget to find out whether spinning pays again.
    @inline(__always)
    func spinWait(until condition: () -> Bool) -> Bool {
        // Relaxed: a tuning hint; any value in range is fine.
        var budget = waiterSpinBudget.pointee.load(ordering: .relaxed)
        let probe = waiterSpinProbe.pointee.add(1, ordering: .relaxed).newValue & 31 == 0
        if probe { budget = Int(Self.waiterSpin) }
        // A spent budget means one look and no spinning: the thread we wait for may need
        // this very CPU.
        if budget == 0 { return condition() }
        let end = Deadline.now.uptimeNanoseconds &+ UInt64(budget)
        var iteration = 0
        while true {
            if condition() {
                let grown =
                    iteration < Self.pureSpinIterations
                    ? min(Int(Self.waiterSpin), budget * 2 + 1_000) : budget / 2
                waiterSpinBudget.pointee.store(grown, ordering: .relaxed)  // Relaxed: hint.
                return true
            }
            iteration &+= 1
            if iteration & 15 == 0 && Deadline.now.uptimeNanoseconds >= end { break }
            Self.spinStep(iteration)
        }
        waiterSpinBudget.pointee.store(budget / 2, ordering: .relaxed)  // Relaxed: hint.
        return false
    }

    deinit {
        ring.deallocate()
        shared.deallocate()
        perWorker.deallocate()
        park.deallocate()
        idle.deallocate()
        space.deallocate()
        liveWord.deallocate()
    }

    /// Whether the calling thread is one of this core's workers.
    @inline(__always)
    var isCurrentThreadWorker: Bool {
        Self.workerSlot.currentValue == Unmanaged.passUnretained(self).toOpaque()
    }

    /// Where the pool is in its life. Only moves forward: `running → draining | stopping`,
    /// `draining → stopping`.
    enum Lifecycle: Int, Comparable {
        case running = 0
        /// Graceful shutdown: no new work; queued work still runs.
        case draining = 1
        /// Immediate shutdown: no new work; queued work is discarded.
        case stopping = 2

        static func < (a: Lifecycle, b: Lifecycle) -> Bool { a.rawValue < b.rawValue }
    }

    /// The lifecycle.
    @inline(__always)
    var lifecycle: Lifecycle {
        // Relaxed: every reader either treats it as advisory or orders it with a barrier of its
        // own (see the shutdown protocol). Only `shutdown` stores it, and only raw values of
        // `Lifecycle`.
        Lifecycle(rawValue: lifecycleWord.pointee.load(ordering: .relaxed)).unsafelyUnwrapped
    }

    @inline(__always)
    var isAcceptingWork: Bool {
        // Relaxed: advisory only; `admit` decides after its barrier.
        lifecycle == .running
    }

    // MARK: - Admission and retirement

    /// Counts `count` new submissions; returns `false` (having undone the count) if the pool
    /// no longer accepts work.
    @inline(__always)
    func admit(_ count: Int) -> Bool {
        // Relaxed, then the barrier, then the lifecycle (see the shutdown protocol): either the
        // exiting workers see this submission pending (and wait for it), or we see the pool
        // closed. The job's data travels through the queue, not through `pending`.
        pending.pointee.add(count, ordering: .relaxed)
        StoreLoad.barrier()
        // Relaxed: ordered by the barrier above.
        if lifecycle != .running {
            retire(count)
            return false
        }
        return true
    }

    /// Marks `count` admitted jobs as done (run, skipped, discarded or rejected).
    @inline(__always)
    func retire(_ count: Int) {
        // SYNC POINT (release): everything the retired jobs did happens before an idle waiter's
        // (or an exiting worker's) acquiring read of `pending == 0`. The StoreLoad half of the
        // handshakes with idle waiters and exiting workers is the barrier in `becameIdle`.
        let remaining = pending.pointee.subtract(count, ordering: .releasing).newValue
        if remaining == 0 { becameIdle() }
    }

    private func becameIdle() {
        // The waker's half of `idle` (its barrier orders our decrement before both loads): an
        // idle waiter announced before it is woken; one announced after it reads zero.
        idle.wake(count: Int32.max)
        // Relaxed: after the barrier in `wake`; a shutdown we miss wakes the workers itself,
        // and they then read `pending` after a barrier of their own (see the shutdown protocol).
        if lifecycle != .running { wakeAllWorkers() }
    }

    // MARK: - Queueing

    /// Queues an admitted job, ignoring any bound (unbounded pools, and Swift jobs).
    @inline(__always)
    func pushUnbounded(_ job: PoolJob) {
        if ring.tryPush(job) {
            notifyWorkers()
            return
        }
        overflow.withLock { queue in
            enterLocked()
            defer { leaveLocked() }
            queue.append(job)
            // Relaxed: the lock hands the job over; `notifyWorkers` issues the barrier before it
            // looks for sleepers, and a parking worker reads this after its own.
            overflowCount.pointee.add(1, ordering: .relaxed)
        }
        notifyWorkers()
    }

    /// Queues admitted jobs into the overflow under one lock acquisition (the ring is full),
    /// then notifies the workers.
    func pushToOverflow(contentsOf jobs: some Collection<PoolJob>) {
        overflow.withLock { queue in
            enterLocked()
            defer { leaveLocked() }
            for job in jobs { queue.append(job) }
            // Relaxed: as in `pushUnbounded`.
            overflowCount.pointee.add(jobs.count, ordering: .relaxed)
        }
        notifyWorkers()
    }

    /// Records the queue depth after a push for `peakQueueDepth`: at every submission to a
    /// bounded queue, at every 8th to an unbounded one (reading the consumers' index costs a
    /// cache miss, which the latency path cannot afford each time).
    @inline(__always)
    func recordDepth() {
        if queueCapacity == nil {
            // Relaxed: only a sampling decision.
            let sample = submissionsSampled.pointee.add(1, ordering: .relaxed).newValue
            if sample & 7 != 0 { return }
        }
        let depth = ring.depthHint() &+ overflowCount.pointee.load(ordering: .relaxed)
        // Relaxed: a statistic; a CAS loop keeps it monotonic.
        var peak = peakDepth.pointee.load(ordering: .relaxed)
        while depth > peak {
            let (won, current) = peakDepth.pointee.weakCompareExchange(
                expected: peak, desired: depth, ordering: .relaxed)
            if won { break }
            peak = current
        }
    }

    /// Takes up to `limit` jobs, ring first, then the overflow.
    @inline(__always)
    func takeJobs(
        into buffer: UnsafeMutablePointer<PoolJob>, limit: Int, overflowFirst: Bool = false
    ) -> Int {
        // Relaxed: a hint; the lock synchronises the overflow itself.
        if overflowFirst && overflowCount.pointee.load(ordering: .relaxed) > 0 {
            let taken = takeFromOverflow(into: buffer)
            if taken > 0 { return taken }
        }
        let n = ring.popBatch(into: buffer, limit: limit)
        if n > 0 {
            if ring.producersMayBlock { wakeBlockedSubmitters() }
            return n
        }
        // Relaxed: a hint (the lock synchronises the overflow itself); a worker that misses a
        // job here finds it in `park`'s re-check, after the barrier.
        if overflowCount.pointee.load(ordering: .relaxed) > 0 {
            return takeFromOverflow(into: buffer)
        }
        return 0
    }

    private func takeFromOverflow(into buffer: UnsafeMutablePointer<PoolJob>) -> Int {
        overflow.withLock { queue in
            enterLocked()
            defer { leaveLocked() }
            let taken = queue.popFirst(into: buffer, limit: Self.maximumBatch)
            // Relaxed: the lock orders it with the producers' adds.
            overflowCount.pointee.subtract(taken, ordering: .relaxed)
            return taken
        }
    }

    /// Whether a job may be queued; callers issue the barrier first (see the waking protocol).
    func hasWork() -> Bool {
        // Relaxed: ordered by the caller's barrier; the take itself synchronises.
        ring.mayHaveWork() || overflowCount.pointee.load(ordering: .relaxed) > 0
    }

    /// The waker's half of `space`, after a consumer freed slots: wakes the blocked submitters
    /// if one is announced.
    func wakeBlockedSubmitters() { space.wake(count: Int32.max) }

    /// Blocks the admitted submitter until `job` fits in the bounded ring.
    func blockUntilPushed(_ job: PoolJob) throws(ThreadPool.SubmitError) {
        while true {
            // The sleeper's half of `space`: announce, re-check by retrying the ring, sleep.
            let epoch = space.announce()
            if ring.tryPush(job) {
                space.withdraw()
                notifyWorkers()
                return
            }
            // Relaxed: after the barrier in `announce`; `shutdown` bumps `space` after it
            // changes the lifecycle, so a change we miss ends the sleep below.
            if lifecycle != .running {
                space.withdraw()
                throw .shutDown
            }
            _ = space.sleep(expecting: epoch, deadline: .never)
            space.withdraw()
        }
    }

    // MARK: - Waking workers

    /// Called by a producer after publishing a job: wakes one sleeping worker if nobody awake
    /// is looking for work. Free of syscalls when a worker is searching or nobody sleeps.
    @inline(__always)
    func notifyWorkers() {
        // The waker's half of `park` (publish, barrier, look for sleepers).
        if !park.hasWaitersAfterPublishing { return }
        // Relaxed: after the barrier above. A searcher decrements `searching` and issues the
        // barrier before its last look at the queue, so if we still see it searching it will
        // see our job.
        if searching.pointee.load(ordering: .relaxed) != 0 { return }
        wakeOneWorker()
    }

    private func wakeOneWorker() {
        while true {
            // Relaxed: read after the caller's barrier, which follows its publication; the woken
            // worker clears the flag and issues the barrier before it looks for work, so a
            // notifier that saw the flag set published its job before that look.
            if wakePending.pointee.exchange(1, ordering: .relaxed) != 0 { return }
            if park.bumpAndWake(count: 1) > 0 { return }  // it clears the flag
            // Nobody was asleep in the kernel (a registered sleeper will see the new epoch):
            // nobody will clear the flag, so we do. While it was up, other notifiers may have
            // skipped their wake because of it; look again on their behalf (their jobs were
            // published before they read the flag, so `hasWork` sees them).
            // Relaxed, then the barrier, then the loads: pairs with those notifiers' barriers.
            wakePending.pointee.store(0, ordering: .relaxed)
            guard park.hasWaitersAfterPublishing,
                searching.pointee.load(ordering: .relaxed) == 0,  // Relaxed: after the barrier.
                hasWork()
            else { return }
            CPU.relax()
        }
    }

    func wakeAllWorkers() { park.wakeAll() }

    // MARK: - Worker loop

    func workerMain(index: Int) {
        Self.workerSlot.currentValue = Unmanaged.passUnretained(self).toOpaque()
        let buffer = UnsafeMutablePointer<PoolJob>.allocate(capacity: Self.maximumBatch)
        var batchLimit = 1
        var spin = Self.maximumSpin
        var searches = 0
        var takes = 0
        var woken = false
        // Whether the last park ended because its re-check found work (the caller then takes
        // it and hands the rest on, like a leaving searcher).
        var resumedWithWork = false
        while true {
            var count: Int
            if woken {
                // A woken worker searches first: it clears the in-flight wake flag and, finding
                // more work than it takes, wakes the next sleeper (parallelism ramps up).
                woken = false
                count = search(
                    into: buffer, limit: batchLimit, spin: &spin, force: true, searchCount: &searches)
            } else {
                takes &+= 1
                count = takeJobs(into: buffer, limit: batchLimit, overflowFirst: takes & 63 == 0)
                if resumedWithWork {
                    // The re-check that found this work may have inherited a searcher's debt (see
                    // the waking protocol). Its barrier (the announcement's) comes after this
                    // worker stopped counting as a searcher, so it orders the loads in the
                    // hand-off as a leaving searcher's barrier does.
                    resumedWithWork = false
                    if count > 0 { handOffRemainingWork() }
                }
            }
            if count == 0 {
                if shouldExit() { break }
                count = search(
                    into: buffer, limit: batchLimit, spin: &spin, force: false, searchCount: &searches)
                if count == 0 {
                    switch parkUntilNotified() {
                    case .ready: resumedWithWork = true
                    case .woken, .timedOut: woken = true
                    }
                    continue
                }
            }
            // Relaxed: only the pool's shutdown moves it; a batch popped just before an
            // immediate shutdown may still run, as documented.
            if lifecycle == .stopping {
                for k in 0..<count { discard((buffer + k).move()) }
                retire(count)
                continue
            }
            let started = Deadline.now.uptimeNanoseconds
            runBatch(buffer, count: count, worker: index)
            let elapsed = Deadline.now.uptimeNanoseconds &- started
            // Adaptive batching: grow while batches are quick (tiny tasks), shrink to single
            // jobs as soon as they are not, so long tasks are never held back behind another.
            if elapsed < 20_000 {
                if count == batchLimit { batchLimit = min(batchLimit * 2, Self.maximumBatch) }
            } else {
                batchLimit = 1
            }
            retire(count)
        }
        buffer.deallocate()
        Self.workerSlot.currentValue = nil
        threadsExited(1)
    }

    /// Counts `count` worker threads as exited (or never started); the last one wakes
    /// `awaitTermination` and resumes the async waiters.
    func threadsExited(_ count: Int) {
        // SYNC POINT (release): the workers' last effects happen before `awaitTermination`'s
        // acquiring read of zero.
        let left = liveWord.atomic.pointee.subtract(UInt32(count), ordering: .releasing).newValue
        if left == 0 {
            liveWord.wakeAll()
            let waiting = terminationWaiters.withLock { state in
                enterLocked()
                defer { leaveLocked() }
                state.terminated = true
                let list = state.continuations
                state.continuations.removeAll()
                return list
            }
            for continuation in waiting { continuation.resume() }
        }
    }

    @inline(__always)
    private func runBatch(_ buffer: UnsafeMutablePointer<PoolJob>, count: Int, worker: Int) {
        let startedCounter = perWorker[worker, 0]
        // Relaxed: single writer (this worker); readers only want a statistic.
        startedCounter.pointee.store(
            startedCounter.pointee.load(ordering: .relaxed) &+ count, ordering: .relaxed)
        var succeeded = 0
        var failed = 0
        var skipped = 0
        for k in 0..<count {
            switch (buffer + k).move() {
            case .closure(let body):
                body()
                succeeded &+= 1
            case .task(let task):
                switch task.runIfQueued() {
                case .succeeded: succeeded &+= 1
                case .failed: failed &+= 1
                case .skipped: skipped &+= 1
                }
            case .swiftJob(let job):
                job.runSynchronously(on: taskExecutor!)
                succeeded &+= 1
            }
        }
        recordOutcome(worker: worker, succeeded: succeeded, failed: failed, skipped: skipped)
    }

    @inline(__always)
    func recordOutcome(worker: Int, succeeded: Int, failed: Int, skipped: Int) {
        // Relaxed: single writer (the owning worker); statistics only.
        let s = perWorker[worker, 1]
        s.pointee.store(s.pointee.load(ordering: .relaxed) &+ succeeded, ordering: .relaxed)
        if failed > 0 {
            let f = perWorker[worker, 2]
            f.pointee.store(f.pointee.load(ordering: .relaxed) &+ failed, ordering: .relaxed)
        }
        if skipped > 0 {
            let k = perWorker[worker, 3]
            k.pointee.store(k.pointee.load(ordering: .relaxed) &+ skipped, ordering: .relaxed)
        }
    }

    private func shouldExit() -> Bool {
        // Relaxed: see the shutdown protocol; the barrier orders the `pending` read after it.
        guard lifecycle != .running else { return false }
        StoreLoad.barrier()
        // SYNC POINT (acquire): pairs with the releasing decrement in `retire`, so the retired
        // jobs' effects happen before the worker exits.
        return pending.pointee.load(ordering: .acquiring) == 0
    }

    /// Spins as a searcher for up to `spin` ns; returns the jobs found (0 if none).
    private func search(
        into buffer: UnsafeMutablePointer<PoolJob>, limit: Int, spin: inout UInt64, force: Bool,
        searchCount: inout Int
    ) -> Int {
        // Relaxed: the count only lets producers skip a wake; a producer that sees it raised
        // relies on the decrement and barrier below, not on this increment.
        var current = searching.pointee.load(ordering: .relaxed)
        while true {
            if !force && current >= maximumSearchers { return 0 }
            let (won, now) = searching.pointee.weakCompareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if won { break }
            current = now
        }
        if force {
            // A woken worker clears the in-flight flag, then issues the barrier, before looking
            // (see `wakeOneWorker`). Relaxed: the barrier orders it.
            wakePending.pointee.store(0, ordering: .relaxed)
            StoreLoad.barrier()
        }
        // Every 32nd search probes with the full budget (see `spinWait`).
        searchCount &+= 1
        let budget = searchCount & 31 == 0 ? Self.maximumSpin : spin
        let deadline = Deadline.now.uptimeNanoseconds &+ budget
        var found = 0
        var iteration = 0
        while true {
            found = takeJobs(into: buffer, limit: limit)
            if found > 0 || budget == 0 { break }  // spent budget: one look, no spinning
            iteration &+= 1
            if iteration & 15 == 0 {
                if Deadline.now.uptimeNanoseconds >= deadline || shouldExit() { break }
            }
            Self.spinStep(iteration)
        }
        if found == 0, let hook = testHooks.searchFoundNothing { hook(self) }
        // Relaxed, then a barrier before the next look at the queue (below, or `park`'s): a
        // producer that still saw us searching published its job before its own barrier, so
        // that look sees the job.
        let before = searching.pointee.subtract(1, ordering: .relaxed).oldValue
        if found > 0 {
            // Found during the pure spin: spinning pays, grow the budget; else shrink it.
            spin = iteration < Self.pureSpinIterations ? min(spin * 2 + 1_000, Self.maximumSpin) : spin / 2
            // The last searcher leaving with work still queued wakes a sleeper (the producers
            // skipped the wake because we were searching).
            if before == 1 {
                StoreLoad.barrier()
                handOffRemainingWork()
            }
        } else {
            spin = max(spin / 2, Self.minimumSpin)
        }
        return found
    }

    /// Wakes a sleeper if work is still queued: the last step of a worker that took jobs while
    /// producers may have skipped their wakes on its account (see the waking protocol).
    ///
    /// Callers issue the barrier after they stopped counting as a searcher and before this.
    @inline(__always)
    private func handOffRemainingWork() {
        // Relaxed: after the caller's barrier. A producer that saw this worker searching
        // published its job before its own barrier, so `hasWork` sees it; a sleeper that
        // announced itself before our barrier is counted here, and one that announces after
        // it sees the job in its own re-check.
        if hasWork() && park.waiters.pointee.load(ordering: .relaxed) != 0 { wakeOneWorker() }
    }

    /// Sleeps until notified, unless work or the end arrived meanwhile (`.ready`: the caller
    /// takes the work and hands the rest on).
    private func parkUntilNotified() -> WaiterGatedWake.SleepOutcome {
        // The sleeper's half of `park`, the partner of `notifyWorkers`.
        park.sleep(until: .never) { hasWork() || shouldExit() }
    }

    // MARK: - Inline runs, discarding, shutdown

    /// Runs an admitted job on the calling thread (caller-runs policy, or a worker submitting
    /// to its own full queue), then retires it.
    func runOnCaller(_ job: PoolJob) {
        var ok = true
        switch job {
        case .closure(let body): body()
        case .task(let task): ok = task.runIfQueued() != .failed
        case .swiftJob(let job): job.runSynchronously(on: taskExecutor!)
        }
        // Relaxed: statistics.
        (ok ? callerSucceeded : callerFailed).pointee.add(1, ordering: .relaxed)
        retire(1)
    }

    /// Drops a queued job at immediate shutdown (Swift jobs go to the global executor);
    /// returns whether it counts as discarded.
    @discardableResult
    func discard(_ job: PoolJob) -> Bool {
        var counted = false
        switch job {
        case .closure:
            counted = true
        case .task(let task):
            counted = task.discard()
        case .swiftJob(let job):
            // A Swift job cannot be dropped without leaving its task suspended forever.
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
        }
        if counted { discardedCount.pointee.add(1, ordering: .relaxed) }  // Relaxed: statistic.
        return counted
    }

    /// Starts a shutdown; returns how many jobs this call discarded, and how many of those were
    /// still waiting for their delay.
    func shutdown(immediate: Bool) -> (discarded: Int, delayed: Int) {
        let target = (immediate ? Lifecycle.stopping : .draining).rawValue
        // Relaxed: a first look; the compare-and-swap decides.
        var current = lifecycleWord.pointee.load(ordering: .relaxed)
        while current < target {
            // Sequentially consistent: the pool's one such operation, which places the change
            // in the total order between `admit`'s barrier and an exiting worker's (see the
            // shutdown protocol).
            let (won, now) = lifecycleWord.pointee.compareExchange(
                expected: current, desired: target, ordering: .sequentiallyConsistent)
            if won { break }
            current = now
        }
        // Unconditionally: a blocked submitter that missed the change sleeps on the old epoch.
        space.wakeAll()
        // After the change: the timer thread reads the lifecycle under the lock this takes.
        let delayedJobs = timer.poolShutDown(immediate: immediate)
        var discarded = 0
        var delayed = 0
        for job in delayedJobs where discard(job) { delayed += 1 }
        if !delayedJobs.isEmpty { retire(delayedJobs.count) }
        if immediate {
            let buffer = UnsafeMutablePointer<PoolJob>.allocate(capacity: Self.maximumBatch)
            while true {
                let n = takeJobs(into: buffer, limit: Self.maximumBatch)
                if n == 0 { break }
                for k in 0..<n where discard((buffer + k).move()) { discarded += 1 }
                retire(n)
            }
            buffer.deallocate()
        }
        wakeAllWorkers()
        return (discarded + delayed, delayed)
    }

    // MARK: - Waiting

    /// Waits until `pending` is zero or `deadline` passes; returns whether it is zero.
    func waitUntilIdle(deadline: Deadline) -> Bool {
        // SYNC POINT (acquire, every read of `pending` here): pairs with the releasing
        // decrement in `retire`: the effects of every retired job are visible once we read zero.
        if pending.pointee.load(ordering: .acquiring) == 0 { return true }
        if spinWait(until: { pending.pointee.load(ordering: .acquiring) == 0 }) { return true }
        while true {
            // The sleeper's half of `idle`, the partner of `becameIdle`.
            switch idle.sleep(until: deadline, unless: { pending.pointee.load(ordering: .acquiring) == 0 }) {
            case .ready: return true
            case .timedOut: return pending.pointee.load(ordering: .acquiring) == 0
            case .woken: continue
            }
        }
    }

    /// Waits until every worker thread has exited or `deadline` passes.
    func awaitTermination(deadline: Deadline) -> Bool {
        while true {
            // SYNC POINT (acquire): pairs with each exiting worker's release decrement.
            let live = liveWord.atomic.pointee.load(ordering: .acquiring)
            if live == 0 { return true }
            if liveWord.wait(expecting: live, deadline: deadline) == .timedOut {
                return liveWord.atomic.pointee.load(ordering: .acquiring) == 0
            }
        }
    }

    // MARK: - Statistics

    func workerTotals() -> (started: Int, succeeded: Int, failed: Int, skipped: Int) {
        var totals = (0, 0, 0, 0)
        for w in 0..<threadCount {
            // Relaxed: statistics; each counter is monotonic.
            totals.0 &+= perWorker[w, 0].pointee.load(ordering: .relaxed)
            totals.1 &+= perWorker[w, 1].pointee.load(ordering: .relaxed)
            totals.2 &+= perWorker[w, 2].pointee.load(ordering: .relaxed)
            totals.3 &+= perWorker[w, 3].pointee.load(ordering: .relaxed)
        }
        return totals
    }

    var queuedCount: Int {
        // Relaxed: a statistic.
        ring.approximateCount + overflowCount.pointee.load(ordering: .relaxed)
    }
}
