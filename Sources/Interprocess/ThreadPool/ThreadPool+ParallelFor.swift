import Synchronization

extension ThreadPool {
    /// Calls `body` with consecutive chunks of `range`, in parallel on the workers and the
    /// calling thread, and returns when every chunk has finished.
    ///
    /// Chunks are claimed dynamically from a shared counter, so uneven chunk costs balance
    /// out. The calling thread works on chunks too, which makes `parallelFor` safe to call from
    /// one of the pool's own workers (nested loops cannot deadlock) and lets it finish even if
    /// a bounded queue has no room for helpers. It blocks the calling thread until the loop is
    /// done, so from Swift concurrency call it inside `run(_:)` rather than on a cooperative
    /// thread.
    ///
    /// - Parameters:
    ///   - range: The indices to cover; each index is in exactly one chunk.
    ///   - chunkCount: How many chunks to cut `range` into; `nil` picks 8 per participating
    ///     thread (at most one per index).
    ///   - body: Work on one chunk; called concurrently from several threads.
    /// - Throws: `SubmitError.shutDown` if the pool was shut down (nothing runs then).
    /// - Complexity: O(`chunkCount`) synchronisation on top of the work itself.
    public func parallelFor(
        _ range: Range<Int>, chunkCount: Int? = nil,
        _ body: @escaping @Sendable (Range<Int>) -> Void
    ) throws(SubmitError) {
        guard core.isAcceptingWork else { throw .shutDown }
        guard !range.isEmpty else { return }
        let chunks = max(1, min(range.count, chunkCount ?? (threadCount + 1) * 8, 1 << 30))
        let state = ParallelForState(range: range, chunks: chunks, body: body)
        let helpers = min(threadCount, chunks - 1)
        if helpers > 0 {
            if !core.admit(helpers) { throw .shutDown }
            var queued = 0
            for _ in 0..<helpers {
                let job = PoolJob.closure { state.work() }
                if core.queueCapacity == nil {
                    core.pushUnbounded(job)
                } else if !core.ring.tryPush(job) {
                    break  // full: the caller does the rest
                } else {
                    core.notifyWorkers()
                }
                queued += 1
            }
            if queued < helpers { core.retire(helpers - queued) }
        }
        state.work()
        state.waitForAllChunks()
    }
}

/// The shared state of one `parallelFor` call.
final class ParallelForState: @unchecked Sendable {
    let lower: Int
    let count: Int
    let chunks: Int
    let body: @Sendable (Range<Int>) -> Void
    /// The next chunk index to claim.
    let next = Atomic<Int>(0)
    /// Futex word counting finished chunks, 0 → `chunks`; the thread that finishes the last
    /// chunk wakes the caller, who sleeps while the count is below `chunks`.
    let finished = FutexWord.allocate(initialValue: 0)

    init(range: Range<Int>, chunks: Int, body: @escaping @Sendable (Range<Int>) -> Void) {
        lower = range.lowerBound
        count = range.count
        self.chunks = chunks
        self.body = body
    }

    deinit { finished.deallocate() }

    func work() {
        while true {
            // Relaxed: the counter only hands out chunk indices; the chunks' effects are
            // published through `finished`.
            let index = next.add(1, ordering: .relaxed).oldValue
            guard index < chunks else { return }
            let start = lower + Int((Int64(count) * Int64(index)) / Int64(chunks))
            let end = lower + Int((Int64(count) * Int64(index + 1)) / Int64(chunks))
            body(start..<end)
            // SYNC POINT (release): the chunk's effects happen before the caller's acquiring
            // read of the final count in `waitForAllChunks`.
            let done = finished.atomic.pointee.add(1, ordering: .acquiringAndReleasing).newValue
            if done == UInt32(chunks) { finished.wakeAll() }
        }
    }

    func waitForAllChunks() {
        let target = UInt32(chunks)
        let spinEnd = Deadline.now.uptimeNanoseconds &+ PoolCore.waiterSpin
        var iteration = 0
        while true {
            // SYNC POINT (acquire): pairs with the release increment in `work`.
            let done = finished.atomic.pointee.load(ordering: .acquiring)
            if done == target { return }
            iteration &+= 1
            if iteration > PoolCore.pureSpinIterations && Deadline.now.uptimeNanoseconds >= spinEnd {
                _ = finished.wait(expecting: done, deadline: .never)
            } else {
                PoolCore.spinStep(iteration)
            }
        }
    }
}
