import Synchronization

/// The shared control words of a channel, and the wait/notify protocol on them.
///
/// ## Payload layout
/// The words' offsets are ``ChannelLayout``'s, which describes the layout; where the slots are
/// is the header's (``ChannelGeometry``).
///
/// ## The wake-up protocol (`notEmpty` and `notFull` alike)
/// Each is a `WaiterGatedWake` (a sequence word, then its sleeper count): a waker publishes its
/// change (a release store of an index) and then calls `wake(count:)`, which makes a syscall
/// only when a sleeper is announced; `wait(on:strategy:deadline:backoff:_:)` is the sleeper.
///
/// The fast-path members are `@usableFromInline`/`@inlinable` so that `trySend`/`tryReceive`
/// are specialised for the element type and inlined into the caller's module (without it a
/// client calls the unspecialised generic code, which copies every element through value
/// witnesses and calls out for every index access).
@usableFromInline
struct ChannelControl: @unchecked Sendable {
    /// The SPSC producer records its position at least every this many messages (see
    /// `ChannelRing`'s SPSC notes).
    static let spscRecordInterval = 16

    /// Messages (typed) or bytes (byte channels) sent and not yet received: a snapshot, for
    /// inspection, of a channel of `geometry` whose slots start at `slots`.
    ///
    /// A typed SPSC producer records its position only every few messages, so its end is the
    /// record moved past the slots published since (``spscPublishedEnd(from:slots:stride:capacity:)``);
    /// without `slots` (a reader that mapped only the control words) it is the record.
    func depth(_ geometry: ChannelGeometry, slots: UnsafeRawPointer?) -> Int {
        // Relaxed loads: a snapshot of positions other processes move; the SPSC walk's own
        // acquiring loads order what it reads of the slots.
        var tail = producerIndex.pointee.load(ordering: .relaxed)
        if !geometry.isByteRing && geometry.topology == .singleProducerSingleConsumer, let slots {
            tail = ChannelControl.spscPublishedEnd(
                from: tail, slots: slots, stride: geometry.slotStride, capacity: geometry.capacity)
        }
        let head = consumerIndex.pointee.load(ordering: .relaxed)
        return geometry.depth(tail: tail, head: head)
    }

    /// The end of what an SPSC producer published: its `record`, moved past each slot that
    /// says "published at my position" (see `ChannelRing`'s SPSC notes). The record lags by
    /// less than `spscRecordInterval`, so the walk stops there at the latest, whatever a
    /// corrupt segment holds. `slots` is the first slot; `stride` and `capacity` are checked.
    static func spscPublishedEnd(
        from record: UInt64, slots: UnsafeRawPointer, stride: Int, capacity: Int
    ) -> UInt64 {
        var position = record
        for _ in 0..<min(capacity, spscRecordInterval) {
            let offset = Int(truncatingIfNeeded: position & UInt64(capacity - 1)) * stride
            // SYNC POINT: acquiring; pairs with the producer's releasing publish, so a successor
            // producer that continues after this slot orders after the write it skips.
            let sequence = (slots + offset).assumingMemoryBound(to: Atomic<UInt64>.self)
            guard sequence.pointee.load(ordering: .acquiring) == position &+ 1 else { break }
            position &+= 1
        }
        return position
    }

    @usableFromInline let payload: UnsafeMutableRawPointer

    @usableFromInline
    init(payload: UnsafeMutableRawPointer) { self.payload = payload }

    @inlinable var producerIndex: UnsafeMutablePointer<Atomic<UInt64>> {
        (payload + ChannelLayout.producerIndex).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
    @inlinable var consumerIndex: UnsafeMutablePointer<Atomic<UInt64>> {
        (payload + ChannelLayout.consumerIndex).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
    @inlinable var notEmpty: WakeWords { WakeWords(at: payload + ChannelLayout.notEmpty) }
    @inlinable var notFull: WakeWords { WakeWords(at: payload + ChannelLayout.notFull) }

    /// 1 once every sender has closed. Written with release after the last message; a sender
    /// that opens stores 0.
    var closed: UnsafeMutablePointer<Atomic<UInt32>> { word(ChannelLayout.closed) }
    /// Senders that opened and have not closed. A dead sender is never subtracted, but a sender
    /// that opens while no other sender is alive takes over the dead ones' share (see
    /// `ChannelParticipation`).
    var openSenders: UnsafeMutablePointer<Atomic<UInt32>> { word(ChannelLayout.openSenders) }
    /// Receivers that opened and have not closed (dead ones as for `openSenders`).
    var openReceivers: UnsafeMutablePointer<Atomic<UInt32>> { word(ChannelLayout.openReceivers) }
    /// 1 once every receiver has closed cleanly, the mirror of `closed`: stored (releasing) by
    /// the receiver whose close brings `openReceivers` to 0, after its last release of a slot;
    /// a receiver that opens stores 0. Any value but 1 means "not closed", so a fresh (zeroed)
    /// payload reads as open. Read through ``receiversHaveClosed``.
    var receiversClosed: UnsafeMutablePointer<Atomic<UInt32>> { word(ChannelLayout.receiversClosed) }
    /// MPMC: every position below this that senders claimed and did not publish was claimed by
    /// a sender that is dead; receivers that await a successor release those slots (see
    /// `ChannelRing.mpmcSkipAbandonedClaims`). Only moves forward; 0 means none.
    var abandonedClaimsEnd: UnsafeMutablePointer<Atomic<UInt64>> {
        (payload + ChannelLayout.abandonedClaimsEnd).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    private func word(_ offset: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (payload + offset).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// Whether every receiver that opened has closed cleanly and none has opened since.
    ///
    /// Senders check it only when the ring is full, so the fast path never reads it.
    @usableFromInline
    var receiversHaveClosed: Bool {
        // SYNC POINT: acquiring; pairs with the last receiver's releasing store in
        // `ChannelParticipation.end`, so a sender that sees 1 and then re-checks for space sees
        // every slot that receiver released before it closed.
        guard receiversClosed.pointee.load(ordering: .acquiring) == 1 else { return false }
        // Why the count too: a receiver that opens while the last one closes can store its 0
        // before the closer stores 1, leaving the mark set on a channel with a receiver. The
        // opener counts itself before it clears the mark and the closer uncounts itself before
        // it sets it, so a count of 0 read after the mark (the acquire above orders it after
        // the closer's decrement) means no receiver had opened when we looked. Relaxed: that
        // acquire is the only ordering needed.
        return openReceivers.pointee.load(ordering: .relaxed) == 0
    }

    /// Raises `abandonedClaimsEnd` to `end` (never lowers it).
    ///
    /// The caller read `end` from `enqueuePosition` *before* it found no other sender alive: a
    /// claim below `end` was made by a sender that registered before claiming, so it was seen
    /// unless it has died since (or closed, after publishing).
    func recordAbandonedClaims(below end: UInt64) {
        // Relaxed: the word is a hint read by receivers that then check each slot's own
        // sequence with acquiring loads; a stale value only delays a skip.
        var current = abandonedClaimsEnd.pointee.load(ordering: .relaxed)
        // Wrapping difference: positions wrap at 2^64.
        while Int64(bitPattern: end &- current) > 0 {
            let (exchanged, found) = abandonedClaimsEnd.pointee.weakCompareExchange(
                expected: current, desired: end, successOrdering: .relaxed, failureOrdering: .relaxed)
            if exchanged { return }
            current = found
        }
    }

    /// A channel's wake-up pair (`notEmpty`, `notFull`): a sequence word and its sleeper count,
    /// with the protocol of the Platform primitive.
    @usableFromInline
    typealias WakeWords = WaiterGatedWake

    /// How a wait ended.
    enum WaitOutcome {
        /// The condition holds.
        case ready
        /// The caller's deadline passed.
        case timedOut
        /// A liveness interval passed: the caller should check for dead peers, then wait again.
        case checkLiveness
    }

    /// How long a blocked side sleeps before checking whether its peers are still alive.
    static let livenessInterval: Duration = .nanoseconds(livenessIntervalNanoseconds)
    static let livenessIntervalNanoseconds: Int64 = 100_000_000
    /// How long the adaptive strategy polls before sleeping.
    static let adaptiveSpin: Duration = .nanoseconds(adaptiveSpinNanoseconds)
    static let adaptiveSpinNanoseconds: Int64 = 50_000
    /// How long a receiver draining a stream stays off the ring before it polls again: long
    /// enough for the sender to fill a batch of slots, short next to any kernel wake-up.
    static let streamingBackoff: Duration = .microseconds(2)
    /// Messages taken (or sent) between two waits that mark a stream: a request/reply exchange
    /// takes exactly one per wait, so it never backs off (a receiving side raises it by one
    /// when a backoff finds a single message, see ``StreamingRun``).
    static let streamingRun: UInt32 = 2
    /// The slowest pace, per message, at which a receiver's takes count as draining a stream:
    /// a backlog is taken in tens of nanoseconds per message, while replies to requests are a
    /// round trip (hundreds of nanoseconds at least) apart.
    static let streamingPaceNanoseconds: UInt64 = 250

    /// Waits until `ready()` holds, with `strategy`, until `deadline` or the next liveness
    /// check.
    ///
    /// With `backoff` (and a strategy that polls), the wait first stays off the shared lines
    /// for ``streamingBackoff`` before it polls (see `ChannelReceiver.waitForMessage`).
    ///
    /// Every caller has just tried its operation and failed, so a wait that starts after its
    /// deadline reports `.timedOut` at once: a loop of "try, wait" (where other participants
    /// win every retry) ends on time. Inside, the wait returns by the end of its slice however
    /// often the futex word changes.
    static func wait(
        on words: WakeWords, strategy: WaitStrategy, deadline: Deadline, backoff: Bool = false,
        _ ready: () -> Bool
    ) -> WaitOutcome {
        // One clock read for the deadline check and both ends (a wait starts once per message).
        var now = Deadline.now
        if deadline != .never && now >= deadline { return .timedOut }
        if backoff && strategy != .block {
            let end = min(deadline, now.advanced(by: ChannelControl.streamingBackoff))
            // PAUSE in groups between clock reads: a read costs about as much as a few PAUSEs.
            repeat {
                for _ in 0..<8 { CPU.relax() }
                now = Deadline.now
            } while now < end
        }
        let sliceEnd = min(deadline, now.advanced(byNanoseconds: UInt64(ChannelControl.livenessIntervalNanoseconds)))
        if strategy != .block {
            let spinEnd =
                strategy == .spin
                ? sliceEnd : min(sliceEnd, now.advanced(byNanoseconds: UInt64(ChannelControl.adaptiveSpinNanoseconds)))
            var iterations = 0
            while true {
                if ready() { return .ready }
                CPU.relax()
                iterations &+= 1
                // A clock read costs as much as many polls: read it every 64.
                if iterations & 63 == 0 && spinEnd.hasPassed { break }
            }
            if strategy == .spin { return deadline.hasPassed ? .timedOut : .checkLiveness }
        }
        while true {
            let outcome = words.sleep(until: sliceEnd, unless: ready)
            if outcome == .ready || ready() { return .ready }
            // Also after a wake-up or a changed word: a word that changes before every sleep
            // (wakers that publish for other sleepers, cancellations) returns the futex wait at
            // once, and it never reaches its deadline.
            if outcome == .timedOut || sliceEnd.hasPassed {
                return deadline.hasPassed ? .timedOut : .checkLiveness
            }
        }
    }
}

/// How many messages a receiving side takes between two waits before the next wait counts as a
/// stream's (and starts with ``ChannelControl/streamingBackoff``), learnt from what its
/// backoffs found.
///
/// A stream's run is ``ChannelControl/streamingRun`` takes. Replies with one message in flight
/// reach it only when a reply is already there at a receive, because a peer ran a round trip
/// late; the backoff that follows then finds a single message and has added itself to a round
/// trip. After such a backoff a run needs one take more, which one message in flight never
/// reaches; the next backoff that finds a batch (a stream's) brings the run back.
struct StreamingRun {
    private(set) var length = ChannelControl.streamingRun
    private var backedOff = false

    /// At the start of a wait: whether the `taken` messages since the last wait are a run.
    mutating func isRun(taken: UInt32) -> Bool {
        if backedOff {
            length =
                taken >= ChannelControl.streamingRun ? ChannelControl.streamingRun : ChannelControl.streamingRun + 1
        }
        return taken >= length
    }

    /// Records whether the wait that just started backs off.
    mutating func record(backingOff: Bool) { backedOff = backingOff }
}
