import Synchronization
import SystemPackage

/// The pool's delayed work: one min-heap of entries by deadline (`CLOCK_MONOTONIC`), serviced by
/// one timer thread that the first delayed submission starts.
///
/// Why one thread and not the workers: a worker that kept the heap would have to sleep until the
/// earliest deadline and still be woken both by new work on `park` and by an earlier entry,
/// which changes the workers' loop and its waking protocol for every pool; the timer thread
/// leaves both untouched, costs nothing to a pool that never delays work, and hands each due
/// entry to the ordinary queue, so a due job waits for a worker exactly as a submitted one does.
///
/// The timer thread (`<prefix>timer`) sleeps on `word` until the heap's earliest deadline. The
/// word is an epoch: an insertion that becomes the earliest entry, and the pool's shutdown, bump
/// it under the lock and wake the thread; the thread reads the
/// epoch under the lock together with the heap, so a change it did not see makes its futex wait
/// return at once. An entry that does not become the root costs no syscall.
///
/// Entries and their ownership (whoever takes an entry out of the heap, under the lock, owns it):
/// - `job`: a closure or a task with a handle from `execute(after:)` / `submit(after:)`,
///   admitted (counted in `pending`) when submitted, so `waitUntilIdle` and a graceful shutdown
///   wait for it; its owner queues it when due, discards it at an immediate shutdown, or retires
///   it when its handle cancels it;
/// - `sleep`: a task suspended in `sleep(for:)`; resumed when due, or with `CancellationError`
///   by its cancellation handler; never discarded, and not counted in `pending` (a suspended
///   task is not queued work).
///
/// The thread exits once the pool has shut down and the heap is empty; a later entry (a sleep,
/// or a job admitted just before the shutdown) starts a new one.
final class PoolTimer: @unchecked Sendable {
    /// One delayed item. `deadline` is fixed; every other field is guarded by the timer's lock.
    final class Entry: @unchecked Sendable {
        enum Work {
            case job(PoolJob)
            /// `nil` until the sleeping task's continuation is registered.
            case sleep(CheckedContinuation<Void, any Error>?)
            /// Taken out of the heap (fired, cancelled or discarded); nothing left to do.
            case done
        }

        /// Nanoseconds on `CLOCK_MONOTONIC`.
        let deadline: UInt64
        var work: Work
        /// Ties between equal deadlines break by this, so equal delays keep submission order.
        var sequence: UInt64 = 0
        /// The entry's index in the heap, or -1 while it is not there.
        var heapIndex = -1
        /// A sleep whose task was cancelled before its continuation was registered.
        var cancelledEarly = false
        /// The timer took it out at its time (a job is then in the queue).
        var fired = false

        init(deadline: UInt64, work: Work) {
            self.deadline = deadline
            self.work = work
        }

        @inline(__always)
        func precedes(_ other: Entry) -> Bool {
            deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
        }
    }

    struct State {
        var heap: [Entry] = []
        var nextSequence: UInt64 = 0
        /// Whether a timer thread (or the fallback task) services the heap.
        var serviced = false
        /// Set by an immediate shutdown: a job entry that arrives afterwards (admitted just before
        /// the shutdown) is discarded at once instead of waiting for its time.
        var discardsJobs = false
        /// Job entries in the heap (for `Metrics.delayed`).
        var jobCount = 0
    }

    private unowned let core: PoolCore
    private let state = Mutex(State())
    /// The timer thread's futex word: an epoch (any value is valid), bumped under the lock.
    private let word = FutexWord.allocate(initialValue: 0)

    init(core: PoolCore) { self.core = core }

    deinit { word.deallocate() }

    // MARK: - The heap (callers hold the lock)

    private static func siftUp(_ heap: inout [Entry], _ start: Int) {
        var child = start
        let entry = heap[child]
        while child > 0 {
            let parent = (child - 1) / 2
            guard entry.precedes(heap[parent]) else { break }
            heap[child] = heap[parent]
            heap[child].heapIndex = child
            child = parent
        }
        heap[child] = entry
        entry.heapIndex = child
    }

    private static func siftDown(_ heap: inout [Entry], _ start: Int) {
        var parent = start
        let entry = heap[parent]
        let count = heap.count
        while true {
            var child = 2 * parent + 1
            guard child < count else { break }
            if child + 1 < count && heap[child + 1].precedes(heap[child]) { child += 1 }
            guard heap[child].precedes(entry) else { break }
            heap[parent] = heap[child]
            heap[parent].heapIndex = parent
            parent = child
        }
        heap[parent] = entry
        entry.heapIndex = parent
    }

    /// Removes the entry at `index`; returns it.
    private static func remove(at index: Int, from s: inout State) -> Entry {
        let entry = s.heap[index]
        let last = s.heap.removeLast()
        if index < s.heap.count {
            s.heap[index] = last
            last.heapIndex = index
            siftDown(&s.heap, index)
            if last.heapIndex == index { siftUp(&s.heap, index) }
        }
        entry.heapIndex = -1
        if case .job = entry.work { s.jobCount -= 1 }
        return entry
    }

    /// Inserts `entry`; returns whether it became the earliest.
    private static func insert(_ entry: Entry, into s: inout State) -> Bool {
        entry.sequence = s.nextSequence
        s.nextSequence &+= 1
        s.heap.append(entry)
        siftUp(&s.heap, s.heap.count - 1)
        if case .job = entry.work { s.jobCount += 1 }
        return entry.heapIndex == 0
    }

    // MARK: - Scheduling

    /// What the caller does after an insertion, outside the lock.
    private enum AfterInsert {
        case nothing
        case wakeThread
        case startThread
    }

    /// Adds an entry holding an admitted job (`execute(after:)`, `submit(after:)`).
    func schedule(job entry: Entry) {
        let after = state.withLock { s -> AfterInsert? in
            core.enterLocked()
            defer { core.leaveLocked() }
            if s.discardsJobs { return nil }
            return Self.insert(entry, into: &s) ? wakeOrStart(&s) : .nothing
        }
        guard let after else {
            // An immediate shutdown ran between this job's admission and now.
            if case .job(let job) = entry.work { core.discard(job) }
            entry.work = .done
            core.retire(1)
            return
        }
        perform(after)
    }

    /// Registers a sleeping task's continuation; resumes it at once (throwing) if its task was
    /// cancelled first.
    func schedule(sleep entry: Entry, continuation: CheckedContinuation<Void, any Error>) {
        let after = state.withLock { s -> AfterInsert? in
            core.enterLocked()
            defer { core.leaveLocked() }
            if entry.cancelledEarly { return nil }
            entry.work = .sleep(continuation)
            return Self.insert(entry, into: &s) ? wakeOrStart(&s) : .nothing
        }
        guard let after else {
            continuation.resume(throwing: CancellationError())
            return
        }
        perform(after)
    }

    /// A sleeping task was cancelled: frees its entry and resumes it with `CancellationError`,
    /// unless the timer resumed it already.
    func cancel(sleep entry: Entry) {
        let continuation = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            core.enterLocked()
            defer { core.leaveLocked() }
            guard entry.heapIndex >= 0 else {
                // Not registered yet (or already resumed, where this changes nothing).
                entry.cancelledEarly = true
                return nil
            }
            _ = Self.remove(at: entry.heapIndex, from: &s)
            guard case .sleep(let continuation) = entry.work else { return nil }
            entry.work = .done
            return continuation
        }
        continuation?.resume(throwing: CancellationError())
    }

    /// Takes `entry` out of the heap if it is still there; returns whether this call did (the
    /// caller then owns the entry's job and its retirement).
    func remove(_ entry: Entry) -> Bool {
        state.withLock { s in
            core.enterLocked()
            defer { core.leaveLocked() }
            guard entry.heapIndex >= 0 else { return false }
            _ = Self.remove(at: entry.heapIndex, from: &s)
            entry.work = .done
            return true
        }
    }

    /// What a worker waiting for a delayed task may do with it.
    enum InlineRun {
        /// The timer queued it at its time: run it as any queued task.
        case queued
        /// Taken out of the heap for the caller, who sleeps until its time, runs it and retires it.
        case taken
        /// Its time comes after the caller's deadline, or someone else owns it.
        case notNow
    }

    /// Takes `entry` out of the heap for a worker that waits for its task until `deadline`, if
    /// its time comes first.
    func takeForInlineRun(_ entry: Entry, before deadline: Deadline) -> InlineRun {
        state.withLock { s in
            core.enterLocked()
            defer { core.leaveLocked() }
            guard entry.heapIndex >= 0 else { return entry.fired ? .queued : .notNow }
            guard entry.deadline < deadline.uptimeNanoseconds else { return .notNow }
            _ = Self.remove(at: entry.heapIndex, from: &s)
            entry.work = .done
            return .taken
        }
    }

    /// Entries waiting for their time: jobs, and everything (jobs and sleeps).
    var counts: (jobs: Int, all: Int) {
        state.withLock { s in
            core.enterLocked()
            defer { core.leaveLocked() }
            return (s.jobCount, s.heap.count)
        }
    }

    /// Called under the lock after an insertion made a new root.
    private func wakeOrStart(_ s: inout State) -> AfterInsert {
        if s.serviced {
            // Relaxed: the lock orders the bump with the timer thread's read of the epoch.
            word.atomic.pointee.add(1, ordering: .relaxed)
            return .wakeThread
        }
        s.serviced = true
        return .startThread
    }

    private func perform(_ after: AfterInsert) {
        switch after {
        case .nothing: return
        case .wakeThread: word.wake(count: 1)
        case .startThread: startService()
        }
    }

    // MARK: - Shutdown

    /// The pool's shutdown: wakes the timer thread so that it exits once the heap is empty;
    /// an immediate one also takes every job entry out (the caller discards and retires them)
    /// and makes later ones be discarded on arrival.
    func poolShutDown(immediate: Bool) -> [PoolJob] {
        let (jobs, wake) = state.withLock { s -> ([(UInt64, PoolJob)], Bool) in
            core.enterLocked()
            defer { core.leaveLocked() }
            var jobs: [(UInt64, PoolJob)] = []
            if immediate {
                s.discardsJobs = true
                // Rebuilt from the entries that stay (sleeps, which are never discarded), each
                // keeping its sequence number.
                let entries = s.heap
                s.heap.removeAll(keepingCapacity: true)
                for entry in entries {
                    entry.heapIndex = -1
                    if case .job(let job) = entry.work {
                        entry.work = .done
                        jobs.append((entry.sequence, job))
                    } else {
                        s.heap.append(entry)
                        Self.siftUp(&s.heap, s.heap.count - 1)
                    }
                }
                s.jobCount = 0
            }
            // Relaxed: as in `wakeOrStart`.
            word.atomic.pointee.add(1, ordering: .relaxed)
            return (jobs, s.serviced)
        }
        if wake { word.wake(count: 1) }
        // Submission order, so that handles fail in the order their tasks were submitted.
        return jobs.sorted { $0.0 < $1.0 }.map(\.1)
    }

    // MARK: - Servicing

    private func startService() {
        let name = "\(core.namePrefix)timer"
        let core = self.core
        do {
            if core.testHooks.timerThreadFails { throw Errno.resourceTemporarilyUnavailable }
            // The thread holds the core (and so this timer) until it exits.
            try PlatformThread.spawnDetached(name: name) { core.timer.runThread() }
        } catch {
            // No thread to be had (the process or user thread limit): a task of the global
            // executor services the heap instead, so no entry waits forever.
            startFallbackTask()
        }
    }

    /// Takes the work of every due entry out of the heap; returns the epoch read with the heap,
    /// the next deadline, and whether the service should end (the pool is shut down and nothing
    /// is left), in which case it has marked itself as ended.
    private func takeDue(into due: inout [Entry.Work]) -> (epoch: UInt32, next: Deadline, end: Bool) {
        let now = Deadline.now.uptimeNanoseconds
        return state.withLock { s in
            core.enterLocked()
            defer { core.leaveLocked() }
            while let root = s.heap.first, root.deadline <= now {
                let entry = Self.remove(at: 0, from: &s)
                due.append(entry.work)
                entry.work = .done
                entry.fired = true
            }
            // Relaxed: the pool's shutdown bumps the epoch under this lock after it changes the
            // lifecycle, so a change we miss here makes the futex wait return.
            if due.isEmpty && s.heap.isEmpty && core.lifecycle != .running {
                s.serviced = false
                return (0, .never, true)
            }
            // Relaxed: read under the lock that orders every bump.
            let epoch = word.atomic.pointee.load(ordering: .relaxed)
            let next = s.heap.first.map { Deadline(uptimeNanoseconds: $0.deadline) } ?? .never
            return (epoch, next, false)
        }
    }

    /// Does what each due entry asks, outside the lock, in deadline order.
    private func fire(_ due: inout [Entry.Work]) {
        for work in due {
            switch work {
            case .job(let job):
                // Admitted when submitted; queued beyond a bounded queue's bound, since the
                // timer thread must neither block nor reject.
                core.pushUnbounded(job)
                core.recordDepth()
            case .sleep(let continuation):
                continuation?.resume()
            case .done:
                break
            }
        }
        due.removeAll(keepingCapacity: true)
    }

    private func runThread() {
        var due: [Entry.Work] = []
        while true {
            let (epoch, next, end) = takeDue(into: &due)
            if end { return }
            if !due.isEmpty {
                fire(&due)
                continue  // time passed while firing: look again before sleeping
            }
            _ = word.wait(expecting: epoch, deadline: next)
        }
    }

    /// Services the heap from a task of the global executor when no timer thread could be
    /// started, looking at least every 10 ms (nothing can wake it early when an earlier entry
    /// arrives), until the pool has shut down and the heap is empty.
    private func startFallbackTask() {
        Task.detached { [core] in
            let timer = core.timer!
            var due: [Entry.Work] = []
            while true {
                let (_, next, end) = timer.takeDue(into: &due)
                if end { return }
                if !due.isEmpty {
                    timer.fire(&due)
                    continue
                }
                let now = Deadline.now.uptimeNanoseconds
                let left = next.uptimeNanoseconds &- min(now, next.uptimeNanoseconds)
                try? await Task.sleep(nanoseconds: max(min(left, 10_000_000), 1_000))
            }
        }
    }
}
