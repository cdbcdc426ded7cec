import Synchronization

/// A subscriber's state: its slot in the topic, its positions in its queues (one per publisher
/// slot), the history it copied when it joined, and its hazards.
///
/// ## Taking a message
/// From queue *p* at position *h*: wait for the entry's tag, read the chunk's descriptor, then
/// - copy the message and move the head on (``TopicConfiguration/OverflowPolicy/block``: a
///   releasing store, we are the head's only writer; ``TopicConfiguration/OverflowPolicy/dropOldest``:
///   a compare-and-swap against the publisher's drops; if the publisher won, the copy may be
///   torn and is discarded);
/// - or, for a sample read in place, first store the chunk's identity in a free hazard, then
///   move the head on the same way: from then on the chunk is the hazard's until the sample is
///   released (a releasing clear), whatever the publisher does.
///
/// Every message carries its publisher's sequence number: one at or below the last taken from
/// that publisher is a duplicate (a message both in the copied history and in the queue) and is
/// skipped; a gap is the number of messages the publisher dropped (``missedMessages``).
///
/// ## Joining
/// Claim a slot (its lock); clear its hazards and pin; move every queue's head to its end
/// (what a dead predecessor left unread is not ours); mark the slot active (releasing) and bump
/// the membership word; barrier; then copy each publisher's history under a pin (see
/// ``copyHistory(of:)``). A message published while we joined is either pushed to us (the
/// publisher saw us) or in the history we copy (we saw it): the publisher appends, barriers,
/// reads the membership; we bump it, barrier, read the history.
///
/// Not thread-safe: its owner is the `~Copyable` subscriber handle; only `heldHazards` (changed
/// by samples released on any thread) is atomic. Its stored state is `@exclusivity(unchecked)`:
/// only the owning handle touches it, one call at a time, and the dynamic checks would cost more
/// than a message.
@usableFromInline
final class TopicSubscriberCore: @unchecked Sendable {
    let topic: TopicSegment
    let slot: Int
    /// Taken once the subscriber has joined (so a count of registrations counts joined
    /// subscribers); the slot lock protects the object from removal before.
    private(set) var registration: ParticipantRegistration?
    let record: UnsafeMutableRawPointer
    let pool: Int
    let capacity: Int
    let overflow: TopicConfiguration.OverflowPolicy
    let notEmpty: WaiterGatedWake
    let queues: [TopicQueue]
    /// Byte topics: message lengths vary and are read from the descriptors.
    let readsLength: Bool
    let spaces: [WaiterGatedWake]
    /// Each publisher's first chunk, the distance between two, and the largest message: what a
    /// take reads on every message, kept here rather than behind the segment's layout.
    let chunkBases: LocalArray<UnsafeMutableRawPointer>
    let chunkStride: Int
    let maximumMessageSize: Int
    /// The message ``peek()`` found, which ``commitPeeked()`` takes.
    @exclusivity(unchecked) private var peeked: Pending? = nil
    /// Our position in each queue (with `block`, the head's only writer).
    let heads: LocalArray<UInt64>
    /// The sequence number of the last message taken from each publisher slot.
    /// (`sequenceKnown`: once one was taken or copied.)
    let lastSequence: LocalArray<UInt64>
    let sequenceKnown: LocalArray<Bool>
    /// Messages copied from the publishers' histories, delivered before anything queued.
    @exclusivity(unchecked) var pendingHistory: [HistoryMessage?] = []
    @exclusivity(unchecked) var pendingIndex = 0
    /// Where the next take starts looking (publishers are served in turn).
    @exclusivity(unchecked) var nextPublisher = 0
    /// Messages taken since the last wait, and when the second was: a run of several at a
    /// stream's pace means we are draining a stream, and the next wait starts with a backoff
    /// (see `WaitStrategy`).
    @exclusivity(unchecked) var takenSinceWait: UInt32 = 0
    @exclusivity(unchecked) var secondTakenAt: UInt64 = 0
    /// How many takes between waits mark a stream.
    @exclusivity(unchecked) var streamingRun = StreamingRun()
    /// Messages the publishers dropped before we took them, in total.
    @exclusivity(unchecked) var missedMessages = 0
    /// Bit k: hazard k is held by a sample.
    let heldHazards = Atomic<UInt64>(0)
    @exclusivity(unchecked) private var ended = false

    /// A history message, copied out of the topic when we joined.
    @usableFromInline
    final class HistoryMessage: @unchecked Sendable {
        let publisher: Int
        let sequence: UInt64
        let bytes: UnsafeMutableRawBufferPointer
        init(publisher: Int, sequence: UInt64, copying source: UnsafeRawPointer, count: Int, alignment: Int) {
            self.publisher = publisher
            self.sequence = sequence
            bytes = .allocate(byteCount: count, alignment: alignment)
            bytes.copyMemory(from: UnsafeRawBufferPointer(start: source, count: count))
        }
        deinit { bytes.deallocate() }
    }

    init(topic: TopicSegment) throws(TopicError) {
        let g = topic.geometry
        guard let slot = try topic.claimSlot(count: g.subscribers, byte: TopicSegment.subscriberLock) else {
            throw .endpointLimitReached(.subscriber, maximum: g.subscribers)
        }
        self.topic = topic
        self.slot = slot
        self.record = topic.subscriberRecord(slot)
        self.pool = topic.poolSize
        self.capacity = g.capacity
        self.overflow = g.overflow
        self.notEmpty = WaiterGatedWake(at: record + TopicGeometry.notEmpty)
        self.readsLength = topic.segment.kind == .byteTopic
        self.queues = (0..<g.publishers).map {
            TopicQueue(topic.queue(publisher: $0, subscriber: slot), capacity: g.capacity)
        }
        self.spaces = (0..<g.publishers).map { WaiterGatedWake(at: topic.publisherRecord($0) + TopicGeometry.space) }
        self.chunkBases = LocalArray(repeating: topic.chunk(publisher: 0, chunk: 0), count: g.publishers)
        for p in 0..<g.publishers { chunkBases[p] = topic.chunk(publisher: p, chunk: 0) }
        self.chunkStride = g.chunkStride
        self.maximumMessageSize = g.maximumMessageSize
        self.lastSequence = LocalArray(repeating: 0, count: g.publishers)
        self.sequenceKnown = LocalArray(repeating: false, count: g.publishers)
        // Relaxed: the slot is ours (its lock); the releasing store of "active" below publishes
        // these to the publishers.
        for k in 0..<g.heldSamples {
            topic.atomic(record + TopicGeometry.hazards + 8 * k, UInt64.self).pointee.store(0, ordering: .relaxed)
        }
        topic.atomic(record + TopicGeometry.historyPin, UInt64.self).pointee.store(0, ordering: .relaxed)
        // What is queued to this slot was queued to a predecessor: start at each queue's end.
        self.heads = LocalArray(repeating: 0, count: g.publishers)
        for (p, queue) in queues.enumerated() {
            heads[p] = queue.advanceHead(
                to: queue.publishedEnd(from: queue.tailRecord.pointee.load(ordering: .relaxed)))
        }
        let generation = topic.atomic(record + TopicGeometry.subscriberGeneration, UInt32.self)
        generation.pointee.store(generation.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        // SYNC POINT: releasing; a publisher that reads "active" (acquiring) sees the reset
        // hazards and heads.
        topic.atomic(record + TopicGeometry.subscriberState, UInt32.self).pointee.store(1, ordering: .releasing)
        // Releasing: pairs with the publishers' acquiring load when they refresh connections.
        topic.membership.pointee.wrappingAdd(1, ordering: .releasing)
        // A publisher may be waiting on a predecessor's full queue, which we just emptied.
        for space in spaces { space.wakeAll() }
        StoreLoad.barrier()
        if g.history > 0 {
            for p in 0..<g.publishers { copyHistory(of: p) }
        }
        do { registration = try topic.segment.register(as: .subscriber) } catch {
            end()
            throw .segment(error)
        }
    }

    // MARK: - History

    /// Copies publisher `p`'s history window (its last `history` messages) for delivery.
    ///
    /// The ring's entries are overwritten in place and their chunks freed once out of the ring,
    /// so the copy runs under a pin: `historyPin` names `p` and the first position we read, and
    /// the publisher keeps every chunk of positions `[floor, floor + history)` while it is set.
    /// We store the pin, barrier, and only then read `historyPublished`: an eviction the
    /// publisher made before its reclaim scan saw our pin is visible to us (it stores
    /// `historyClaimed`, barriers, reads the pins), and we skip those entries.
    func copyHistory(of p: Int) {
        let g = topic.geometry
        let h = UInt64(g.history)
        let publisherRecord = topic.publisherRecord(p)
        let published = topic.atomic(publisherRecord + TopicGeometry.historyPublished, UInt64.self)
        let claimed = topic.atomic(publisherRecord + TopicGeometry.historyClaimed, UInt64.self)
        let pin = topic.atomic(record + TopicGeometry.historyPin, UInt64.self)
        // Acquiring: pairs with the publisher's releasing store of the count. The window is the
        // last `history` messages as of this load (read after we joined: everything published
        // after it is pushed to us).
        let count = published.pointee.load(ordering: .acquiring)
        guard count != 0 else { return }
        let floor = count >= h ? count - h : 0
        var copied: [HistoryMessage] = []
        // Relaxed store, ordered before the loads below by the barrier.
        pin.pointee.store(UInt64(p + 1) << 48 | floor & TopicPublisherCore.positionMask, ordering: .relaxed)
        StoreLoad.barrier()
        var entries: [(UInt64, Int)] = []
        var position = floor
        while position != count {
            let entry = publisherRecord + TopicGeometry.historyRing + Int(position % h) * 4
            // Relaxed: validated by the fence and the claim count below.
            entries.append((position, Int(topic.atomic(entry, UInt32.self).pointee.load(ordering: .relaxed))))
            position &+= 1
        }
        // SYNC POINT: acquiring fence; pairs with the publisher's releasing fence between its
        // claim and its entry store: if we read an entry it overwrote, we see the claim. The
        // claim count is also read after our pin's barrier: a position it says is still in the
        // ring was evicted (if ever) after the publisher could see our pin, so its chunk is ours
        // until the pin goes. A publisher that evicts the whole window while we read it leaves
        // us its newest part (the rest of the stream comes through the queue, contiguously).
        atomicMemoryFence(ordering: .acquiring)
        let claim = claimed.pointee.load(ordering: .relaxed)
        let validFrom = claim >= h ? max(floor, claim - h) : floor
        for (position, x) in entries where position >= validFrom && x < pool {
            let descriptor = topic.descriptor(publisher: p, chunk: x)
            // Relaxed: written before the entry's publication, which the fence above ordered.
            guard
                topic.atomic(descriptor + TopicGeometry.descriptorHistoryPosition, UInt64.self).pointee.load(
                    ordering: .relaxed) == position
            else { continue }
            let sequence = topic.atomic(descriptor + TopicGeometry.descriptorSequence, UInt64.self).pointee.load(
                ordering: .relaxed)
            // A typed message is always a whole element, whatever the descriptor (another process's
            // word) says; a byte message's length is checked against the chunk's size.
            let length =
                readsLength
                ? Int(
                    topic.atomic(descriptor + TopicGeometry.descriptorLength, UInt32.self).pointee.load(
                        ordering: .relaxed)) : g.maximumMessageSize
            guard length <= g.maximumMessageSize else { continue }
            copied.append(
                HistoryMessage(
                    publisher: p, sequence: sequence, copying: topic.chunk(publisher: p, chunk: x), count: length,
                    alignment: g.chunkAlignment))
        }
        // Releasing: our reads of the pinned chunks are done before a publisher sees the pin go.
        pin.pointee.store(0, ordering: .releasing)
        if let last = copied.last {
            lastSequence[p] = last.sequence
            sequenceKnown[p] = true
        }
        pendingHistory.append(contentsOf: copied)
    }

    // MARK: - Taking

    /// A message found at the head of a queue (or first in the copied history), not taken yet:
    /// read it, then ``commit(_:)``.
    @usableFromInline
    struct Pending {
        @usableFromInline let publisher: Int
        @usableFromInline let sequence: UInt64
        @usableFromInline let pointer: UnsafeRawPointer
        @usableFromInline let length: Int
        @usableFromInline let missedBefore: Int
        /// The queue position it is at (unused for history).
        let position: UInt64
        /// Whether it is the first message of the copied history (`pendingHistory`).
        @usableFromInline let fromHistory: Bool
        /// The hazard that holds the chunk (samples), or -1.
        @usableFromInline let hazard: Int
    }

    /// Whether a message is ready (for waits; reads only).
    func hasMessage() -> Bool {
        if pendingIndex < pendingHistory.count { return true }
        for p in queues.indices {
            // Relaxed: a hint; the take that follows acquires.
            let h = overflow == .block ? heads[p] : queues[p].head.pointee.load(ordering: .relaxed)
            if queues[p].published(at: h) != nil { return true }
        }
        return false
    }

    /// The next message, without taking it; duplicates (messages also in the copied history) are
    /// taken and skipped on the way. `nil` if nothing is ready.
    /// - Throws: ``TopicError/corrupt(_:)`` for a queue entry or descriptor no publisher writes.
    @usableFromInline
    func next() throws(TopicError) -> Pending? { try nextInline() }

    // MARK: - The copying take, in two calls

    /// The first half of a copying take: the address of the next message (kept for
    /// ``commitPeeked()``), `nil` if nothing is ready. The caller copies the message out, then
    /// commits.
    ///
    /// Two calls, and no ``Pending`` passed back and forth: each is a call into this module from
    /// the caller's specialised code, and the copy happens in between.
    @usableFromInline
    func peek() throws(TopicError) -> UnsafeRawPointer? {
        guard let pending = try nextInline() else { return nil }
        peeked = pending
        return pending.pointer
    }

    /// Takes the message ``peek()`` returned: `false` if a publisher dropped it first (as
    /// ``commit(_:)``).
    ///
    /// - Precondition: the last ``peek()`` returned a message (the subscriber's inlinable takes
    ///   call the pair only so; unchecked in release builds, where the check and the reset would
    ///   cost the take about 2 % of its instructions).
    @usableFromInline
    func commitPeeked() -> Bool {
        assert(peeked != nil, "commitPeeked without a message peeked")
        return commitInline(peeked.unsafelyUnwrapped)
    }

    @inline(__always)
    private func nextInline() throws(TopicError) -> Pending? {
        if pendingIndex < pendingHistory.count {
            let message = pendingHistory[pendingIndex]!
            return Pending(
                publisher: message.publisher, sequence: message.sequence,
                pointer: UnsafeRawPointer(message.bytes.baseAddress!), length: message.bytes.count, missedBefore: 0,
                position: 0, fromHistory: true, hazard: -1)
        }
        let count = queues.count
        // One publisher slot (the common case): no turn to take.
        if count == 1 { return try next(from: 0, hazard: -1) }
        for k in 0..<count {
            var p = nextPublisher &+ k
            if p >= count { p -= count }
            if let pending = try next(from: p, hazard: -1) { return pending }
        }
        return nil
    }

    /// Takes a message found by ``next()``: `false` if a publisher dropped it first (with
    /// ``TopicConfiguration/OverflowPolicy/dropOldest``; whatever was read of it is void).
    @usableFromInline
    func commit(_ pending: Pending) -> Bool { commitInline(pending) }

    @inline(__always)
    private func commitInline(_ pending: Pending) -> Bool {
        if pending.fromHistory {
            pendingHistory[pendingIndex] = nil
            pendingIndex += 1
            if pendingIndex == pendingHistory.count {
                pendingHistory.removeAll()
                pendingIndex = 0
            }
            return true
        }
        let p = pending.publisher
        guard advance(p, from: pending.position) else { return false }
        lastSequence[p] = pending.sequence
        sequenceKnown[p] = true
        takenSinceWait &+= 1
        // One clock read per run of takes between waits, none in a one-message exchange.
        if takenSinceWait == 2 { secondTakenAt = Deadline.now.uptimeNanoseconds }
        missedMessages &+= pending.missedBefore
        nextPublisher = p &+ 1 == queues.count ? 0 : p &+ 1
        if overflow == .block { spaces[p].wake(count: 1) }
        return true
    }

    /// Moves queue `p`'s head from `position` to the next: with `block` a releasing store (we
    /// are its only writer), with `dropOldest` a compare-and-swap against the publisher's drops.
    @inline(__always)
    private func advance(_ p: Int, from position: UInt64) -> Bool {
        if overflow == .block {
            heads[p] = position &+ 1
            // SYNC POINT: releasing; a publisher that acquires the new head sees our reads of
            // the chunk done (and any hazard stored) before it reuses anything.
            queues[p].head.pointee.store(position &+ 1, ordering: .releasing)
            return true
        }
        // Acquiring and releasing: as the store above, and against the publisher's drops.
        return queues[p].head.pointee.compareExchange(
            expected: position, desired: position &+ 1, successOrdering: .acquiringAndReleasing,
            failureOrdering: .relaxed
        ).exchanged
    }

    /// The message at the head of queue `p`, skipping duplicates; with a `hazard`, stores the
    /// chunk's identity in it first (the caller then takes the message at once).
    @inline(__always)
    private func next(from p: Int, hazard: Int) throws(TopicError) -> Pending? {
        let queue = queues[p]
        while true {
            // Acquiring (dropOldest): the publisher may have moved the head (drops).
            let h = overflow == .block ? heads[p] : queue.head.pointee.load(ordering: .acquiring)
            guard let x = queue.published(at: h) else {
                if overflow == .dropOldest && queue.head.pointee.load(ordering: .acquiring) != h { continue }
                return nil
            }
            guard x < pool else { throw .corrupt("a queue entry names chunk \(x) of a pool of \(pool)") }
            let sequence = queue.sequence(at: h)
            // A typed message has the element's size; only a byte message's length is read (from
            // its descriptor: relaxed, written before the entry's releasing store we acquired).
            let length =
                readsLength
                ? Int(
                    topic.atomic(topic.descriptor(publisher: p, chunk: x) + TopicGeometry.descriptorLength, UInt32.self)
                        .pointee.load(ordering: .relaxed)) : maximumMessageSize
            let known = sequenceKnown[p]
            let last = lastSequence[p]
            if known && Int64(bitPattern: sequence &- last) <= 0 {
                // Also in the history we copied: take it and go on.
                _ = advance(p, from: h)
                continue
            }
            guard length <= maximumMessageSize else {
                throw .corrupt("a message of \(length) bytes in a topic of at most \(maximumMessageSize)")
            }
            if hazard >= 0 {
                // Relaxed: the head's releasing store (or exchange) in `commit` publishes it.
                hazardWord(hazard).pointee.store(UInt64(p) &* UInt64(pool) &+ UInt64(x) &+ 1, ordering: .relaxed)
            }
            return Pending(
                publisher: p, sequence: sequence, pointer: UnsafeRawPointer(chunkBases[p] + x &* chunkStride),
                length: length, missedBefore: known ? Int(clamping: sequence &- last &- 1) : 0, position: h,
                fromHistory: false, hazard: hazard)
        }
    }

    /// Takes the next message and holds it in place under a hazard (the caller wraps it in a
    /// sample, which releases the hazard). `nil` if nothing is ready.
    /// - Throws: ``TopicError/sampleLimitReached(maximum:)``, ``TopicError/corrupt(_:)``.
    @usableFromInline
    func takeSample() throws(TopicError) -> (Pending, HistoryMessage?)? {
        if pendingIndex < pendingHistory.count, let pending = try next() {
            let copy = pendingHistory[pendingIndex]
            _ = commit(pending)
            return (pending, copy)
        }
        let hazard = try claimHazard()
        let count = queues.count
        do {
            for k in 0..<count {
                var p = nextPublisher &+ k
                if p >= count { p -= count }
                while let pending = try next(from: p, hazard: hazard) {
                    if commit(pending) { return (pending, nil) }
                    // Dropped before we took it: the chunk may be reused, so the hazard goes.
                    hazardWord(hazard).pointee.store(0, ordering: .releasing)
                }
            }
        } catch {
            releaseHazard(hazard)
            throw error
        }
        releaseHazard(hazard)
        return nil
    }

    // MARK: - Hazards

    func hazardWord(_ k: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        topic.atomic(record + TopicGeometry.hazards + 8 * k, UInt64.self)
    }

    func claimHazard() throws(TopicError) -> Int {
        let limit = topic.geometry.heldSamples
        let all: UInt64 = limit == 64 ? .max : (1 << UInt64(limit)) - 1
        // Relaxed: the bits only hand out hazard indexes; the hazard words order themselves.
        var held = heldHazards.load(ordering: .relaxed)
        while true {
            let available = ~held & all
            guard available != 0 else { throw .sampleLimitReached(maximum: limit) }
            let k = available.trailingZeroBitCount
            let (exchanged, found) = heldHazards.weakCompareExchange(
                expected: held, desired: held | 1 << UInt64(k), ordering: .relaxed)
            if exchanged { return k }
            held = found
        }
    }

    /// Ends a sample's hold on its chunk (any thread).
    func releaseHazard(_ k: Int) {
        // SYNC POINT: releasing; pairs with the publisher's acquiring load in its reclaim scan:
        // our reads of the chunk are done before it can reuse it.
        hazardWord(k).pointee.store(0, ordering: .releasing)
        heldHazards.bitwiseAnd(~(1 << UInt64(k)), ordering: .relaxed)
    }

    // MARK: - Publishers

    /// What the publisher slots say: whether one is open and alive, whether one died without
    /// closing, whether one closed.
    func publisherStatus(checkingLiveness: Bool) -> (alive: Bool, died: Bool, closed: Bool) {
        var status = (alive: false, died: false, closed: false)
        for p in 0..<topic.geometry.publishers {
            // Acquiring: pairs with the publisher's releasing stores of its state (after its
            // last push, when it closes).
            switch topic.atomic(topic.publisherRecord(p) + TopicGeometry.publisherState, UInt32.self).pointee.load(
                ordering: .acquiring)
            {
            case 1:
                if !checkingLiveness || topic.isHeld(TopicSegment.publisherLock(p)) {
                    status.alive = true
                } else {
                    status.died = true
                }
            case 2: status.closed = true
            default: break
            }
        }
        return status
    }

    /// Whether every publisher that opened the topic closed it and nothing is left to take
    /// (no system call: a dead publisher reads as open).
    @usableFromInline
    func isClosedAndDrained() -> Bool {
        let status = publisherStatus(checkingLiveness: false)
        return !status.alive && status.closed && !hasMessage()
    }

    /// Throws ``TopicError/publisherDied`` if no publisher is alive, one died, and nothing is
    /// left; ``TopicError/closed`` as ``isClosedAndDrained()``; a damaged segment's error.
    func throwIfPublishersGone() throws(TopicError) {
        do { try topic.segment.checkIntact() } catch { throw .segment(error) }
        let status = publisherStatus(checkingLiveness: true)
        guard !status.alive, !hasMessage() else { return }
        if status.died { throw .publisherDied }
        if status.closed { throw .closed }
    }

    /// Waits for a message until `deadline`; `false` if it passed first.
    /// - Throws: ``TopicError/publisherDied``, ``TopicError/closed`` (checked at each liveness
    ///   interval), a damaged segment's error.
    @usableFromInline
    func waitForMessage(strategy: WaitStrategy, deadline: Deadline) throws(TopicError) -> Bool {
        var streaming = streamingRun.isRun(taken: takenSinceWait) && strategy != .block
        if streaming {
            // Replies taken one by one with work in between are not a stream unless they came at
            // a stream's pace.
            let elapsed = Deadline.now.uptimeNanoseconds &- secondTakenAt
            streaming = elapsed <= UInt64(takenSinceWait - 1) &* ChannelControl.streamingPaceNanoseconds
        }
        takenSinceWait = 0
        streamingRun.record(backingOff: streaming)
        let outcome = ChannelControl.wait(on: notEmpty, strategy: strategy, deadline: deadline, backoff: streaming) {
            self.hasMessage() || self.isClosedAndDrained()
        }
        switch outcome {
        case .ready: return true
        case .timedOut:
            try throwIfPublishersGone()
            return false
        case .checkLiveness:
            try throwIfPublishersGone()
            return true
        }
    }

    // MARK: - Ending

    @exclusivity(unchecked) private var leaving = false

    /// Stops taking part while held samples remain: publishers stop queueing to us and stop
    /// waiting for us (state 2), and keep honouring our hazards until ``end()``.
    func leave() {
        guard !leaving, !ended else { return }
        leaving = true
        // Relaxed: nobody reads the bits' order; a sample released meanwhile only makes this
        // read stale, and its core's deinit ends the subscription then.
        if heldHazards.load(ordering: .relaxed) == 0 {
            end()
            return
        }
        // SYNC POINT: releasing; publishers read it (acquiring) when they refresh connections.
        topic.atomic(record + TopicGeometry.subscriberState, UInt32.self).pointee.store(2, ordering: .releasing)
        topic.membership.pointee.wrappingAdd(1, ordering: .releasing)
        for space in spaces { space.wakeAll() }
    }

    /// Leaves the topic. Runs when the last reference goes (the handle's and every held
    /// sample's), or at ``leave()`` when no sample is held.
    private func end() {
        guard !ended else { return }
        ended = true
        // SYNC POINT: releasing; publishers stop counting our pins once they read "free".
        topic.atomic(record + TopicGeometry.subscriberState, UInt32.self).pointee.store(0, ordering: .releasing)
        topic.membership.pointee.wrappingAdd(1, ordering: .releasing)
        for space in spaces { space.wakeAll() }
        if let registration { topic.segment.deregister(registration) }
        topic.segment.unlockByte(TopicSegment.subscriberLock(slot))
    }

    deinit {
        end()
        heads.deallocate()
        chunkBases.deallocate()
        lastSequence.deallocate()
        sequenceKnown.deallocate()
    }
}
