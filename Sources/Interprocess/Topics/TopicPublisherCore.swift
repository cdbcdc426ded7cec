import Synchronization

/// A publisher's state: its slot in the topic, its pool of chunks, its queues to the
/// subscribers and its history.
///
/// ## Who owns a chunk
/// Only the publisher decides when one of its chunks is free, from what it can read: a chunk is
/// in use while it is in the history ring, queued to a subscriber (between the queue's head and
/// the publisher's tail), named by a subscriber's hazard (a sample it holds), inside the history
/// window a joining subscriber pinned, or loaned. Nothing is counted in shared memory, so a
/// subscriber that dies, stops or scribbles can never make a chunk be freed twice or leak it:
/// its queue holds at most `capacity` chunks, its hazards `heldSamples`, its pin `history`, and
/// the pool (``TopicGeometry/poolSize``) has room for all of that from every subscriber slot at
/// once, plus the ring, the loans and one more. A reclaim scan therefore always finds a free
/// chunk, and a publisher never waits for chunks, only (with ``TopicConfiguration/OverflowPolicy/block``)
/// for queue space.
///
/// ## A publish
/// Write the chunk and its descriptor; append it to the history (if any); push its index to
/// every connected subscriber's queue (releasing); one ``StoreLoad`` barrier; read the
/// membership word (a subscriber that joined meanwhile is connected and pushed to) and the
/// subscribers' sleeper counts, and wake the ones that sleep.
///
/// Not thread-safe: its owner is the `~Copyable` publisher handle; only `returnedLoans` (set by
/// a loan dropped on any thread) is atomic. Its stored state is `@exclusivity(unchecked)`: only
/// the owning handle touches it, one call at a time, and the dynamic checks would cost more than
/// a message.
@usableFromInline
final class TopicPublisherCore: @unchecked Sendable {
    let topic: TopicSegment
    let slot: Int
    /// Taken once the publisher is open (so a count of registrations counts open publishers);
    /// the slot lock protects the object from removal before.
    private var registration: ParticipantRegistration?
    let record: UnsafeMutableRawPointer
    let pool: Int
    let capacity: Int
    let history: Int
    @usableFromInline let overflow: TopicConfiguration.OverflowPolicy
    let space: WaiterGatedWake
    /// The first of our chunks, and the distance between two: the address of chunk x, on every
    /// publish, without going through the segment's layout.
    private let chunks: UnsafeMutableRawPointer
    private let chunkStride: Int
    /// The chunk ``claimForPublish()`` took, which ``publishClaimed(length:)`` publishes.
    @exclusivity(unchecked) private var claimedChunk = 0

    // The per-chunk and per-subscriber state lives in buffers allocated once (`LocalArray`,
    // `LocalStack`): a publish writes several of them, and an array's copy-on-write check per
    // write would cost more than the rest of the publish.

    /// Chunks ready to write.
    @exclusivity(unchecked) private var free: LocalStack<Int32>
    /// Per chunk: 0 free, 1 in flight (published, or left by a predecessor), 2 loaned.
    private let state: LocalArray<UInt8>
    /// The chunks in state 1.
    @exclusivity(unchecked) private var inFlight: LocalStack<Int32>
    /// Per chunk: the history position it was appended at, or `UInt64.max`.
    private let historyPosition: LocalArray<UInt64>
    /// The history ring's positions `[historyCount − history, historyCount)`, by position mod
    /// `history` (-1: none).
    private let historyRing: LocalArray<Int32>
    @exclusivity(unchecked) private var historyCount: UInt64 = 0
    @exclusivity(unchecked) private var nextSequence: UInt64
    /// Scratch for the reclaim scan.
    private let pinned: LocalArray<Bool>

    struct Connection: BitwiseCopyable {
        let subscriber: Int
        let generation: UInt32
        let queue: TopicQueue
        /// The subscriber's `notEmpty` wake words.
        let notEmptyWords: UnsafeMutableRawPointer
        var notEmpty: WaiterGatedWake { WaiterGatedWake(at: notEmptyWords) }
        var cachedHead: UInt64
        /// Found dead (its slot lock free) or broken (a head no queue can have): skipped until
        /// the slot's generation changes.
        var dead = false
        var dropsSinceCheck: UInt32 = 0
    }
    /// The active subscribers we push to (dead ones stay, marked, until their slot changes).
    @exclusivity(unchecked) private(set) var connections: LocalStack<Connection>
    /// Scratch for a refresh of `connections`.
    @exclusivity(unchecked) private var nextConnections: LocalStack<Connection>
    /// The next position of every queue of ours, once known (`tailKnown`; a queue is ours alone
    /// to push to).
    private let tails: LocalArray<UInt64>
    private let tailKnown: LocalArray<Bool>
    @exclusivity(unchecked) private var membershipSeen: UInt64 = .max
    /// Messages published since the last wait for space: a run of several means a subscriber is
    /// draining a full queue, and the next wait starts with a backoff (see `WaitStrategy`).
    @exclusivity(unchecked) private var publishedSinceWait: UInt32 = 0
    /// Publishes since the last reclaim scan, and how many may pass before the next one even
    /// while free chunks remain (``reclaimInterval``).
    @exclusivity(unchecked) private var publishedSinceReclaim = 0
    private let reclaimInterval: Int
    /// Whether freed chunks are reused in publication order (small chunks) rather than most
    /// recently released first (large ones, of more than 4 KiB).
    private let reusesInOrder: Bool
    /// Whether anyone reads the chunk descriptors (history, or byte messages).
    private let writesDescriptors: Bool
    /// Per subscriber slot: the generation found dead (so a rescan does not connect it again),
    /// or `UInt64.max`.
    private let deadGenerations: LocalArray<UInt64>

    // Loans: `loanChunks[i]` is the chunk loan i holds while bit i of `loansOut` is set; a loan
    // dropped unpublished sets bit i of `returnedLoans`.
    @exclusivity(unchecked) private var loanChunks: [Int32]
    @exclusivity(unchecked) private var loansOut: UInt64 = 0
    let returnedLoans = Atomic<UInt64>(0)
    @exclusivity(unchecked) private var ended = false

    var stateWord: UnsafeMutablePointer<Atomic<UInt32>> { topic.atomic(record + TopicGeometry.publisherState) }

    init(topic: TopicSegment) throws(TopicError) {
        let g = topic.geometry
        guard let slot = try topic.claimSlot(count: g.publishers, byte: TopicSegment.publisherLock) else {
            throw .endpointLimitReached(.publisher, maximum: g.publishers)
        }
        self.topic = topic
        self.slot = slot
        self.record = topic.publisherRecord(slot)
        self.pool = topic.poolSize
        self.capacity = g.capacity
        self.history = g.history
        self.overflow = g.overflow
        self.space = WaiterGatedWake(at: record + TopicGeometry.space)
        self.chunks = topic.chunk(publisher: slot, chunk: 0)
        self.chunkStride = g.chunkStride
        self.historyPosition = LocalArray(repeating: .max, count: pool)
        self.historyRing = LocalArray(repeating: -1, count: max(1, history))
        self.pinned = LocalArray(repeating: false, count: pool)
        self.tails = LocalArray(repeating: 0, count: g.subscribers)
        self.tailKnown = LocalArray(repeating: false, count: g.subscribers)
        self.deadGenerations = LocalArray(repeating: .max, count: g.subscribers)
        self.connections = LocalStack(capacity: g.subscribers)
        self.nextConnections = LocalStack(capacity: g.subscribers)
        self.free = LocalStack(capacity: pool)
        self.inFlight = LocalStack(capacity: pool)
        self.loanChunks = Array(repeating: -1, count: g.loans)
        // Large chunks are reclaimed after every few publishes, so that the chunk a subscriber
        // has just released is the next one written: the pool's working set stays near the
        // queue's, in the cache, instead of cycling through every chunk. Small ones only when
        // none is free (the scan's cost is then shared by many publishes).
        self.reclaimInterval = max(1, (256 << 10) / g.chunkStride)
        self.writesDescriptors = g.history > 0 || topic.segment.kind == .byteTopic
        self.reusesInOrder = g.chunkStride <= 4096
        // Relaxed loads of our own slot's words: the slot lock, just taken, orders us after the
        // predecessor (its death or its unlock), and nobody else writes them.
        let previousState = topic.atomic(record + TopicGeometry.publisherState, UInt32.self).pointee.load(
            ordering: .relaxed)
        self.nextSequence = topic.atomic(record + TopicGeometry.nextSequence, UInt64.self).pointee.load(
            ordering: .relaxed)
        if previousState == 0 {
            // A slot never used: every chunk is free.
            self.state = LocalArray(repeating: 0, count: pool)
            for x in (0..<Int32(pool)).reversed() { free.append(x) }
        } else {
            // A predecessor's chunks may still be queued, held or pinned: all are in flight
            // until the first reclaim scan says otherwise.
            self.state = LocalArray(repeating: 1, count: pool)
            for x in 0..<Int32(pool) { inFlight.append(x) }
            for x in 0..<pool {
                historyPosition[x] = topic.atomic(
                    topic.descriptor(publisher: slot, chunk: x) + TopicGeometry.descriptorHistoryPosition, UInt64.self
                ).pointee.load(ordering: .relaxed)
            }
            adoptHistory()
        }
        let generation = topic.atomic(record + TopicGeometry.publisherGeneration, UInt32.self)
        generation.pointee.store(generation.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        // Releasing: a subscriber that reads "open" sees the history adopted above.
        stateWord.pointee.store(1, ordering: .releasing)
        refreshConnections()
        do { registration = try topic.segment.register(as: .publisher) } catch {
            end()
            throw .segment(error)
        }
    }

    /// Takes over the history a predecessor left: its window if it is whole, else none (a
    /// predecessor that died appending left one entry half-written).
    private func adoptHistory() {
        guard history > 0 else { return }
        let claimed = topic.atomic(record + TopicGeometry.historyClaimed, UInt64.self)
        let published = topic.atomic(record + TopicGeometry.historyPublished, UInt64.self)
        let c = claimed.pointee.load(ordering: .relaxed)
        let n = published.pointee.load(ordering: .relaxed)
        var whole = c == n
        if whole {
            for k in 0..<min(UInt64(history), n) {
                let position = n - 1 - k
                let x = Int(
                    topic.atomic(ringEntry(position), UInt32.self).pointee.load(ordering: .relaxed))
                guard x < pool else {
                    whole = false
                    break
                }
                historyRing[Int(position % UInt64(history))] = Int32(x)
            }
        }
        if whole {
            historyCount = n
        } else {
            // An empty window after everything a subscriber could have read: claimed first, so
            // that a reader never takes the new count for a published entry.
            historyCount = max(c, n) &+ UInt64(history)
            historyRing.fill(with: -1)
            claimed.pointee.store(historyCount, ordering: .relaxed)
            published.pointee.store(historyCount, ordering: .releasing)
        }
    }

    private func ringEntry(_ position: UInt64) -> UnsafeMutableRawPointer {
        record + TopicGeometry.historyRing + Int(position % UInt64(history)) * 4
    }

    // MARK: - Connections

    /// Whether the membership word changed since the connections were last read (then
    /// ``refreshConnections()`` re-reads them). No array in the common case: a publish calls it
    /// every time.
    @inline(__always)
    func membershipChanged() -> Bool {
        // Relaxed: the caller issued the barrier that orders this load after its publication
        // (see the type's notes); the states `refreshConnections` then reads are acquired.
        topic.membership.pointee.load(ordering: .relaxed) != membershipSeen
    }

    /// Re-reads which subscriber slots are active; returns the indexes of the connections to
    /// queues we were not pushing to (a new generation of a slot we were connected to keeps its
    /// queue, and what we pushed there).
    @discardableResult
    private func refreshConnections() -> [Int] {
        // Acquiring: pairs with the joining subscriber's releasing increment, after its
        // records are reset.
        membershipSeen = topic.membership.pointee.load(ordering: .acquiring)
        nextConnections.removeAll()
        var added: [Int] = []
        for j in 0..<topic.geometry.subscribers {
            let subscriberRecord = topic.subscriberRecord(j)
            // Acquiring: pairs with the subscriber's releasing store of "active".
            guard
                topic.atomic(subscriberRecord + TopicGeometry.subscriberState, UInt32.self).pointee.load(
                    ordering: .acquiring) == 1
            else { continue }
            let generation = topic.atomic(subscriberRecord + TopicGeometry.subscriberGeneration, UInt32.self).pointee
                .load(ordering: .relaxed)
            if deadGenerations[j] == UInt64(generation) { continue }
            var existing: Connection? = nil
            var wasConnected = false
            for i in connections.indices where connections[i].subscriber == j {
                if connections[i].generation == generation { existing = connections[i] }
                if !connections[i].dead { wasConnected = true }
            }
            if let existing {
                nextConnections.append(existing)
                continue
            }
            let queue = TopicQueue(topic.queue(publisher: slot, subscriber: j), capacity: capacity)
            if !wasConnected { added.append(nextConnections.count) }
            if !tailKnown[j] {
                tails[j] = queue.publishedEnd(from: queue.tailRecord.pointee.load(ordering: .relaxed))
                tailKnown[j] = true
            }
            nextConnections.append(
                Connection(
                    subscriber: j, generation: generation, queue: queue,
                    notEmptyWords: subscriberRecord + TopicGeometry.notEmpty,
                    cachedHead: queue.head.pointee.load(ordering: .acquiring)))
        }
        swap(&connections, &nextConnections)
        return added
    }

    /// The connections not found dead.
    var liveConnectionCount: Int { connections.indices.reduce(0) { $0 + (connections[$1].dead ? 0 : 1) } }

    /// Marks connection `index` dead (its subscriber died, or its queue is broken).
    private func markDead(_ index: Int) {
        connections[index].dead = true
        deadGenerations[connections[index].subscriber] = UInt64(connections[index].generation)
    }

    /// Checks the liveness of connection `index` through its slot lock.
    private func checkLiveness(_ index: Int) {
        if !topic.isHeld(TopicSegment.subscriberLock(connections[index].subscriber)) { markDead(index) }
    }

    /// The unread entries of connection `index` as far as we know (refreshing the head when the
    /// cached one says full); marks a broken queue dead.
    @inline(__always)
    private func queued(_ index: Int, refresh: Bool) -> Int {
        let tail = tails[connections[index].subscriber]
        var depth = Int64(bitPattern: tail &- connections[index].cachedHead)
        if depth >= Int64(capacity) || refresh {
            // SYNC POINT: acquiring; pairs with the subscriber's releasing store (or exchange)
            // of its head, after it stopped reading the entries and chunks before it.
            connections[index].cachedHead = connections[index].queue.head.pointee.load(ordering: .acquiring)
            depth = Int64(bitPattern: tail &- connections[index].cachedHead)
        }
        if depth < 0 || depth > Int64(capacity) {
            markDead(index)
            return 0
        }
        return Int(depth)
    }

    // MARK: - Space (block policy)

    /// Whether every live connection has room for one more entry (a subscriber that left, or
    /// joined, since the last look counts as such first).
    @usableFromInline @inline(__always)
    func hasSpace() -> Bool {
        // Acquiring: a subscriber that left bumped the word (releasing) before it woke us.
        if topic.membership.pointee.load(ordering: .acquiring) != membershipSeen { refreshConnections() }
        for i in connections.indices where !connections[i].dead {
            if queued(i, refresh: false) >= capacity { return false }
        }
        return true
    }

    /// Waits (``TopicConfiguration/OverflowPolicy/block``) until every live subscriber has room,
    /// until `deadline`; `false` if it passed first.
    @usableFromInline
    func waitForSpace(strategy: WaitStrategy, deadline: Deadline) throws(TopicError) -> Bool {
        guard overflow == .block else { return true }
        // The first wait is short: a stream's full queue drains within microseconds, and one that
        // stays full longer has its subscribers' liveness checked (a dead one stops counting)
        // before the long sleep.
        var checked = false
        while !hasSpace() {
            let end = checked ? deadline : min(deadline, Deadline.after(TopicPublisherCore.firstWait))
            let streaming = publishedSinceWait >= ChannelControl.streamingRun && strategy != .block
            publishedSinceWait = 0
            switch ChannelControl.wait(
                on: space, strategy: strategy, deadline: end, backoff: streaming, { self.hasSpace() })
            {
            case .ready:
                continue
            case .timedOut:
                checkFullConnections()
                if hasSpace() { return true }
                if deadline.hasPassed { return false }
                checked = true
            case .checkLiveness:
                do { try topic.segment.checkIntact() } catch { throw .segment(error) }
                checkFullConnections()
            }
        }
        return true
    }

    /// How long a blocked publisher waits before it checks whether the subscribers it waits for
    /// are alive.
    static let firstWait: Duration = .milliseconds(1)

    /// Checks the liveness of every full connection (a blocked publisher's liveness check).
    func checkFullConnections() {
        for i in connections.indices where !connections[i].dead {
            if queued(i, refresh: true) >= capacity { checkLiveness(i) }
        }
    }

    // MARK: - Chunks

    /// A free chunk (reclaiming if none is ready).
    @usableFromInline
    @inline(__always)
    func takeChunk() throws(TopicError) -> Int {
        if free.isEmpty || publishedSinceReclaim >= reclaimInterval { reclaim() }
        guard let x = free.popLast() else {
            // The pool has room for every pin every subscriber slot can make; only a pool that
            // is not this topic's could run dry.
            throw .corrupt("no free chunk in a pool sized for every subscriber's pins")
        }
        return Int(x)
    }

    @usableFromInline
    func chunk(_ x: Int) -> UnsafeMutableRawPointer { chunks + x &* chunkStride }

    // MARK: - The copying publish, in two calls

    /// The first half of a copying publish: if every live subscriber has room (or the policy
    /// drops), takes a chunk and returns its address for the caller to write the message in;
    /// `nil` if a live subscriber's queue is full. ``publishClaimed(length:)`` is the second.
    ///
    /// Two calls instead of four (space, chunk, address, publish): each is a call into this
    /// module from the caller's specialised code, and the message is written in between.
    @usableFromInline
    func claimForPublish() throws(TopicError) -> UnsafeMutableRawPointer? {
        guard overflow == .dropOldest || hasSpace() else { return nil }
        let x = try takeChunk()
        claimedChunk = x
        return chunk(x)
    }

    /// Publishes the chunk ``claimForPublish()`` returned, written with `length` bytes.
    @usableFromInline
    func publishClaimed(length: Int) { publishInline(chunk: claimedChunk, length: length) }

    /// Gives back chunks of loans dropped unpublished.
    private func collectReturnedLoans() {
        // Acquiring: pairs with the dropping loan's releasing `fetch-or`; the loan's writes to
        // the chunk are done.
        var returned = returnedLoans.exchange(0, ordering: .acquiring)
        while returned != 0 {
            let i = returned.trailingZeroBitCount
            returned &= returned - 1
            loansOut &= ~(1 << UInt64(i))
            let x = loanChunks[i]
            state[Int(x)] = 0
            free.append(x)
        }
    }

    /// Frees every in-flight chunk nothing pins (see the type's notes for what pins one).
    private func reclaim() {
        collectReturnedLoans()
        publishedSinceReclaim = 0
        // The barrier orders our last history eviction (a store) before the loads of the pins
        // below: a subscriber that pinned a window after that eviction sees it (its own store,
        // barrier, load of `historyClaimed`) and does not read the evicted entry.
        StoreLoad.barrier()
        if membershipChanged() { refreshConnections() }
        for i in inFlight.indices { pinned[Int(inFlight[i])] = false }
        if history > 0 {
            let start = historyCount >= UInt64(history) ? historyCount - UInt64(history) : 0
            var position = start
            while position != historyCount {
                let x = historyRing[Int(position % UInt64(history))]
                if x >= 0 { pinned[Int(x)] = true }
                position &+= 1
            }
        }
        for i in connections.indices where !connections[i].dead {
            let depth = queued(i, refresh: true)
            let tail = tails[connections[i].subscriber]
            var position = tail &- UInt64(depth)
            while position != tail {
                // Relaxed: our own stores.
                let x = Int(
                    truncatingIfNeeded: connections[i].queue.entry(position).pointee.load(ordering: .relaxed)
                        & 0xFFFF_FFFF)
                if x < pool { pinned[x] = true }
                position &+= 1
            }
        }
        let g = topic.geometry
        let ours = UInt64(slot) * UInt64(pool)
        for j in 0..<g.subscribers {
            let subscriberRecord = topic.subscriberRecord(j)
            // Relaxed: a free slot's words are zero or stale, and stale pins only keep chunks
            // longer. Active (1) and leaving (2: samples still held) slots pin.
            let subscriberState = topic.atomic(subscriberRecord + TopicGeometry.subscriberState, UInt32.self).pointee
                .load(ordering: .relaxed)
            guard subscriberState == 1 || subscriberState == 2 else { continue }
            // A subscriber found dead pins nothing; a successor in its slot bumps the generation.
            let generation = topic.atomic(subscriberRecord + TopicGeometry.subscriberGeneration, UInt32.self).pointee
                .load(ordering: .relaxed)
            if deadGenerations[j] == UInt64(generation) { continue }
            for k in 0..<g.heldSamples {
                // SYNC POINT: acquiring; pairs with the subscriber's releasing clear of a hazard
                // after its last read of the sample: once we see it cleared, we may overwrite.
                let hazard = topic.atomic(subscriberRecord + TopicGeometry.hazards + 8 * k, UInt64.self).pointee.load(
                    ordering: .acquiring)
                guard hazard != 0 else { continue }
                let id = hazard &- 1
                if id >= ours && id - ours < UInt64(pool) { pinned[Int(id - ours)] = true }
            }
            // Acquiring, as for the hazards.
            let pin = topic.atomic(subscriberRecord + TopicGeometry.historyPin, UInt64.self).pointee.load(
                ordering: .acquiring)
            if history > 0 && pin >> 48 == UInt64(slot + 1) {
                let floor = pin & TopicPublisherCore.positionMask
                for i in inFlight.indices {
                    let x = inFlight[i]
                    let position = historyPosition[Int(x)]
                    if position != .max && (position &- floor) & TopicPublisherCore.positionMask < UInt64(history) {
                        pinned[Int(x)] = true
                    }
                }
            }
        }
        let pinned = self.pinned, state = self.state
        var freed = free
        let firstFreed = freed.count
        inFlight.retain { x in
            if pinned[Int(x)] { return true }
            state[Int(x)] = 0
            freed.append(x)
            return false
        }
        // Small chunks are reused in the order they were published (the stack pops its last
        // element first, so the freed run goes in reversed): consecutive messages then sit in
        // consecutive chunks lap after lap, an address stream the cores' prefetchers follow.
        // Large ones are reused most recently released first (see `reclaimInterval`).
        if reusesInOrder { freed.reverse(from: firstFreed) }
        free = freed
    }

    /// History positions in a pin are compared modulo 2^48.
    static let positionMask: UInt64 = (1 << 48) - 1

    // MARK: - Loans

    /// Loans a free chunk; `nil` if every loan is out.
    func loan() throws(TopicError) -> (index: Int, chunk: Int)? {
        collectReturnedLoans()
        let loans = topic.geometry.loans
        let available = ~loansOut & (loans == 64 ? UInt64.max : (1 << UInt64(loans)) - 1)
        guard available != 0 else { return nil }
        let i = available.trailingZeroBitCount
        let x = try takeChunk()
        loansOut |= 1 << UInt64(i)
        loanChunks[i] = Int32(x)
        state[x] = 2
        return (i, x)
    }

    /// Ends loan `i` by publishing its chunk (the caller checked there is space).
    func publishLoan(_ i: Int, length: Int) {
        loansOut &= ~(1 << UInt64(i))
        publish(chunk: Int(loanChunks[i]), length: length)
    }

    // MARK: - Publishing

    /// Publishes chunk `x`, written with `length` bytes, to every connected subscriber. With
    /// ``TopicConfiguration/OverflowPolicy/block`` the caller made sure every live connection
    /// has room.
    @usableFromInline
    func publish(chunk x: Int, length: Int) { publishInline(chunk: x, length: length) }

    @inline(__always)
    private func publishInline(chunk x: Int, length: Int) {
        let sequence = nextSequence
        nextSequence &+= 1
        // Relaxed: our own words; the releasing stores below publish them.
        topic.atomic(record + TopicGeometry.nextSequence, UInt64.self).pointee.store(nextSequence, ordering: .relaxed)
        // The descriptor is read only by history readers, successors (its history position) and
        // byte subscribers (its length); a typed topic without history skips it (its queue
        // entries carry the sequence).
        if writesDescriptors {
            let descriptor = topic.descriptor(publisher: slot, chunk: x)
            topic.atomic(descriptor + TopicGeometry.descriptorSequence, UInt64.self).pointee.store(
                sequence, ordering: .relaxed)
            topic.atomic(descriptor + TopicGeometry.descriptorLength, UInt32.self).pointee.store(
                UInt32(length), ordering: .relaxed)
            let position = history > 0 ? historyCount : UInt64.max
            topic.atomic(descriptor + TopicGeometry.descriptorHistoryPosition, UInt64.self).pointee.store(
                position, ordering: .relaxed)
            historyPosition[x] = position
        }
        state[x] = 1
        inFlight.append(Int32(x))
        publishedSinceWait &+= 1
        publishedSinceReclaim &+= 1
        if history > 0 { appendToHistory(x) }
        for i in connections.indices where !connections[i].dead { push(x, sequence: sequence, to: i) }
        // The barrier orders the pushes (and the history append) before the loads of the
        // membership word and the sleeper counts: a subscriber that joined meanwhile either is
        // seen (and pushed to below) or sees the history entry; one that announced its sleep
        // either is seen (and woken) or sees the entry when it re-checks.
        StoreLoad.barrier()
        if membershipChanged(), case let added = refreshConnections(), !added.isEmpty {
            // A subscriber that joined while we published: its queue starts empty (it moved its
            // head to our tail), so there is room.
            for i in added where queued(i, refresh: true) < capacity { push(x, sequence: sequence, to: i) }
            StoreLoad.barrier()
        }
        for i in connections.indices where !connections[i].dead {
            // Relaxed: ordered by the barrier above.
            if connections[i].notEmpty.waiters.pointee.load(ordering: .relaxed) != 0 {
                connections[i].notEmpty.bumpAndWake(count: 1)
            }
            // The line the next push to this queue writes: its ownership moves here while the
            // caller works, not in the next publish's barrier (which waits for every store
            // before it to own its line).
            CPU.prefetchForWriting(connections[i].queue.entry(tails[connections[i].subscriber]))
        }
        // The chunk the next publish writes (the free list's top), for the same reason.
        if let next = free.last { CPU.prefetchForWriting(chunk(Int(next))) }
    }

    private func appendToHistory(_ x: Int) {
        let position = historyCount
        historyRing[Int(position % UInt64(history))] = Int32(x)
        historyCount = position &+ 1
        // The chunk this overwrites stays in flight until a reclaim scan finds it unpinned.
        // The ring entry is overwritten in place, so readers validate what they read (a
        // seqlock): `historyClaimed` moves first, and the releasing fence orders it before the
        // entry's store; a reader that reads the new entry and then (after its acquiring fence)
        // `historyClaimed` sees the claim and discards the entry it overwrote.
        topic.atomic(record + TopicGeometry.historyClaimed, UInt64.self).pointee.store(
            historyCount, ordering: .relaxed)
        atomicMemoryFence(ordering: .releasing)
        topic.atomic(ringEntry(position), UInt32.self).pointee.store(UInt32(x), ordering: .relaxed)
        // SYNC POINT: releasing; a reader that acquires the count sees the entry and the chunk.
        topic.atomic(record + TopicGeometry.historyPublished, UInt64.self).pointee.store(
            historyCount, ordering: .releasing)
    }

    /// Pushes chunk `x` to connection `i` (dropping the oldest entry of a full queue with
    /// ``TopicConfiguration/OverflowPolicy/dropOldest``).
    @inline(__always)
    private func push(_ x: Int, sequence: UInt64, to i: Int) {
        let j = connections[i].subscriber
        let tail = tails[j]
        if queued(i, refresh: false) >= capacity {
            guard overflow == .dropOldest else {
                // `hasSpace` said there was room, and only the subscriber moves its head (on):
                // a full queue now is one whose head went back, which no subscriber does.
                markDead(i)
                return
            }
            dropOldest(i, tail: tail)
            if connections[i].dead { return }
        }
        connections[i].queue.push(x, sequence: sequence, at: tail)
        tails[j] = tail &+ 1
    }

    /// Drops the oldest entries of connection `i` until one slot is free.
    private func dropOldest(_ i: Int, tail: UInt64) {
        let queue = connections[i].queue
        // Relaxed: a subscriber's exchange that we race is ordered by the exchange below.
        var head = queue.head.pointee.load(ordering: .relaxed)
        while Int64(bitPattern: tail &- head) >= Int64(capacity) {
            guard Int64(bitPattern: tail &- head) == Int64(capacity) else {
                markDead(i)
                return
            }
            // Acquiring and releasing: whoever wins the position owns its entry; we free nothing
            // here (the reclaim scan does), so only the head's order matters.
            let (exchanged, found) = queue.head.pointee.compareExchange(
                expected: head, desired: head &+ 1, successOrdering: .acquiringAndReleasing,
                failureOrdering: .acquiring)
            if exchanged {
                head &+= 1
                // Relaxed: only we write it; inspection reads a snapshot.
                queue.dropped.pointee.store(
                    queue.dropped.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
                connections[i].dropsSinceCheck &+= 1
                if connections[i].dropsSinceCheck >= TopicPublisherCore.dropsBetweenLivenessChecks {
                    connections[i].dropsSinceCheck = 0
                    checkLiveness(i)
                }
            } else {
                head = found
            }
        }
        connections[i].cachedHead = head
    }

    /// A subscriber that keeps losing messages is checked for liveness every this many drops,
    /// so a dead one stops costing a drop per publish.
    static let dropsBetweenLivenessChecks: UInt32 = 64

    // MARK: - Ending

    /// Closes the publisher slot: marks it closed (subscribers that drained everything see
    /// ``TopicError/closed`` once no publisher is open), wakes every subscriber, leaves.
    func end() {
        guard !ended else { return }
        ended = true
        // SYNC POINT: releasing; a subscriber that reads "closed" sees every entry pushed before.
        stateWord.pointee.store(2, ordering: .releasing)
        for i in connections.indices where !connections[i].dead { connections[i].notEmpty.wakeAll() }
        if let registration { topic.segment.deregister(registration) }
        topic.segment.unlockByte(TopicSegment.publisherLock(slot))
    }

    deinit {
        end()
        free.deallocate()
        inFlight.deallocate()
        state.deallocate()
        historyPosition.deallocate()
        historyRing.deallocate()
        pinned.deallocate()
        tails.deallocate()
        tailKnown.deallocate()
        deadGenerations.deallocate()
        connections.deallocate()
        nextConnections.deallocate()
    }
}
