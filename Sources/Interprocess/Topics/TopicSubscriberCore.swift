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
/// by samples released on any thread) is atomic.
final class TopicSubscriberCore: @unchecked Sendable {
    let topic: TopicSegment
    let slot: Int
    let registration: ParticipantRegistration
    let record: UnsafeMutableRawPointer
    let pool: Int
    let capacity: Int
    let overflow: TopicConfiguration.OverflowPolicy
    let notEmpty: WaiterGatedWake
    let queues: [TopicQueue]
    let spaces: [WaiterGatedWake]
    /// Our position in each queue (with `block`, the head's only writer).
    var heads: [UInt64]
    /// The sequence number of the last message taken from each publisher slot.
    var lastSequence: [UInt64?]
    /// Messages copied from the publishers' histories, delivered before anything queued.
    var pendingHistory: [HistoryMessage] = []
    var pendingIndex = 0
    /// Where the next take starts looking (publishers are served in turn).
    var nextPublisher = 0
    /// Messages the publishers dropped before we took them, in total.
    var missedMessages = 0
    /// Bit k: hazard k is held by a sample.
    let heldHazards = Atomic<UInt64>(0)
    private var ended = false

    /// A history message, copied out of the topic when we joined.
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
        let registration: ParticipantRegistration
        do { registration = try topic.segment.register(as: .subscriber) } catch {
            topic.segment.unlockByte(TopicSegment.subscriberLock(slot))
            throw .segment(error)
        }
        self.topic = topic
        self.slot = slot
        self.registration = registration
        self.record = topic.subscriberRecord(slot)
        self.pool = topic.poolSize
        self.capacity = g.capacity
        self.overflow = g.overflow
        self.notEmpty = WaiterGatedWake(at: record + TopicGeometry.notEmpty)
        self.queues = (0..<g.publishers).map {
            TopicQueue(topic.queue(publisher: $0, subscriber: slot), capacity: g.capacity)
        }
        self.spaces = (0..<g.publishers).map { WaiterGatedWake(at: topic.publisherRecord($0) + TopicGeometry.space) }
        self.lastSequence = Array(repeating: nil, count: g.publishers)
        // Relaxed: the slot is ours (its lock); the releasing store of "active" below publishes
        // these to the publishers.
        for k in 0..<g.heldSamples {
            topic.atomic(record + TopicGeometry.hazards + 8 * k, UInt64.self).pointee.store(0, ordering: .relaxed)
        }
        topic.atomic(record + TopicGeometry.historyPin, UInt64.self).pointee.store(0, ordering: .relaxed)
        // What is queued to this slot was queued to a predecessor: start at each queue's end.
        self.heads = queues.map { queue in
            queue.advanceHead(to: queue.publishedEnd(from: queue.tailRecord.pointee.load(ordering: .relaxed)))
        }
        let generation = topic.atomic(record + TopicGeometry.subscriberGeneration, UInt32.self)
        generation.pointee.store(generation.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        // SYNC POINT: releasing; a publisher that reads "active" (acquiring) sees the reset
        // hazards and heads.
        topic.atomic(record + TopicGeometry.subscriberState, UInt32.self).pointee.store(1, ordering: .releasing)
        // Releasing: pairs with the publishers' acquiring load when they refresh connections.
        topic.membership.pointee.wrappingAdd(1, ordering: .releasing)
        StoreLoad.barrier()
        if g.history > 0 {
            for p in 0..<g.publishers { copyHistory(of: p) }
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
        // Acquiring: pairs with the publisher's releasing store of the count.
        var count = published.pointee.load(ordering: .acquiring)
        guard count != 0 else { return }
        var floor = count >= h ? count - h : 0
        var copied: [HistoryMessage] = []
        for _ in 0..<4 {
            // Relaxed store, ordered before the loads below by the barrier.
            pin.pointee.store(UInt64(p + 1) << 48 | floor & TopicPublisherCore.positionMask, ordering: .relaxed)
            StoreLoad.barrier()
            // Acquiring, as above.
            count = published.pointee.load(ordering: .acquiring)
            // The window moved past the pin: pin the newer one. The count is another process's
            // word and may have gone down (a hostile writer): never below zero.
            if count &- floor > h {
                floor = count >= h ? count - h : 0
                continue
            }
            var entries: [(UInt64, Int)] = []
            var position = floor
            while position != count {
                let entry = publisherRecord + TopicGeometry.historyRing + Int(position % h) * 4
                // Relaxed: validated by the fence and the claim count below.
                entries.append((position, Int(topic.atomic(entry, UInt32.self).pointee.load(ordering: .relaxed))))
                position &+= 1
            }
            // SYNC POINT: acquiring fence; pairs with the publisher's releasing fence between its
            // claim and its entry store: if we read an entry it overwrote, we see the claim.
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
                let length = Int(
                    topic.atomic(descriptor + TopicGeometry.descriptorLength, UInt32.self).pointee.load(
                        ordering: .relaxed))
                guard length <= g.maximumMessageSize else { continue }
                copied.append(
                    HistoryMessage(
                        publisher: p, sequence: sequence, copying: topic.chunk(publisher: p, chunk: x), count: length,
                        alignment: g.chunkAlignment))
            }
            break
        }
        // Releasing: our reads of the pinned chunks are done before a publisher sees the pin go.
        pin.pointee.store(0, ordering: .releasing)
        if let last = copied.last { lastSequence[p] = last.sequence }
        pendingHistory.append(contentsOf: copied)
    }

    // MARK: - Taking

    /// What a take found.
    struct Taken {
        let publisher: Int
        let sequence: UInt64
        let pointer: UnsafeRawPointer
        let length: Int
        let missedBefore: Int
        /// The hazard that holds the chunk (samples), or -1.
        let hazard: Int
        /// The copy it came from (history), if any.
        let history: HistoryMessage?
    }

    /// Whether a message is ready (for waits; reads only).
    func hasMessage() -> Bool {
        if pendingIndex < pendingHistory.count { return true }
        for p in queues.indices {
            let h = overflow == .block ? heads[p] : queues[p].head.pointee.load(ordering: .relaxed)
            if queues[p].published(at: h) != nil { return true }
        }
        return false
    }

    /// Takes the next message, passing its bytes to `read` while they are ours; with
    /// `asSample`, first takes a free hazard and leaves the chunk held by it (the caller
    /// releases it). Returns `nil` if nothing is ready.
    func take<R: ~Copyable>(asSample: Bool, _ read: (Taken) -> R) throws(TopicError) -> R? {
        if pendingIndex < pendingHistory.count {
            let message = pendingHistory[pendingIndex]
            pendingHistory[pendingIndex] = pendingHistory[pendingHistory.count - 1]  // drop our reference
            pendingIndex += 1
            if pendingIndex == pendingHistory.count {
                pendingHistory.removeAll()
                pendingIndex = 0
            }
            return read(
                Taken(
                    publisher: message.publisher, sequence: message.sequence,
                    pointer: UnsafeRawPointer(message.bytes.baseAddress!), length: message.bytes.count,
                    missedBefore: 0, hazard: -1, history: message))
        }
        let count = queues.count
        for k in 0..<count {
            let p = (nextPublisher + k) % count
            if let result = try take(from: p, asSample: asSample, read) {
                nextPublisher = (p + 1) % count
                return result
            }
        }
        return nil
    }

    private func take<R: ~Copyable>(from p: Int, asSample: Bool, _ read: (Taken) -> R) throws(TopicError) -> R? {
        let queue = queues[p]
        let g = topic.geometry
        var hazard = -1
        if asSample {
            hazard = try claimHazard()
        }
        defer { if hazard >= 0 { releaseHazard(hazard) } }
        while true {
            let h: UInt64
            if overflow == .block {
                h = heads[p]
            } else {
                // Acquiring: the publisher may have moved the head (drops).
                h = queue.head.pointee.load(ordering: .acquiring)
            }
            guard let x = queue.published(at: h) else {
                if overflow == .dropOldest && queue.head.pointee.load(ordering: .acquiring) != h { continue }
                return nil
            }
            guard x < pool else { throw .corrupt("a queue entry names chunk \(x) of a pool of \(pool)") }
            let descriptor = topic.descriptor(publisher: p, chunk: x)
            // Relaxed: written before the entry's releasing store, which we acquired.
            let sequence = topic.atomic(descriptor + TopicGeometry.descriptorSequence, UInt64.self).pointee.load(
                ordering: .relaxed)
            let length = Int(
                topic.atomic(descriptor + TopicGeometry.descriptorLength, UInt32.self).pointee.load(ordering: .relaxed))
            let duplicate = lastSequence[p].map { Int64(bitPattern: sequence &- $0) <= 0 } ?? false
            let missed = lastSequence[p].map { Int(clamping: sequence &- $0 &- 1) } ?? 0
            let chunk = UnsafeRawPointer(topic.chunk(publisher: p, chunk: x))
            if hazard >= 0 && !duplicate {
                let id = UInt64(p) * UInt64(pool) + UInt64(x) + 1
                // Relaxed: the head's releasing store (or exchange) below publishes it.
                hazardWord(hazard).pointee.store(id, ordering: .relaxed)
            }
            var copy: R? = nil
            if !duplicate && hazard < 0 {
                guard length <= g.maximumMessageSize else {
                    throw .corrupt("a message of \(length) bytes in a topic of at most \(g.maximumMessageSize)")
                }
                copy = read(
                    Taken(
                        publisher: p, sequence: sequence, pointer: chunk, length: length, missedBefore: missed,
                        hazard: -1, history: nil))
            }
            if overflow == .block {
                heads[p] = h &+ 1
                // SYNC POINT: releasing; the publisher that acquires the new head sees our reads
                // of the chunk done (and the hazard stored) before it reuses anything.
                queue.head.pointee.store(h &+ 1, ordering: .releasing)
            } else {
                // Acquiring and releasing: as the store above, and against the publisher's drops.
                let (exchanged, _) = queue.head.pointee.compareExchange(
                    expected: h, desired: h &+ 1, successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
                // The publisher dropped it (and may be reusing the chunk): whatever we read is
                // discarded.
                guard exchanged else {
                    if hazard >= 0 { hazardWord(hazard).pointee.store(0, ordering: .releasing) }
                    continue
                }
            }
            if duplicate { continue }
            lastSequence[p] = sequence
            missedMessages &+= missed
            if overflow == .block { spaces[p].wake(count: 1) }
            if hazard >= 0 {
                guard length <= g.maximumMessageSize else {
                    hazardWord(hazard).pointee.store(0, ordering: .releasing)
                    throw .corrupt("a message of \(length) bytes in a topic of at most \(g.maximumMessageSize)")
                }
                let taken = Taken(
                    publisher: p, sequence: sequence, pointer: chunk, length: length, missedBefore: missed,
                    hazard: hazard, history: nil)
                hazard = -1  // the sample owns it now
                return read(taken)
            }
            return copy
        }
    }

    // MARK: - Hazards

    func hazardWord(_ k: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        topic.atomic(record + TopicGeometry.hazards + 8 * k, UInt64.self)
    }

    private func claimHazard() throws(TopicError) -> Int {
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
    func waitForMessage(strategy: WaitStrategy, deadline: Deadline) throws(TopicError) -> Bool {
        let outcome = ChannelControl.wait(on: notEmpty, strategy: strategy, deadline: deadline) {
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

    /// Leaves the topic. Runs when the last reference goes: the subscriber handle's and every
    /// held sample's (a sample keeps the subscription, and so its hazard, alive).
    private func end() {
        guard !ended else { return }
        ended = true
        // SYNC POINT: releasing; publishers stop counting our pins once they read "free".
        topic.atomic(record + TopicGeometry.subscriberState, UInt32.self).pointee.store(0, ordering: .releasing)
        topic.membership.pointee.wrappingAdd(1, ordering: .releasing)
        for space in spaces { space.wakeAll() }
        topic.segment.deregister(registration)
        topic.segment.unlockByte(TopicSegment.subscriberLock(slot))
    }

    deinit { end() }
}
