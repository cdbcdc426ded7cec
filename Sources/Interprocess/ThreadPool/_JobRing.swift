import Synchronization

/// The ring's slots, laid out by hand: each slot is a sequence number (`Atomic<Int>`) followed by
/// the job (`_PoolJob?`). Two separate typed pointers (rather than one struct) keep the plain
/// job access from overlapping the atomic in the eyes of the exclusivity checker and TSan.
///
/// The sequence number says whose turn the slot is (Vyukov's bounded MPMC queue). For the slot
/// at index `i` in lap `l` (position `p = l·capacity + i`):
/// - `p`: free; the producer that claims position `p` may write the job;
/// - `p + 1`: holds the job of position `p`; the consumer that claims `p` may take it;
/// - `p + capacity`: free again, for position `p + capacity` of the next lap.
/// Producers move it `p → p+1`, consumers `p+1 → p+capacity`; nobody else writes it.
struct _RingSlots {
    static let jobOffset = MemoryLayout<Atomic<Int>>.stride
    static let stride = (jobOffset + MemoryLayout<_PoolJob?>.stride + 7) & ~7
    let base: UnsafeMutableRawPointer

    @inline(__always)
    func sequence(_ index: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (base + index * Self.stride).assumingMemoryBound(to: Atomic<Int>.self)
    }

    @inline(__always)
    func job(_ index: Int) -> UnsafeMutablePointer<_PoolJob?> {
        (base + index * Self.stride + Self.jobOffset).assumingMemoryBound(to: _PoolJob?.self)
    }
}

/// A bounded lock-free multi-producer multi-consumer ring of jobs (Dmitry Vyukov's design: one
/// sequence number per slot, a CAS on the tail to produce and on the head to consume).
///
/// Producers and consumers touch a slot's sequence number and their own index; the two indices
/// live on separate cache lines. Consumers take up to a whole batch with a single CAS.
///
/// Unsafe: `deallocate()` is called once, when no thread uses the ring any more.
struct _JobRing: @unchecked Sendable {
    let capacity: Int
    /// `capacity - 1` when the capacity is a power of two, else `-1` (use `%`).
    private let mask: Int
    private let slots: _RingSlots
    /// Line 0: tail (next position to produce). Line 1: head (next position to consume).
    private let indices: _PaddedCounters
    /// Whether a freed slot must be published with a full barrier, because producers may be
    /// blocked waiting for space and read the ring after registering (Dekker pattern).
    let freesWithFullBarrier: Bool

    init(capacity: Int, freeWithFullBarrier: Bool) {
        precondition(capacity >= 1, "a ring needs at least one slot")
        self.capacity = capacity
        self.mask = capacity & (capacity - 1) == 0 ? capacity - 1 : -1
        self.freesWithFullBarrier = freeWithFullBarrier
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: capacity * _RingSlots.stride, alignment: 64)
        slots = _RingSlots(base: raw)
        for i in 0..<capacity {
            (raw + i * _RingSlots.stride).bindMemory(to: Atomic<Int>.self, capacity: 1).initialize(to: Atomic(i))
            (raw + i * _RingSlots.stride + _RingSlots.jobOffset).bindMemory(to: _PoolJob?.self, capacity: 1)
                .initialize(to: nil)
        }
        indices = _PaddedCounters(count: 2)
    }

    func deallocate() {
        for i in 0..<capacity {
            slots.sequence(i).deinitialize(count: 1)
            slots.job(i).deinitialize(count: 1)
        }
        slots.base.deallocate()
        indices.deallocate()
    }

    @inline(__always) private var tail: UnsafeMutablePointer<Atomic<Int>> { indices[0] }
    @inline(__always) private var head: UnsafeMutablePointer<Atomic<Int>> { indices[1] }

    @inline(__always)
    private func index(_ position: Int) -> Int {
        mask >= 0 ? position & mask : position % capacity
    }

    /// Appends `job`; returns `false` (and leaves `job` with the caller) when the ring is full.
    @inline(__always)
    func tryPush(_ job: _PoolJob) -> Bool {
        // Relaxed: only a starting guess; the CAS below decides.
        var position = tail.pointee.load(ordering: .relaxed)
        while true {
            let i = index(position)
            // SYNC POINT (acquire): pairs with the consumer's release when it freed this slot, so
            // our write of `job` cannot overlap its read. Sequentially consistent so that a
            // blocked producer's retry (after registering as a waiter) and the consumer's
            // full-barrier free form a Dekker pair: one of them sees the other.
            let sequence = slots.sequence(i).pointee.load(ordering: .sequentiallyConsistent)
            let difference = sequence &- position
            if difference == 0 {
                // Relaxed: the CAS only hands out the position; the slot's sequence number
                // carries the synchronisation.
                let (won, current) = tail.pointee.weakCompareExchange(
                    expected: position, desired: position &+ 1, ordering: .relaxed)
                if won {
                    slots.job(i).pointee = job
                    // SYNC POINT (release): publishes `job` to the consumer that acquires
                    // `position + 1`. Sequentially consistent: the submitter then reads the
                    // sleeping-worker count, and a worker about to sleep registers and then
                    // reads this word (Dekker pair, see `_PoolCore.notifyWorkers`).
                    slots.sequence(i).pointee.store(position &+ 1, ordering: .sequentiallyConsistent)
                    return true
                }
                position = current
            } else if difference < 0 {
                return false  // the slot still holds last lap's job: full
            } else {
                // Another producer took this position; relaxed as above.
                position = tail.pointee.load(ordering: .relaxed)
            }
        }
    }

    /// Moves up to `limit` jobs, oldest first, into `buffer`; returns how many.
    @inline(__always)
    func popBatch(into buffer: UnsafeMutablePointer<_PoolJob>, limit: Int) -> Int {
        // Relaxed: a starting guess; the CAS decides.
        var position = head.pointee.load(ordering: .relaxed)
        while true {
            var ready = 0
            while ready < limit {
                // SYNC POINT (acquire): pairs with the producer's release of `p + 1`, making
                // its write of the job visible before we read it.
                let sequence = slots.sequence(index(position &+ ready)).pointee.load(ordering: .acquiring)
                if sequence != position &+ ready &+ 1 { break }
                ready += 1
            }
            if ready == 0 {
                // Acquire as above; we only look at the number here.
                let sequence = slots.sequence(index(position)).pointee.load(ordering: .acquiring)
                if sequence &- (position &+ 1) < 0 { return 0 }  // not yet produced: empty
                position = head.pointee.load(ordering: .relaxed)  // consumed by someone else
                continue
            }
            // Relaxed: slots checked ready stay ready until their consumer frees them, and only
            // the winner of this CAS consumes them; the acquire loads above synchronised.
            let (won, current) = head.pointee.weakCompareExchange(
                expected: position, desired: position &+ ready, ordering: .relaxed)
            if !won {
                position = current
                continue
            }
            for k in 0..<ready {
                let i = index(position &+ k)
                (buffer + k).initialize(to: slots.job(i).pointee.take()!)
                // SYNC POINT (release): our read of the job happens before the next producer
                // of this slot (which acquires `p + capacity`) writes it.
                if freesWithFullBarrier {
                    slots.sequence(i).pointee.store(position &+ k &+ capacity, ordering: .sequentiallyConsistent)
                } else {
                    slots.sequence(i).pointee.store(position &+ k &+ capacity, ordering: .releasing)
                }
            }
            return ready
        }
    }

    /// Whether a job is ready at the head (or the head moved meanwhile, which means another
    /// consumer is active); used by a worker deciding whether it may sleep.
    func mayHaveWork() -> Bool {
        // Sequentially consistent: the worker registered as a sleeper just before (Dekker pair
        // with the producer's publishing store and its read of the sleeper count).
        let position = head.pointee.load(ordering: .sequentiallyConsistent)
        let sequence = slots.sequence(index(position)).pointee.load(ordering: .sequentiallyConsistent)
        return sequence &- (position &+ 1) >= 0
    }

    /// Jobs in the ring (a snapshot that may be stale by the time it returns).
    var approximateCount: Int {
        // Relaxed: a statistic; no memory is read based on it.
        let t = tail.pointee.load(ordering: .relaxed)
        let h = head.pointee.load(ordering: .relaxed)
        return max(0, min(capacity, t &- h))
    }

    /// The depth right after a push at the current tail (used for peak tracking).
    @inline(__always)
    func depthHint() -> Int {
        // Relaxed: a statistic.
        tail.pointee.load(ordering: .relaxed) &- head.pointee.load(ordering: .relaxed)
    }
}
