import Synchronization

/// A client's state: its slot in the service and, per request slot, its position in the
/// response ring, the slot's round and whether it must be recycled before its next request.
///
/// A request slot is used by whoever holds its flag in `inUse`: the client handle while it
/// waits for a response, or a ``PendingResponses`` stream on any thread. `heads`, `rounds` and
/// `recycle` at index k are touched only by the holder of flag k. Only the client handle sets
/// a flag (its methods are `mutating`: one caller at a time), and only the holder clears it, so
/// neither needs a read-modify-write.
///
/// ## After a crash
/// A new client in the slot of a dead one looks at every request slot: a request no server
/// took is withdrawn, one a live server is handling is cancelled (the server stops at its next
/// response) and recycled once the server is done, one whose server is dead too is recycled at
/// once: the ring's end is found by walking the entries that say "published at my position".
@usableFromInline
final class ServiceClientCore: @unchecked Sendable {
    let service: ServiceSegment
    let slot: Int
    let generation: UInt32
    private var registration: ParticipantRegistration?
    /// Flag k (1): request slot k is in use.
    let inUse: UnsafeMutablePointer<Atomic<UInt8>>
    let heads: LocalArray<UInt64>
    let rounds: LocalArray<UInt64>
    /// 1: the slot was given up (or sent without reply) and must be recycled before reuse.
    let recycle: LocalArray<UInt8>
    private var ended = false

    /// How long a waiting client sleeps before it checks that the server handling its request
    /// is alive: a server's death reaches its clients within this, not at their timeout.
    static let serverCheckInterval: Duration = .nanoseconds(Int64(serverCheckNanoseconds))
    static let serverCheckNanoseconds: UInt64 = 10_000_000

    init(service: ServiceSegment) throws(ServiceError) {
        let g = service.geometry
        guard let slot = try service.claimSlot(count: g.clients, byte: ServiceSegment.clientLock) else {
            throw .endpointLimitReached(.client, maximum: g.clients)
        }
        self.service = service
        self.slot = slot
        inUse = .allocate(capacity: g.requestsPerClient)
        for k in 0..<g.requestsPerClient { (inUse + k).initialize(to: Atomic(0)) }
        heads = LocalArray(repeating: 0, count: g.requestsPerClient)
        rounds = LocalArray(repeating: 0, count: g.requestsPerClient)
        recycle = LocalArray(repeating: 0, count: g.requestsPerClient)
        // Relaxed: the slot lock orders us after the predecessor; the releasing store of
        // "active" below publishes the generation.
        let word = service.clientGeneration(slot)
        generation = word.pointee.load(ordering: .relaxed) &+ 1
        word.pointee.store(generation, ordering: .relaxed)
        for k in 0..<g.requestsPerClient { adopt(k) }
        // SYNC POINT: releasing; a server that reads "active" sees the generation.
        service.clientState(slot).pointee.store(1, ordering: .releasing)
        do { registration = try service.segment.register(as: .client) } catch {
            end()
            throw .segment(error)
        }
    }

    /// Takes over request slot `k` from a predecessor (see the type's notes).
    private func adopt(_ k: Int) {
        let request = service.slot(client: slot, k)
        // Relaxed: our own slot's words, ordered after the predecessor by the slot lock (and
        // after servers by the acquiring loads of the state). Where the predecessor stopped
        // reading, for a slot whose server died (see `recoverFromDeadServer`).
        heads[k] = request.head.pointee.load(ordering: .relaxed)
        var state = request.load()
        while true {
            rounds[k] = state.round
            switch state.phase {
            case .free?:
                resetRing(k)
                return
            case .submitted?:
                let (exchanged, found) = request.exchange(state, state.with(phase: .free))
                if exchanged {
                    resetRing(k)
                    return
                }
                state = found
            case .claimed?, .cancelled?:
                if !service.isServerAlive(state.server, generation: state.generation) {
                    recoverFromDeadServer(k, state)
                    return
                }
                if state.phase == .claimed {
                    let (exchanged, found) = request.exchange(state, state.with(phase: .cancelled))
                    if !exchanged {
                        state = found
                        continue
                    }
                }
                recycle[k] = 1
                return
            case .done?:
                let (exchanged, found) = request.exchange(state, state.with(phase: .free))
                if exchanged {
                    resetRing(k)
                    return
                }
                state = found
            case nil:
                // A phase no participant writes: no server holds a claim on it.
                let reset = ServiceSlot.State(phase: .free, round: state.round)
                let (exchanged, found) = request.exchange(state, reset)
                if exchanged {
                    resetRing(k)
                    return
                }
                state = found
            }
        }
    }

    /// Moves our position in slot `k`'s ring (no server writes it: the slot is free, or done)
    /// to its end: the `tail` word the last writer stored, past whatever is published after it.
    private func resetRing(_ k: Int) {
        let request = service.slot(client: slot, k)
        // Relaxed: the acquiring load (or exchange) of the state ordered the last writer's
        // store before.
        let end = request.publishedEnd(from: request.tail.pointee.load(ordering: .relaxed))
        heads[k] = end
        request.tail.pointee.store(end, ordering: .relaxed)
        // Releasing: the next claimant reads the head and the tail (acquiring) before it writes.
        request.head.pointee.store(end, ordering: .releasing)
    }

    /// Frees slot `k`, whose server died holding it: past whatever it published.
    private func recoverFromDeadServer(_ k: Int, _ state: ServiceSlot.State) {
        let request = service.slot(client: slot, k)
        heads[k] = request.publishedEnd(from: heads[k])
        // Relaxed: ordered before the next claimant by the releasing exchange.
        request.tail.pointee.store(heads[k], ordering: .relaxed)
        request.head.pointee.store(heads[k], ordering: .releasing)
        _ = request.exchange(state, ServiceSlot.State(phase: .free, round: state.round))
        recycle[k] = 0
    }

    // MARK: - Request slots

    /// Takes a request slot that is free to use, recycling given-up ones; `nil` if every slot
    /// is in flight.
    @usableFromInline
    func acquire() -> Int? {
        let count = service.requestsPerClient
        for k in 0..<count {
            // Acquiring: pairs with the previous holder's releasing clear in `release`, so its
            // writes to the slot's local state (on any thread) are visible.
            guard inUse[k].load(ordering: .acquiring) == 0 else { continue }
            // Relaxed: no other thread writes a clear flag (see the type's notes); a holder on
            // another thread gets the slot through the `Sendable` handle it is given.
            inUse[k].store(1, ordering: .relaxed)
            if recycle[k] == 0 || recycled(k) { return k }
            release(k)
        }
        return nil
    }

    /// Gives up holding slot `k` (its words stay as they are).
    @usableFromInline
    func release(_ k: Int) {
        // Releasing: our writes to the slot's local state are visible to the next holder.
        inUse[k].store(0, ordering: .releasing)
    }

    /// Recycles slot `k` if the request it last carried is over; whether it is free now.
    private func recycled(_ k: Int) -> Bool {
        let request = service.slot(client: slot, k)
        var state = request.load()
        while true {
            switch state.phase {
            case .free?:
                recycle[k] = 0
                rounds[k] = state.round
                return true
            case .done?:
                let (exchanged, found) = request.exchange(state, state.with(phase: .free))
                if exchanged {
                    resetRing(k)
                    recycle[k] = 0
                    return true
                }
                state = found
            case .claimed?, .cancelled?:
                guard !service.isServerAlive(state.server, generation: state.generation) else { return false }
                recoverFromDeadServer(k, state)
                return true
            case .submitted?:
                // Sent without reply, not taken yet.
                return false
            case nil:
                let (exchanged, found) = request.exchange(state, ServiceSlot.State(phase: .free, round: state.round))
                if exchanged {
                    resetRing(k)
                    recycle[k] = 0
                    return true
                }
                state = found
            }
        }
    }

    /// Submits the request in slot `k` (held), written by `write`.
    ///
    /// The slot's ring is empty then: every entry before its `tail` word was read (the last
    /// request's last entry) or skipped (``resetRing(_:)``, ``recoverFromDeadServer(_:_:)``), so
    /// the claiming server starts with the head at the tail and reads the head only once the
    /// ring looks full.
    @usableFromInline
    func submit(_ k: Int, noReply: Bool, write: (UnsafeMutableRawPointer) -> Void) {
        let request = service.slot(client: slot, k)
        write(request.request)
        let round = rounds[k] &+ 1
        rounds[k] = round
        // SYNC POINT: releasing; the request is visible to the server whose exchange claims it.
        // A plain store: the slot is free, or `claimed` by a server that published its last
        // entry and whose late exchange (of the previous round) then fails.
        request.state.pointee.store(
            ServiceSlot.State(phase: .submitted, noReply: noReply, round: round).raw, ordering: .releasing)
        if !service.scansSlots {
            // Releasing: a server whose clearing exchange reads the bit sees the submit.
            service.pendingWord(slot).pointee.bitwiseOr(1 << UInt64(slot % 64), ordering: .releasing)
        }
        service.requestWake.wake(count: 1)
        if noReply { recycle[k] = 1 }
    }

    /// What waiting for a response found.
    @usableFromInline
    enum Next {
        /// A response (more follow unless `last`).
        case response(last: Bool)
        /// The end of the responses, without one.
        case end
        /// The deadline passed.
        case timedOut
    }

    /// Waits for the next response to the request in slot `k` until `deadline`; `read` reads
    /// the response in place before the slot moves on. The request's end (a last response, the
    /// end) frees the slot and releases `k`.
    /// - Throws: ``ServiceError/serverDied``, ``ServiceError/requestDropped`` (the slot is
    ///   freed and released), a damaged segment's error.
    @usableFromInline
    func next(_ k: Int, strategy: WaitStrategy, deadline: Deadline, read: (UnsafeRawPointer) -> Void)
        throws(ServiceError) -> Next
    {
        let request = service.slot(client: slot, k)
        // Set at the first slice that ends without a response: a response that comes within
        // one costs no clock read for it.
        var nextIntactCheck: Deadline? = nil
        while true {
            if let found = try poll(k, read: read) { return found }
            let h = heads[k]
            let sliceEnd = min(deadline, Deadline.after(nanoseconds: ServiceClientCore.serverCheckNanoseconds))
            let outcome = ChannelControl.wait(
                on: service.responseWake(client: slot), strategy: strategy, deadline: sliceEnd
            ) { request.isPublished(h) }
            if outcome == .ready { continue }
            try checkClaim(k)
            if nextIntactCheck?.hasPassed ?? true {
                if nextIntactCheck != nil {
                    do { try service.segment.checkIntact() } catch { throw .segment(error) }
                }
                nextIntactCheck = Deadline.after(ChannelControl.livenessInterval)
            }
            if deadline.hasPassed { return .timedOut }
        }
    }

    /// Whether the next response to the request in slot `k` is there (reads only).
    func hasResponse(_ k: Int) -> Bool { service.slot(client: slot, k).isPublished(heads[k]) }

    /// Takes the next response to the request in slot `k` if it is there (see ``next``);
    /// `nil` if not.
    func poll(_ k: Int, read: (UnsafeRawPointer) -> Void) throws(ServiceError) -> Next? {
        let request = service.slot(client: slot, k)
        let h = heads[k]
        guard request.isPublished(h) else { return nil }
        // Relaxed: ordered by the acquiring load of the sequence.
        let raw = request.entryKind(h).pointee.load(ordering: .relaxed)
        // A switch rather than `init(rawValue:)`, which the optimiser leaves a call.
        let kind: ResponseKind
        switch raw {
        case ResponseKind.more.rawValue: kind = .more
        case ResponseKind.last.rawValue: kind = .last
        case ResponseKind.end.rawValue: kind = .end
        case ResponseKind.dropped.rawValue: kind = .dropped
        default:
            finish(k)
            throw .corrupt("a response entry of kind \(raw)")
        }
        if kind == .more || kind == .last { read(UnsafeRawPointer(request.response(h))) }
        heads[k] = h &+ 1
        // SYNC POINT: releasing; our read of the entry is done before a server reuses it.
        request.head.pointee.store(h &+ 1, ordering: .releasing)
        if kind == .more {
            // Servers of any of our slots may wait for room.
            service.consumedWake(client: slot).wake(count: Int32.max)
            return .response(last: false)
        }
        finish(k)
        switch kind {
        case .last: return .response(last: true)
        case .end: return .end
        default: throw .requestDropped
        }
    }

    /// Whether the request in slot `k` can get no more responses: its server died, or it ended
    /// without a last one (reads only; ``checkClaim(_:)`` then reports it).
    func claimIsBroken(_ k: Int) -> Bool {
        let request = service.slot(client: slot, k)
        let state = request.load()
        if request.isPublished(heads[k]) { return false }
        switch state.phase {
        case .claimed?, .cancelled?: return !service.isServerAlive(state.server, generation: state.generation)
        case .submitted?: return false
        default: return true
        }
    }

    /// Checks the request in slot `k` while its next response is not there: throws if its
    /// server died or it ended without a last response (the slot is then freed and released).
    func checkClaim(_ k: Int) throws(ServiceError) {
        let request = service.slot(client: slot, k)
        // Acquiring (the state): a server that published its last entry before it moved the
        // state is seen to have published it.
        let state = request.load()
        if request.isPublished(heads[k]) { return }
        switch state.phase {
        case .claimed?, .cancelled?:
            if !service.isServerAlive(state.server, generation: state.generation) {
                recoverFromDeadServer(k, state)
                release(k)
                throw .serverDied
            }
        case .done?, .free?:
            // The server ended the claim without a last entry (it dropped the request when the
            // ring had no room), or a hostile write.
            recycle[k] = 1
            _ = recycled(k)
            release(k)
            throw .requestDropped
        case .submitted?:
            break
        case nil:
            recycle[k] = 1
            _ = recycled(k)
            release(k)
            throw .corrupt("a request slot in a phase no participant writes")
        }
    }

    /// Releases slot `k` after its request's last entry: the server frees the slot itself
    /// (`claimed` → `free`) once the entry is out, and a submit in the meantime wins over its
    /// exchange (a new round), so the slot is ours to reuse at once.
    private func finish(_ k: Int) {
        recycle[k] = 0
        release(k)
    }

    /// Gives up the request in slot `k` (held) before its end: withdrawn if no server took it,
    /// cancelled if one did (the slot is recycled once the server is done); releases `k`.
    @usableFromInline
    func abandon(_ k: Int) {
        let request = service.slot(client: slot, k)
        var state = request.load()
        while true {
            switch state.phase {
            case .submitted?:
                let (exchanged, found) = request.exchange(state, state.with(phase: .free))
                if exchanged {
                    recycle[k] = 0
                    release(k)
                    return
                }
                state = found
            case .claimed?:
                let (exchanged, found) = request.exchange(state, state.with(phase: .cancelled))
                if exchanged {
                    // Servers waiting for room look again, and stop.
                    service.consumedWake(client: slot).wake(count: Int32.max)
                    recycle[k] = 1
                    release(k)
                    return
                }
                state = found
            default:
                recycle[k] = 1
                release(k)
                return
            }
        }
    }

    /// Waits until `deadline` for a request slot (see ``acquire()``) while every one is in
    /// flight; `nil` if the deadline passed first.
    @usableFromInline
    func acquire(strategy: WaitStrategy, deadline: Deadline) -> Int? {
        while true {
            if let k = acquire() { return k }
            // A server that finishes a request wakes the client's response words.
            let outcome = ChannelControl.wait(
                on: service.responseWake(client: slot), strategy: strategy,
                deadline: min(deadline, Deadline.after(ServiceClientCore.serverCheckInterval))
            ) { self.hasRecyclableSlot() }
            if outcome == .timedOut && deadline.hasPassed { return nil }
        }
    }

    /// Waits until `deadline` for the first response to the request in slot `k` (read by
    /// `read`, as ``next(_:strategy:deadline:read:)``); the request is given up after it
    /// unless it was the last, and at the deadline.
    @usableFromInline
    func first(_ k: Int, strategy: WaitStrategy, deadline: Deadline, read: (UnsafeRawPointer) -> Void)
        throws(ServiceError)
    {
        switch try next(k, strategy: strategy, deadline: deadline, read: read) {
        case .response(last: true), .end: break
        case .response(last: false), .timedOut: abandon(k)
        }
    }

    /// The requests a client can have in flight.
    @usableFromInline var requestLimit: Int { service.requestsPerClient }

    /// Whether a slot not in use could be recycled now (reads only: a wait's condition).
    func hasRecyclableSlot() -> Bool {
        // Relaxed: a hint; `acquire` decides.
        for k in 0..<service.requestsPerClient where inUse[k].load(ordering: .relaxed) == 0 {
            switch service.slot(client: slot, k).load().phase {
            case .free?, .done?: return true
            default: continue
            }
        }
        return false
    }

    /// Whether any server is open and alive.
    var hasServer: Bool { service.hasLiveServer() }

    private func end() {
        guard !ended else { return }
        ended = true
        // SYNC POINT: releasing; servers stop writing for us once they read it.
        service.clientState(slot).pointee.store(0, ordering: .releasing)
        service.consumedWake(client: slot).wake(count: Int32.max)
        if let registration { service.segment.deregister(registration) }
        service.segment.unlockByte(ServiceSegment.clientLock(slot))
    }

    deinit {
        end()
        inUse.deinitialize(count: service.requestsPerClient)
        inUse.deallocate()
        heads.deallocate()
        rounds.deallocate()
        recycle.deallocate()
    }
}
