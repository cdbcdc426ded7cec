import Synchronization
import SystemPackage

/// The shared part of a typed channel: its segment, geometry and ring operations.
///
/// One instance per handle (each sender and receiver opens the segment itself, so each holds its
/// own open file description and therefore its own participant-table lock). Thread-safe for
/// MPMC operations; the SPSC operations are called by the single owner of a `~Copyable` handle.
///
/// `@usableFromInline` (and the slot arithmetic and MPMC claims `@inlinable`) so the handles'
/// fast paths specialise in the caller's module; see ``ChannelControl``.
@usableFromInline
final class ChannelRing<Element: BitwiseCopyable>: @unchecked Sendable {
    let segment: SharedMemory
    @usableFromInline let control: ChannelControl
    /// Where the slots are, as the header records it (checked against `Element`).
    let geometry: ChannelGeometry
    @usableFromInline let topology: ChannelTopology
    @usableFromInline let capacity: Int
    @usableFromInline let mask: UInt64
    @usableFromInline let slots: UnsafeMutableRawPointer
    @usableFromInline let slotStride: Int
    /// Offset of the element in a slot (after the slot's UInt64 sequence).
    @usableFromInline let elementOffset: Int
    /// SPSC: the producer records its position when `(position + 1) & spscRecordMask == 0`
    /// (every `min(capacity, ChannelControl.spscRecordInterval)` messages; see `spscPublish`).
    @usableFromInline let spscRecordMask: UInt64

    /// The largest capacity accepted (2^30 slots).
    static var maximumCapacity: Int { ChannelGeometry.maximumCapacity }

    /// Opens or creates the channel `name`.
    init(
        name: String, capacity: Int?, topology: ChannelTopology?, mode: SharedMemory.OpenMode,
        permissions: FilePermissions, lifetime: SharedMemory.Lifetime, owners: SharedMemory.OwnerPolicy,
        timeout: Duration
    ) throws(ChannelError) {
        if let capacity {
            guard capacity > 0, capacity <= ChannelRing.maximumCapacity, capacity & (capacity - 1) == 0 else {
                throw .segment(
                    .invalidSize(
                        capacity, reason: "a channel's capacity is a power of two in 1...\(ChannelRing.maximumCapacity)"
                    ))
            }
        } else if mode == .create {
            throw .segment(.invalidSize(0, reason: "a capacity is required to create a channel"))
        }
        // Without a capacity there is nothing to create with: open the existing channel.
        let mode: SharedMemory.OpenMode = capacity == nil ? .open : mode
        let createTopology = topology ?? .singleProducerSingleConsumer
        // Why MPMC needs two slots: a published slot holds sequence p + 1, and a free slot of
        // the next lap holds p + capacity. With one slot these are equal, so a sender would take
        // a full slot for a free one and overwrite an unreceived message, after which receivers
        // would spin on a sequence that is ahead of them.
        if let capacity, capacity < 2, createTopology == .multiProducerMultiConsumer {
            throw .segment(
                .invalidSize(capacity, reason: "a multi-producer multi-consumer channel's capacity is at least 2"))
        }
        let created = ChannelGeometry.typed(Element.self, topology: createTopology, capacity: capacity ?? 0)
        let layout = SharedMemory.Layout(
            kind: .channel, payloadSize: created.payloadSize, capacity: created.capacity,
            elementType: ElementType(Element.self), kindParameters: created.kindParameters,
            checksCapacity: capacity != nil, lifetime: lifetime)
        let segment: SharedMemory
        do {
            segment = try SharedMemory(
                name: try SegmentName(name), mode: mode, layout: layout, permissions: permissions, owners: owners,
                timeout: timeout, registersAsOpener: false,
                initialize: { payload in
                    // MPMC: slot i starts free for the producer at position i (sequence i).
                    // SPSC: every slot starts at 0, published at no position yet (see the SPSC
                    // notes below).
                    for i in 0..<created.capacity {
                        let sequence = createTopology == .multiProducerMultiConsumer ? UInt64(i) : 0
                        payload.storeBytes(
                            of: sequence, toByteOffset: created.slotsOffset + i * created.slotStride, as: UInt64.self)
                    }
                })
        } catch {
            throw .segment(error)
        }
        // The geometry comes from the checksummed header; check it against what this build
        // computes for `Element` before trusting it with any address.
        guard
            let found = ChannelGeometry(
                kind: segment.kind, kindParameters: segment.kindParameters, capacity: segment.capacity)
        else {
            throw .corrupt("unknown topology \(segment.kindParameters[0])")
        }
        if let topology, topology != found.topology {
            throw .topologyMismatch(expected: topology, found: found.topology)
        }
        guard found == ChannelGeometry.typed(Element.self, topology: found.topology, capacity: found.capacity),
            found.fits(payloadBytes: segment.bytes.count)
        else {
            throw .corrupt("geometry does not match the element type")
        }
        self.segment = segment
        self.control = ChannelControl(payload: segment.bytes.baseAddress!)
        self.geometry = found
        self.topology = found.topology
        self.capacity = found.capacity
        self.mask = UInt64(found.capacity - 1)
        self.slots = segment.bytes.baseAddress! + found.slotsOffset
        self.slotStride = found.slotStride
        self.elementOffset = found.elementOffset
        self.spscRecordMask = UInt64(min(found.capacity, ChannelControl.spscRecordInterval) - 1)
    }

    @inlinable @inline(__always)
    func slot(_ position: UInt64) -> UnsafeMutableRawPointer {
        slots + Int(truncatingIfNeeded: position & mask) &* slotStride
    }

    @inlinable @inline(__always)
    func sequence(_ slot: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt64>> {
        slot.assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    @inlinable @inline(__always)
    func element(_ slot: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Element> {
        (slot + elementOffset).assumingMemoryBound(to: Element.self)
    }

    // MARK: - SPSC (published through the slot, released through the consumer index)
    //
    // The producer publishes the message at position p by storing p + 1 in its slot's sequence
    // word; the consumer releases it by storing p + 1 in `consumerIndex`. The producer learns
    // that a slot is free only from `consumerIndex`, which it reads when its cached copy says
    // the ring is full (once per lap at most while traffic flows), never from the slot: so per
    // message one line moves to the consumer (which polls the very slot it reads next, so a
    // round trip moves no other line) and comes back to the producer on its next lap. Freeing
    // slots through their own words instead (as MPMC does) would make the producer read each
    // slot before writing it (BENCHMARKS.md, "How the 64 B rate went from 17.5 M to about
    // 46 M msg/s").
    //
    // Before its release the consumer stores the value it read (p + 1) back into the slot's
    // sequence word: a store that changes nothing, made for where the line goes. A line the
    // consumer has only read stays shared between the two caches, and the producer's next store
    // to it must first invalidate the consumer's copy, an exchange its wake barrier then waits
    // for, once per message; a line the consumer wrote moves to the producer whole, in one
    // transfer. On an AMD EPYC host that doubled a 64-byte stream's rate where the two cores
    // share no cache and left round trips unchanged (BENCHMARKS.md, "In pairs: the channel rows
    // beside the C limits").
    // It is safe because the producer writes the slot again only after it acquired a
    // `consumerIndex` past p, which the consumer stores (releasing) after the write-back; a
    // successor producer or an inspector walking the slots reads the same value either way.
    //
    // A slot last published at position q holds q + 1; the consumer at p waits for p + 1, and
    // the value a slot holds from the previous lap, p − capacity + 1, never equals it. A fresh
    // ring's slots hold 0, which equals p + 1 only at p = 2^64 − 1, a position a fresh ring
    // reaches only after 2^64 messages, long after every slot was rewritten. The single producer
    // and the single consumer (enforced by the role locks) keep their positions locally.
    //
    // `producerIndex` is only a record, for inspection and for a successor: the producer
    // writes it every `min(capacity, 16)` messages rather than after each one (a store per
    // message costs 64-byte throughput; see BENCHMARKS.md), so it lags the real end by fewer
    // than 16 messages (and less than a lap). Whoever needs the end walks forward from the record over the slots that
    // say "published at my position" (`ChannelControl.spscPublishedEnd`, shared with
    // inspection): at most 16 of them, and the first slot past the end holds an older lap's
    // value, which stops the walk.

    /// Whether the slot at `position` holds the message published at `position`.
    @inlinable @inline(__always)
    func spscIsPublished(_ s: UnsafeMutableRawPointer, at position: UInt64) -> Bool {
        // SYNC POINT: acquiring; pairs with the producer's releasing store in `spscPublish`,
        // so the element it wrote is visible.
        sequence(s).pointee.load(ordering: .acquiring) == position &+ 1
    }

    /// The consumer's released position, read by the producer when its cached copy says full.
    @inlinable @inline(__always)
    func spscReleasedPosition() -> UInt64 {
        // SYNC POINT: acquiring; pairs with the consumer's releasing store in `spscRelease`,
        // so its reads of the messages before that position finished before we overwrite them.
        control.consumerIndex.pointee.load(ordering: .acquiring)
    }

    @inlinable @inline(__always)
    func spscPublish(_ s: UnsafeMutableRawPointer, at position: UInt64) {
        // SYNC POINT: releasing; publishes the element to `spscIsPublished`.
        sequence(s).pointee.store(position &+ 1, ordering: .releasing)
        if (position &+ 1) & spscRecordMask == 0 { spscRecord(position &+ 1) }
    }

    /// Records the producer's position (see the notes above).
    @inlinable @inline(__always)
    func spscRecord(_ end: UInt64) {
        // Relaxed: read only by inspection and by a later producer (after the role lock, a
        // system call, ordered it); both walk forward over the slots anyway.
        control.producerIndex.pointee.store(end, ordering: .relaxed)
    }

    /// The position after the last published message: the record, moved past the slots
    /// published since (see the notes above).
    func spscPublishedEnd() -> UInt64 {
        ChannelControl.spscPublishedEnd(
            from: control.producerIndex.pointee.load(ordering: .acquiring), slots: UnsafeRawPointer(slots),
            stride: slotStride, capacity: capacity)
    }

    @inlinable @inline(__always)
    func spscRelease(_ s: UnsafeMutableRawPointer, at position: UInt64) {
        // Relaxed: the value the slot already holds (see the notes above); ordered before the
        // producer's next store to the slot by the releasing store below.
        sequence(s).pointee.store(position &+ 1, ordering: .relaxed)
        // SYNC POINT: releasing; our read of the element at `position` (and every one before
        // it) happens before the producer, after its acquiring load, reuses the slot.
        control.consumerIndex.pointee.store(position &+ 1, ordering: .releasing)
    }

    /// Whether a send could proceed now (the wait condition of blocked senders); `tail` is the
    /// SPSC producer's position, ignored for MPMC.
    func hasSpace(forProducerAt tail: UInt64) -> Bool {
        switch topology {
        case .singleProducerSingleConsumer:
            // Wrapping difference: positions wrap at 2^64 (see `depth`).
            return tail &- spscReleasedPosition() < UInt64(capacity)
        case .multiProducerMultiConsumer:
            // Relaxed position, acquiring sequence: as in `mpmcClaimForSend`.
            let position = control.producerIndex.pointee.load(ordering: .relaxed)
            return sequence(slot(position)).pointee.load(ordering: .acquiring) == position
        }
    }

    /// Whether a receive could proceed now; `head` is the SPSC consumer's position, ignored for
    /// MPMC.
    func hasMessage(forConsumerAt head: UInt64) -> Bool {
        switch topology {
        case .singleProducerSingleConsumer:
            return spscIsPublished(slot(head), at: head)
        case .multiProducerMultiConsumer:
            let position = control.consumerIndex.pointee.load(ordering: .relaxed)
            return sequence(slot(position)).pointee.load(ordering: .acquiring) == position &+ 1
        }
    }

    /// Whether every sender closed and nothing is left for a consumer at `head` (the SPSC
    /// consumer's position, ignored for MPMC): what receivers report as ``ChannelError/closed``.
    ///
    /// MPMC: a position that was claimed and never published is not "drained" although no
    /// message is ready there: a sender died holding it (a sender that closed published every
    /// claim). Messages other senders published behind it are still in the ring, so
    /// receivers treat it as a dead sender's hole (`sendersDied`, `mpmcSkipAbandonedClaims`),
    /// never as the end of the channel.
    func isClosedAndDrained(forConsumerAt head: UInt64) -> Bool {
        // SYNC POINT: acquiring; pairs with the last sender's store of `closed`, after which the
        // checks below see every message published before the close.
        guard control.closed.pointee.load(ordering: .acquiring) == 1 else { return false }
        if hasMessage(forConsumerAt: head) { return false }
        switch topology {
        case .singleProducerSingleConsumer:
            return true
        case .multiProducerMultiConsumer:
            // Relaxed: the senders are done (the acquire above), so the claim position is final.
            // Wrapping difference (see `depth`).
            let claimed = control.producerIndex.pointee.load(ordering: .relaxed)
            return Int64(bitPattern: claimed &- control.consumerIndex.pointee.load(ordering: .relaxed)) <= 0
        }
    }

    /// Where a new producer continues: the end of what its predecessors published, recorded or
    /// not (a slot published at `position` still says so after the consumer released it).
    func spscProducerStart() -> UInt64 { spscPublishedEnd() }

    /// Where a new consumer continues: the released index. A message the predecessor was still
    /// reading (taken, not yet released) is delivered again (at least once).
    func spscConsumerStart() -> UInt64 {
        control.consumerIndex.pointee.load(ordering: .acquiring)
    }

    // MARK: - MPMC (Vyukov's bounded queue: a sequence number per slot)
    //
    // Slot at position p holds sequence p when free for the producer of lap p, p + 1 once that
    // producer published, and p + capacity once the consumer of p released it. Producers claim a
    // position by compare-and-swap on enqueuePosition, consumers on dequeuePosition; the slot's
    // sequence is the only synchronisation between a producer and the consumer of its message.

    /// Claims a slot for sending; returns its position and address, or `nil` if the ring is
    /// full.
    @inlinable @inline(__always)
    func mpmcClaimForSend() -> (UInt64, UnsafeMutableRawPointer)? {
        // Relaxed: the slot sequence's acquiring load below is the synchronising read.
        var position = control.producerIndex.pointee.load(ordering: .relaxed)
        while true {
            let s = slot(position)
            // SYNC POINT: acquiring; pairs with the consumer's releasing store of p + capacity,
            // so its read of the previous message finished before we overwrite it.
            let sequence = sequence(s).pointee.load(ordering: .acquiring)
            let difference = Int64(bitPattern: sequence &- position)
            if difference == 0 {
                // Relaxed: winning the CAS only grants the slot; the data is published through
                // the slot's sequence.
                let (won, current) = control.producerIndex.pointee.weakCompareExchange(
                    expected: position, desired: position &+ 1, successOrdering: .relaxed, failureOrdering: .relaxed)
                if won { return (position, s) }
                position = current
            } else if difference < 0 {
                return nil
            } else {
                // Another producer took `position`: its CAS happened before its publish, which
                // our acquiring load saw, so the reload sees a later position. Reading the same
                // one means the shared words are corrupt (a hostile segment): report "full"
                // rather than spin.
                let reloaded = control.producerIndex.pointee.load(ordering: .relaxed)
                if reloaded == position { return nil }
                position = reloaded
            }
        }
    }

    @inlinable @inline(__always)
    func mpmcPublish(_ position: UInt64, _ s: UnsafeMutableRawPointer) {
        // SYNC POINT: releasing; publishes the element to the consumer's acquiring load.
        sequence(s).pointee.store(position &+ 1, ordering: .releasing)
    }

    /// Claims a published slot for receiving, or `nil` if none is ready.
    @inlinable @inline(__always)
    func mpmcClaimForReceive() -> (UInt64, UnsafeMutableRawPointer)? {
        var position = control.consumerIndex.pointee.load(ordering: .relaxed)
        while true {
            let s = slot(position)
            // SYNC POINT: acquiring; pairs with the producer's releasing publish.
            let sequence = sequence(s).pointee.load(ordering: .acquiring)
            let difference = Int64(bitPattern: sequence &- (position &+ 1))
            if difference == 0 {
                let (won, current) = control.consumerIndex.pointee.weakCompareExchange(
                    expected: position, desired: position &+ 1, successOrdering: .relaxed, failureOrdering: .relaxed)
                if won { return (position, s) }
                position = current
            } else if difference < 0 {
                return nil
            } else {
                // As in `mpmcClaimForSend`: an unchanged position with a sequence ahead of it
                // is corruption; report "empty" rather than spin forever.
                let reloaded = control.consumerIndex.pointee.load(ordering: .relaxed)
                if reloaded == position { return nil }
                position = reloaded
            }
        }
    }

    @inlinable @inline(__always)
    func mpmcRelease(_ position: UInt64, _ s: UnsafeMutableRawPointer) {
        // SYNC POINT: releasing; our read of the element happens before a producer's overwrite.
        sequence(s).pointee.store(position &+ UInt64(capacity), ordering: .releasing)
    }

    /// Whether some sender claimed the slot receivers wait on without publishing it yet.
    func mpmcReceiverBlockedOnClaimedSlot() -> Bool {
        let position = control.consumerIndex.pointee.load(ordering: .relaxed)
        let claimedUpTo = control.producerIndex.pointee.load(ordering: .relaxed)
        let published = sequence(slot(position)).pointee.load(ordering: .acquiring) == position &+ 1
        // Wrapping difference: the positions wrap at 2^64 (see `depth`).
        return Int64(bitPattern: claimedUpTo &- position) > 0 && !published
    }

    /// Whether some receiver claimed the slot senders wait on without releasing it yet.
    func mpmcSenderBlockedOnClaimedSlot() -> Bool {
        let position = control.producerIndex.pointee.load(ordering: .relaxed)
        let lapStart = position &- UInt64(capacity)
        let dequeued = control.consumerIndex.pointee.load(ordering: .relaxed)
        let released = sequence(slot(position)).pointee.load(ordering: .acquiring) == position
        // Wrapping difference (see `depth`): some receiver claimed a position of the previous
        // lap at or after the one this slot held.
        return Int64(bitPattern: dequeued &- lapStart) > 0 && !released
    }

    // MARK: - Liveness

    /// Whether the senders are gone without closing: nobody left to publish (or, for MPMC, a
    /// dead sender holds the slot receivers wait on).
    func sendersDied() -> Bool {
        let peers = ChannelPeers(segment: segment, control: control)
        let (live, dead) = peers.counts(.sender)
        if peers.allGone(.sender, live: live) { return true }
        // `live == 0` too: a sender that took over the dead ones' share and then closed leaves
        // the count at 0, and the dead one's table entry may have been reused since.
        return topology == .multiProducerMultiConsumer && (dead > 0 || live == 0) && mpmcReceiverBlockedOnClaimedSlot()
    }

    /// MPMC, for receivers that await a successor: releases the slots at the receivers'
    /// position that dead senders claimed and never published, so the receivers reach what was
    /// published after them (and a successor's messages).
    ///
    /// A claimed slot is released only below `abandonedClaimsEnd`, where no live sender can
    /// still be writing (see `recordAbandonedClaims`). A sender that opens while no other is
    /// alive raises it; so does this call when it finds no sender alive. Releasing a slot is a
    /// receive without the read: win the position, then free the slot for the next lap.
    func mpmcSkipAbandonedClaims() {
        // Read before the liveness scan (see `recordAbandonedClaims`). Relaxed: ordered by the
        // scan's system calls.
        let claimed = control.producerIndex.pointee.load(ordering: .relaxed)
        if ChannelPeers(segment: segment, control: control).counts(.sender).live == 0 {
            control.recordAbandonedClaims(below: claimed)
        }
        // Relaxed: a hint; each slot's sequence is checked with acquire below.
        let end = control.abandonedClaimsEnd.pointee.load(ordering: .relaxed)
        var position = control.consumerIndex.pointee.load(ordering: .relaxed)
        var released: Int32 = 0
        while true {
            // Wrapping difference. While receivers stand at a hole, senders claim at most a ring
            // ahead of it, so a value further ahead is stale or hostile: leave it.
            let ahead = Int64(bitPattern: end &- position)
            guard ahead > 0, ahead <= Int64(capacity) else { break }
            let s = slot(position)
            // SYNC POINT: acquiring, as in `mpmcClaimForReceive`. `position` means claimed and
            // not published; anything else (published, or moved on by another receiver) is not
            // ours to skip.
            guard sequence(s).pointee.load(ordering: .acquiring) == position else { break }
            // Relaxed, as in `mpmcClaimForReceive`: winning grants the slot.
            let (won, current) = control.consumerIndex.pointee.weakCompareExchange(
                expected: position, desired: position &+ 1, successOrdering: .relaxed, failureOrdering: .relaxed)
            guard won else {
                position = current
                continue
            }
            mpmcRelease(position, s)
            released &+= 1
            position &+= 1
        }
        if released > 0 { control.notFull.wake(count: released) }
    }

    /// Whether the receivers are gone without closing while the ring is full.
    func receiversDied() -> Bool {
        let peers = ChannelPeers(segment: segment, control: control)
        let (live, dead) = peers.counts(.receiver)
        if peers.allGone(.receiver, live: live) { return true }
        return topology == .multiProducerMultiConsumer && dead > 0 && mpmcSenderBlockedOnClaimedSlot()
    }

    /// Messages in the ring (a snapshot; for inspection).
    var depth: Int { control.depth(geometry, slots: UnsafeRawPointer(slots)) }
}
