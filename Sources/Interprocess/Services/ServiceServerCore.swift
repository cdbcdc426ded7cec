import Synchronization

/// A server's state: its slot in the service and where its scan for requests resumes.
///
/// ## Taking a request
/// In a service with few request slots (``ServiceSegment/scansSlots``) servers look at every
/// slot's state word, starting after the client served last, and no one touches the pending
/// bitmap. In a larger one they find requests through the bitmap: a client sets its bit after it submits
/// (releasing), a server clears the bit (acquiring and releasing) *before* it scans that
/// client's slots, so a request submitted after the clear sets the bit again and one submitted
/// before it is seen by the scan. The server claims a submitted slot by a compare-and-swap to
/// `claimed` with its slot and generation; if more of the client's slots are submitted, it sets
/// the bit again and wakes another server. The bitmap is a hint: the slots' state words decide,
/// and an idle server also scans every slot once per liveness interval (a bit a hostile process
/// cleared, or a client that died between its submit and its bit, costs that interval, never a
/// request).
///
/// Not thread-safe: its owner is the `~Copyable` server handle. Requests it hands out
/// (``ServiceRequestCore``) run on their own and keep it alive.
@usableFromInline
final class ServiceServerCore: @unchecked Sendable {
    let service: ServiceSegment
    let slot: Int
    let generation: UInt32
    private var registration: ParticipantRegistration?
    /// The client the next scan starts with (clients are served in turn).
    private var nextClient = 0
    private var ended = false
    /// Whether this core holds a strong reference to itself, taken while no request was in
    /// sight, for the next request it hands out (see `referenceForRequest`).
    private var hasSpareReference = false

    init(service: ServiceSegment) throws(ServiceError) {
        let g = service.geometry
        guard let slot = try service.claimSlot(count: g.servers, byte: ServiceSegment.serverLock) else {
            throw .endpointLimitReached(.server, maximum: g.servers)
        }
        self.service = service
        self.slot = slot
        // Relaxed: the slot lock orders us after the predecessor; the releasing store of
        // "open" below publishes the generation.
        let word = service.serverGeneration(slot)
        generation = word.pointee.load(ordering: .relaxed) &+ 1
        word.pointee.store(generation, ordering: .relaxed)
        // SYNC POINT: releasing; a client that reads "open" sees the new generation.
        service.serverState(slot).pointee.store(1, ordering: .releasing)
        do { registration = try service.segment.register(as: .server) } catch {
            end()
            throw .segment(error)
        }
    }

    /// Whether some client may have a request waiting (reads only: the wait's condition).
    func hasPending() -> Bool {
        if service.scansSlots {
            for j in 0..<service.clientCount {
                for k in 0..<service.requestsPerClient {
                    let slot = service.slot(client: j, k)
                    // For writing, as in `claim(from:)`: a spinning server holds the lines it
                    // polls, and the one a client wrote comes back ready for the claim.
                    CPU.prefetchForWriting(slot.state)
                    if slot.isSubmitted { return true }
                }
            }
            return false
        }
        for w in 0..<service.pendingWordCount {
            // Relaxed: a hint; the claim acquires.
            if service.pendingWord(w).pointee.load(ordering: .relaxed) != 0 { return true }
        }
        return false
    }

    /// Claims the next submitted request, if any: through the pending bitmap, or with
    /// `scanningEverySlot` by looking at every slot of every client.
    @usableFromInline
    func take(scanningEverySlot: Bool = false) throws(ServiceError) -> ServiceRequestCore? {
        let clients = service.clientCount
        if scanningEverySlot || service.scansSlots {
            // From the turn's client on, then the ones before it.
            for j in nextClient..<clients { if let request = try claim(from: j) { return request } }
            for j in 0..<min(nextClient, clients) { if let request = try claim(from: j) { return request } }
            return nil
        }
        let words = service.pendingWordCount
        let firstWord = nextClient / 64
        for i in 0...words {
            // The first word twice: from the turn's client on, then (at the end) before it.
            let w = (firstWord + i) % words
            var bits = service.pendingWord(w).pointee.load(ordering: .relaxed)
            if i == 0 {
                bits &= ~0 << UInt64(nextClient % 64)
            } else if i == words {
                bits &= ~(~0 << UInt64(nextClient % 64))
            }
            while bits != 0 {
                let b = bits.trailingZeroBitCount
                bits &= bits - 1
                let j = w * 64 + b
                guard j < clients else { continue }
                // SYNC POINT: acquiring and releasing; the clear comes before our scan of the
                // slots, and pairs with the client's releasing set after its submit.
                service.pendingWord(w).pointee.bitwiseAnd(~(1 << UInt64(b)), ordering: .acquiringAndReleasing)
                if let request = try claim(from: j) { return request }
            }
        }
        return nil
    }

    /// Claims a submitted slot of client `j`.
    private func claim(from j: Int) throws(ServiceError) -> ServiceRequestCore? {
        let count = service.requestsPerClient
        for k in 0..<count {
            let slot = service.slot(client: j, k)
            // The claim below writes the line: fetched for writing, a submitted slot's line
            // moves here once (not shared first, then taken).
            CPU.prefetchForWriting(slot.state)
            let state = slot.load()
            guard state.phase == .submitted else { continue }
            let claimed = ServiceSlot.State(
                phase: .claimed, noReply: state.noReply, round: state.round, server: self.slot, generation: generation)
            guard slot.exchange(state, claimed).exchanged else { continue }
            // Relaxed: the client's generation is read after our acquiring exchange, which
            // ordered its registration (and the request) before.
            let clientGeneration = service.clientGeneration(j).pointee.load(ordering: .relaxed)
            // Relaxed: the previous writer stored the ring's end before giving the slot up, and
            // the chain of releasing and acquiring exchanges since orders it before us.
            let tail = slot.tail.pointee.load(ordering: .relaxed)
            // More of this client's requests wait: leave the bit for another server (in a
            // service that scans its slots, other servers find them themselves).
            if !service.scansSlots {
                for rest in (k + 1)..<count where service.slot(client: j, rest).isSubmitted {
                    service.pendingWord(j).pointee.bitwiseOr(1 << UInt64(j % 64), ordering: .releasing)
                    service.requestWake.wake(count: 1)
                    break
                }
            }
            nextClient = j + 1 == service.clientCount ? 0 : j + 1
            return ServiceRequestCore(
                server: referenceForRequest(), service: service, client: j, slot: slot, claim: claimed,
                clientGeneration: clientGeneration, tail: tail)
        }
        return nil
    }

    // MARK: - References held by requests

    /// The strong reference a request being handed out keeps (it keeps the core, and so the
    /// mapping and the server slot, alive until the request ends): the spare one if there is
    /// one, so that a claim makes no atomic increment between seeing a request and answering
    /// it; else a new one.
    private func referenceForRequest() -> Unmanaged<ServiceServerCore> {
        if hasSpareReference {
            hasSpareReference = false
            return .passUnretained(self)
        }
        return .passRetained(self)
    }

    /// Takes the spare reference, before a wait (when no request is in sight).
    @usableFromInline
    func stockSpareReference() {
        guard !hasSpareReference else { return }
        _ = Unmanaged.passUnretained(self).retain()
        hasSpareReference = true
    }

    /// Gives the spare reference back: the server handle's end (until then the spare keeps the
    /// core alive, and the handle's own reference outlives this call).
    @usableFromInline
    func dropSpareReference() {
        guard hasSpareReference else { return }
        hasSpareReference = false
        Unmanaged.passUnretained(self).release()
    }

    /// Waits until `deadline` for a request and claims it; `nil` if the deadline passed first.
    @usableFromInline
    func receive(strategy: WaitStrategy, deadline: Deadline) throws(ServiceError) -> ServiceRequestCore? {
        stockSpareReference()
        if strategy != .block {
            // A client's next request often follows the last response within a round trip: a
            // few looks before the clock is read for the wait's slices.
            for _ in 0..<ServiceServerCore.looksBeforeWaiting {
                CPU.relax()
                // `take` is the look: it only loads state words until one is submitted.
                if let request = try take() { return request }
            }
        }
        let livenessNanoseconds = UInt64(ChannelControl.livenessIntervalNanoseconds)
        var nextFullScan = Deadline.after(nanoseconds: livenessNanoseconds)
        while true {
            let woken = try waitForRequest(strategy: strategy, deadline: min(deadline, nextFullScan))
            if let request = try take() { return request }
            if !woken || nextFullScan.hasPassed {
                // Once per liveness interval, every slot: the bitmap is only a hint.
                nextFullScan = Deadline.after(nanoseconds: livenessNanoseconds)
                if let request = try take(scanningEverySlot: true) { return request }
                if deadline.hasPassed { return nil }
            }
        }
    }

    /// How many times a polling server looks for a request before it starts a timed wait
    /// (some hundreds of nanoseconds).
    static let looksBeforeWaiting = 16

    /// Waits for a request until `deadline`; `false` if it passed first.
    func waitForRequest(strategy: WaitStrategy, deadline: Deadline) throws(ServiceError) -> Bool {
        switch ChannelControl.wait(
            on: service.requestWake, strategy: strategy, deadline: deadline, { self.hasPending() })
        {
        case .ready: return true
        case .timedOut: return false
        case .checkLiveness:
            do { try service.segment.checkIntact() } catch { throw .segment(error) }
            return true
        }
    }

    /// Closes the server slot: clients waiting for a server see it closed; requests handed out
    /// keep the slot (and their claims) alive until they finish.
    func end() {
        guard !ended else { return }
        ended = true
        // SYNC POINT: releasing; pairs with clients' acquiring loads of the state.
        service.serverState(slot).pointee.store(2, ordering: .releasing)
        if let registration { service.segment.deregister(registration) }
        service.segment.unlockByte(ServiceSegment.serverLock(slot))
    }

    deinit { end() }
}

/// A request a server claimed: where it is and where its responses go.
///
/// A `~Copyable` value inside exactly one ``ServiceRequest`` (no allocation per request), whose
/// deinit ends the request as dropped if it is unfinished. It has no deinit of its own, so that
/// the public generic wrapper's inlined code can move and destroy it.
@usableFromInline
struct ServiceRequestCore: ~Copyable, @unchecked Sendable {
    let context: Context
    private var progress: Progress

    /// What the request is: fixed once claimed.
    struct Context {
        /// The server core, kept alive by this reference until the request ends
        /// (``ServiceRequestCore/releaseServer()``).
        let server: Unmanaged<ServiceServerCore>
        /// The server core's segment (alive while the core is).
        unowned(unsafe) let service: ServiceSegment
        let client: Int
        let claim: ServiceSlot.State
        let clientGeneration: UInt32
        let slot: ServiceSlot
    }

    /// How far the responses went.
    struct Progress {
        var tail: UInt64
        var cachedHead: UInt64
        var finished = false
    }

    init(
        server: Unmanaged<ServiceServerCore>, service: ServiceSegment, client: Int, slot: ServiceSlot,
        claim: ServiceSlot.State, clientGeneration: UInt32, tail: UInt64
    ) {
        context = Context(
            server: server, service: service, client: client, claim: claim, clientGeneration: clientGeneration,
            slot: slot)
        // The client read (or skipped) every entry before `tail` before it submitted this
        // request (see `ServiceClientCore.submit`): the ring is empty, and the head, a line the
        // client writes, is read only once the ring looks full.
        progress = Progress(tail: tail, cachedHead: tail)
    }

    @usableFromInline var expectsResponse: Bool { !context.claim.noReply }
    @usableFromInline var request: UnsafeRawPointer { UnsafeRawPointer(context.slot.request) }

    /// Writes one response entry of `kind`, waiting while the client has not read the ring's
    /// earlier entries; `write` fills the response in place.
    /// - Throws: ``ServiceError/clientGone`` if the client died, left or gave the request up;
    ///   ``ServiceError/finished`` after the last entry.
    @usableFromInline
    mutating func push(_ kind: ResponseKind, strategy: WaitStrategy, write: (UnsafeMutableRawPointer) -> Void)
        throws(ServiceError)
    {
        _ = try ServiceRequestCore.push(kind, context, &progress, strategy: strategy, write: write)
    }

    /// Writes one response entry of `kind` if the ring has room now; `false` if the client has
    /// not read enough of it yet (nothing written).
    mutating func tryPush(_ kind: ResponseKind, write: (UnsafeMutableRawPointer) -> Void) throws(ServiceError) -> Bool {
        try ServiceRequestCore.push(kind, context, &progress, strategy: nil, write: write)
    }

    /// The wake words a server waiting for room sleeps on, and whether there might be room
    /// (or the request is over) now: for waits outside ``push(_:strategy:write:)``.
    var roomWait: (wake: WaiterGatedWake, ready: @Sendable () -> Bool) {
        let slot = context.slot
        let claim = context.claim
        let full = progress.tail &- context.slot.capacity
        let shared = UncheckedSlot(slot)
        return (
            context.service.consumedWake(client: context.client),
            { shared.slot.head.pointee.load(ordering: .relaxed) != full || shared.slot.load() != claim }
        )
    }

    /// A slot's addresses, handed to a readiness check on another thread (they stay mapped:
    /// the request's server core holds the segment).
    struct UncheckedSlot: @unchecked Sendable {
        let slot: ServiceSlot
        init(_ slot: ServiceSlot) { self.slot = slot }
    }

    /// Pushes one entry; with a `strategy`, waits for room, else returns `false` when there is
    /// none.
    private static func push(
        _ kind: ResponseKind, _ c: Context, _ p: inout Progress, strategy: WaitStrategy?,
        write: (UnsafeMutableRawPointer) -> Void
    ) throws(ServiceError) -> Bool {
        guard !p.finished else { throw .finished }
        guard !c.claim.noReply else {
            if kind != .more { complete(c, &p) }
            return true
        }
        let slot = c.slot
        let capacity = c.slot.capacity
        var checked = false
        while p.tail &- p.cachedHead >= capacity {
            // SYNC POINT: acquiring; pairs with the client's releasing store of its head after it
            // read the entries before it.
            p.cachedHead = slot.head.pointee.load(ordering: .acquiring)
            let depth = p.tail &- p.cachedHead
            if depth > capacity {
                // A head no client writes: the slot is not ours to write any more.
                complete(c, &p)
                throw .corrupt("a response ring's head is ahead of its tail")
            }
            guard depth == capacity else { break }
            // The client still wants responses: the slot is still ours (not cancelled), and
            // (after a first short wait) the client is alive.
            guard slot.load() == c.claim, !checked || c.service.isClientAlive(c.client, generation: c.clientGeneration)
            else {
                complete(c, &p)
                throw .clientGone
            }
            guard let strategy else {
                // Not waiting here: a caller that waits elsewhere checks the client's liveness
                // at its slices (`tryPush` after a wait that found no room).
                return false
            }
            let head = p.cachedHead
            let end = Deadline.after(checked ? ChannelControl.livenessInterval : .milliseconds(1))
            _ = ChannelControl.wait(on: c.service.consumedWake(client: c.client), strategy: strategy, deadline: end) {
                slot.head.pointee.load(ordering: .relaxed) != head || slot.load() != c.claim
            }
            checked = true
        }
        guard slot.load() == c.claim else {
            complete(c, &p)
            throw .clientGone
        }
        write(slot.response(p.tail))
        // Relaxed: published by the releasing store of the sequence.
        slot.entryKind(p.tail).pointee.store(kind.rawValue, ordering: .relaxed)
        let position = p.tail
        p.tail &+= 1
        if kind != .more {
            // Relaxed: the next claimant starts here; ordered before it by the releasing store
            // below and the exchanges that hand the slot on.
            slot.tail.pointee.store(p.tail, ordering: .relaxed)
        }
        // SYNC POINT: releasing; the response and its kind are visible to a client that reads
        // the sequence (acquiring, `ServiceSlot.isPublished`).
        slot.entrySequence(position).pointee.store(position &+ 1, ordering: .releasing)
        // Every thread of the client that waits may wait for another of its requests.
        c.service.responseWake(client: c.client).wake(count: Int32.max)
        if kind != .more { complete(c, &p, lastPublished: true) }
        return true
    }

    /// Whether the client of the request is still alive (a syscall: for waits that last).
    var clientIsAlive: Bool { context.service.isClientAlive(context.client, generation: context.clientGeneration) }

    /// Ends the request as given up by its client (after a wait found the client dead).
    mutating func abandon() { ServiceRequestCore.complete(context, &progress) }

    /// Ends the claim: `free` after a last entry or for a request without reply, else `done`
    /// (the ring's `tail` word is current); a cancelled claim becomes `done` too.
    ///
    /// After a last entry (`lastPublished`) the client may already have reused the slot, so
    /// only the exchanges touch it (the last entry's push stored the `tail` word, and woke the
    /// client). Otherwise the client waits for a last entry that never comes, or gave the
    /// request up and waits for `done`: the slot is still ours, its `tail` word is stored
    /// first, and the client is woken after.
    private static func complete(_ c: Context, _ p: inout Progress, lastPublished: Bool = false) {
        guard !p.finished else { return }
        p.finished = true
        // Relaxed: ordered before the next claimant by the releasing exchange below.
        if !lastPublished { c.slot.tail.pointee.store(p.tail, ordering: .relaxed) }
        // After a last entry the slot is free at once (its client, which read the entry, may
        // submit its next request there first: a store our exchange then loses against).
        let next = c.claim.noReply || lastPublished ? c.claim.with(phase: .free) : c.claim.with(phase: .done)
        if !c.slot.exchange(c.claim, next).exchanged {
            // Cancelled by the client: it recycles the slot once it is done.
            _ = c.slot.exchange(c.claim.with(phase: .cancelled), c.claim.with(phase: .done))
        }
        // A client waiting to recycle the slot, or for a last response, looks again.
        if !lastPublished { c.service.responseWake(client: c.client).wake(count: Int32.max) }
    }

    /// Ends a request dropped without its last response: the client hears of it (an entry if
    /// the ring has room, else `done` without one).
    private static func drop(_ c: Context, _ p: inout Progress) {
        guard !p.finished else { return }
        let capacity = c.slot.capacity
        // SYNC POINT: acquiring, as in `push`.
        if !c.claim.noReply && p.tail &- c.slot.head.pointee.load(ordering: .acquiring) < capacity
            && c.slot.load() == c.claim
        {
            _ = try? push(.dropped, c, &p, strategy: .spin) { _ in }
        }
        complete(c, &p)
    }

    /// Ends the request as dropped unless it ended already (``ServiceRequest``'s deinit).
    @usableFromInline
    func dropIfUnfinished() {
        var progress = self.progress
        ServiceRequestCore.drop(context, &progress)
    }

    /// Gives back the request's reference to its server core (``ServiceRequest``'s deinit,
    /// once, after everything else: the core may end here).
    @usableFromInline
    func releaseServer() { context.server.release() }
}
