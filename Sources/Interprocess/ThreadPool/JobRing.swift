import Synchronization

/// The ring's slots, laid out by hand: each slot is a sequence number (`Atomic<Int>`) followed by
/// the job (`PoolJob?`). Two separate typed pointers (rather than one struct) keep the plain
/// job access from overlapping the atomic in the eyes of the exclusivity checker and TSan.
///
/// The sequence number says whose turn the slot is (Vyukov's bounded MPMC queue). For the slot
/// at index `i` in lap `l` (position `p = l·capacity + i`):
/// - `p`: free; the producer that claims position `p` may write the job;
/// - `p + 1`: holds the job of position `p`; the consumer that claims `p` may take it;
/// - `p + capacity`: free again, for position `p + capacity` of the next lap.
/// Producers move it `p → p+1`, consumers `p+1 → p+capacity`; nobody else writes it.
struct RingSlots {
    static let jobOffset = MemoryLayout<Atomic<Int>>.stride
    static let stride = (jobOffset + MemoryLayout<PoolJob?>.stride + 7) & ~7
    let base: UnsafeMutableRawPointer

    @inline(__always)
    func sequence(_ index: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (base + index * Self.stride).assumingMemoryBound(to: Atomic<Int>.self)
    }

    @inline(__always)
    func job(_ index: Int) -> UnsafeMutablePointer<PoolJob?> {
        (base + index * Self.stride + Self.jobOffset).assumingMemoryBound(to: PoolJob?.self)
    }
}

/// A bounded lock-free multi-producer multi-consumer ring of jobs (Dmitry Vyukov's design: one
/// sequence number per slot, a CAS on the tail to produce and on the head to consume).
///
/// Producers and consumers touch a slot's sequence number and their own index; the two indices
/// live on separate cache lines. Consumers take up to a whole batch with a single CAS.
///
/// Unsafe: `deallocate()` is called once, when no thread uses the ring any more.
struct JobRing: @unchecked Sendable {
    let capacity: Int
    /// `capacity - 1` when the capacity is a power of two, else `-1` (use `%`).
    private let mask: Int
    private let slots: RingSlots
    /// Line 0: tail (next position to produce). Line 1: head (next position to consume).
    private let indices: PaddedCounters
    /// Whether producers may block waiting for space (a bounded queue with the `.block`
    /// policy): consumers then wake them after freeing slots (`PoolCore.wakeBlockedSubmitters`).
    let producersMayBlock: Bool

    init(capacity: Int, producersMayBlock: Bool) {
        precondition(capacity >= 1, "a ring needs at least one slot")
        self.capacity = capacity
        self.mask = capacity & (capacity - 1) == 0 ? capacity - 1 : -1
        self.producersMayBlock = producersMayBlock
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: capacity * RingSlots.stride, alignment: 64)
        slots = RingSlots(base: raw)
        for i in 0..<capacity {
            (raw + i * RingSlots.stride).bindMemory(to: Atomic<Int>.self, capacity: 1).initialize(to: Atomic(i))
            (raw + i * RingSlots.stride + RingSlots.jobOffset).bindMemory(to: PoolJob?.self, capacity: 1)
                .initialize(to: nil)
        }
        indices = PaddedCounters(count: 2)
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
    func tryPush(_ job: PoolJob) -> Bool {
        // Relaxed: only a starting guess; the CAS below decides.
        var position = tail.pointee.load(ordering: .relaxed)
        while true {
            let i = index(position)
            // SYNC POINT (acquire): pairs with the consumer's release when it freed this slot, so
            // our write of `job` cannot overlap its read. (A blocked producer's retry comes
            // after the barrier of its announcement on `PoolCore.space`.)
            let sequence = slots.sequence(i).pointee.load(ordering: .acquiring)
            let difference = sequence &- position
            if difference == 0 {
                // Relaxed: the CAS only hands out the position; the slot's sequence number
                // carries the synchronisation.
                let (won, current) = tail.pointee.weakCompareExchange(
                    expected: position, desired: position &+ 1, ordering: .relaxed)
                if won {
                    slots.job(i).pointee = job
                    // SYNC POINT (release): publishes `job` to the consumer that acquires
                    // `position + 1`. The submitter then issues the barrier before it looks
                    // for sleeping workers (see `PoolCore.notifyWorkers`).
                    slots.sequence(i).pointee.store(position &+ 1, ordering: .releasing)
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
    func popBatch(into buffer: UnsafeMutablePointer<PoolJob>, limit: Int) -> Int {
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
                // of this slot (which acquires `p + capacity`) writes it. Blocked producers are
                // woken after the barrier in `PoolCore.wakeBlockedSubmitters`.
                slots.sequence(i).pointee.store(position &+ k &+ capacity, ordering: .releasing)
            }
            return ready
        }
    }

    /// Whether a job is ready at the head (or the head moved meanwhile, which means another
    /// consumer is active); used by a worker deciding whether it may sleep.
    func mayHaveWork() -> Bool {
        // Relaxed: the caller issued the barrier after announcing itself as a sleeper (the
        // partner of the producer's publish and barrier); only a yes/no answer, and the take
        // that follows a yes synchronises with acquiring loads of its own.
        let position = head.pointee.load(ordering: .relaxed)
        let sequence = slots.sequence(index(position)).pointee.load(ordering: .relaxed)
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
