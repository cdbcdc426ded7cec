import Synchronization
import SystemPackage

/// The shared part of a typed channel: its segment, geometry and ring operations.
///
/// One instance per handle (each sender and receiver opens the segment itself, so each holds its
/// own open file description and therefore its own participant-table lock). Thread-safe for
/// MPMC operations; the SPSC operations are called by the single owner of a `~Copyable` handle.
final class ChannelRing<Element: BitwiseCopyable>: @unchecked Sendable {
    let segment: SharedMemory
    let control: ChannelControl
    let topology: ChannelTopology
    let capacity: Int
    let mask: UInt64
    let slots: UnsafeMutableRawPointer
    let slotStride: Int
    /// Offset of the element in an MPMC slot (after its UInt64 sequence); 0 for SPSC.
    let elementOffset: Int

    /// The geometry of a ring of `Element`s: (slot stride, element offset, slots offset).
    static func geometry(_ topology: ChannelTopology) -> (stride: Int, elementOffset: Int, slotsOffset: Int) {
        let alignment = MemoryLayout<Element>.alignment
        switch topology {
        case .singleProducerSingleConsumer:
            return (MemoryLayout<Element>.stride, 0, ChannelControl.slotsOffset(alignment: alignment))
        case .multiProducerMultiConsumer:
            let slotAlignment = max(8, alignment)
            let elementOffset = (8 + alignment - 1) / alignment * alignment
            let stride = (elementOffset + MemoryLayout<Element>.size + slotAlignment - 1) / slotAlignment * slotAlignment
            return (stride, elementOffset, ChannelControl.slotsOffset(alignment: slotAlignment))
        }
    }

    /// The largest capacity accepted (2^30 slots).
    static var maximumCapacity: Int { 1 << 30 }

    /// Opens or creates the channel `name`.
    init(
        name: String, capacity: Int?, topology: ChannelTopology?, mode: SharedMemory.OpenMode,
        permissions: FilePermissions, timeout: Duration
    ) throws(ChannelError) {
        if let capacity {
            guard capacity > 0, capacity <= ChannelRing.maximumCapacity, capacity & (capacity - 1) == 0 else {
                throw .segment(.invalidSize(capacity, reason: "a channel's capacity is a power of two in 1...\(ChannelRing.maximumCapacity)"))
            }
        } else if mode == .create {
            throw .segment(.invalidSize(0, reason: "a capacity is required to create a channel"))
        }
        // Without a capacity there is nothing to create with: open the existing channel.
        let mode: SharedMemory.OpenMode = capacity == nil ? .open : mode
        let createTopology = topology ?? .singleProducerSingleConsumer
        let (stride, elementOffset, slotsOffset) = ChannelRing.geometry(createTopology)
        let count = capacity ?? 0
        let layout = SharedMemory.Layout(
            kind: .channel, payloadSize: slotsOffset + count * stride, capacity: count,
            elementType: ElementType(Element.self),
            kindParameters: [createTopology.rawValue, UInt32(stride), UInt32(elementOffset), UInt32(slotsOffset)],
            checksCapacity: capacity != nil)
        let segment: SharedMemory
        do {
            segment = try SharedMemory(
                name: try SegmentName(name), mode: mode, layout: layout, permissions: permissions, timeout: timeout,
                registersAsOpener: false,
                initialize: { payload in
                    if createTopology == .multiProducerMultiConsumer {
                        // Slot i starts with sequence i: free for the producer at position i.
                        for i in 0..<count {
                            payload.storeBytes(of: UInt64(i), toByteOffset: slotsOffset + i * stride, as: UInt64.self)
                        }
                    }
                })
        } catch {
            throw .segment(error)
        }
        // The geometry comes from the checksummed header; check it against what this build
        // computes for `Element` before trusting it with any address.
        guard let found = ChannelTopology(rawValue: segment.kindParameters[0]) else {
            throw .corrupt("unknown topology \(segment.kindParameters[0])")
        }
        if let topology, topology != found { throw .topologyMismatch(expected: topology, found: found) }
        let expected = ChannelRing.geometry(found)
        let actualCapacity = segment.capacity
        guard segment.kindParameters[1] == UInt32(expected.stride),
            segment.kindParameters[2] == UInt32(expected.elementOffset),
            segment.kindParameters[3] == UInt32(expected.slotsOffset),
            actualCapacity > 0, actualCapacity <= ChannelRing.maximumCapacity, actualCapacity & (actualCapacity - 1) == 0,
            segment.bytes.count >= expected.slotsOffset + actualCapacity * expected.stride
        else {
            throw .corrupt("geometry does not match the element type")
        }
        self.segment = segment
        self.control = ChannelControl(payload: segment.bytes.baseAddress!)
        self.topology = found
        self.capacity = actualCapacity
        self.mask = UInt64(actualCapacity - 1)
        self.slots = segment.bytes.baseAddress! + expected.slotsOffset
        self.slotStride = expected.stride
        self.elementOffset = expected.elementOffset
    }

    @inline(__always)
    func slot(_ position: UInt64) -> UnsafeMutableRawPointer {
        slots + Int(truncatingIfNeeded: position & mask) &* slotStride
    }

    @inline(__always)
    func sequence(_ slot: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt64>> {
        slot.assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    @inline(__always)
    func element(_ slot: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Element> {
        (slot + elementOffset).assumingMemoryBound(to: Element.self)
    }

    // MARK: - MPMC (Vyukov's bounded queue: a sequence number per slot)
    //
    // Slot at position p holds sequence p when free for the producer of lap p, p + 1 once that
    // producer published, and p + capacity once the consumer of p released it. Producers claim a
    // position by compare-and-swap on enqueuePosition, consumers on dequeuePosition; the slot's
    // sequence is the only synchronisation between a producer and the consumer of its message.

    /// Claims a slot for sending; returns its position and address, or `nil` if the ring is
    /// full.
    @inline(__always)
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
                // one means the shared words are corrupt (the fuzzer found this loop endless on
                // a hostile segment): report "full" rather than spin.
                let reloaded = control.producerIndex.pointee.load(ordering: .relaxed)
                if reloaded == position { return nil }
                position = reloaded
            }
        }
    }

    @inline(__always)
    func mpmcPublish(_ position: UInt64, _ s: UnsafeMutableRawPointer) {
        // SYNC POINT: releasing; publishes the element to the consumer's acquiring load.
        sequence(s).pointee.store(position &+ 1, ordering: .releasing)
    }

    /// Claims a published slot for receiving, or `nil` if none is ready.
    @inline(__always)
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

    @inline(__always)
    func mpmcRelease(_ position: UInt64, _ s: UnsafeMutableRawPointer) {
        // SYNC POINT: releasing; our read of the element happens before a producer's overwrite.
        sequence(s).pointee.store(position &+ UInt64(capacity), ordering: .releasing)
    }

    /// Whether some sender claimed the slot receivers wait on without publishing it yet.
    func mpmcReceiverBlockedOnClaimedSlot() -> Bool {
        let position = control.consumerIndex.pointee.load(ordering: .relaxed)
        let claimedUpTo = control.producerIndex.pointee.load(ordering: .relaxed)
        let published = sequence(slot(position)).pointee.load(ordering: .acquiring) == position &+ 1
        return claimedUpTo > position && !published
    }

    /// Whether some receiver claimed the slot senders wait on without releasing it yet.
    func mpmcSenderBlockedOnClaimedSlot() -> Bool {
        let position = control.producerIndex.pointee.load(ordering: .relaxed)
        let lapStart = position &- UInt64(capacity)
        let dequeued = control.consumerIndex.pointee.load(ordering: .relaxed)
        let released = sequence(slot(position)).pointee.load(ordering: .acquiring) == position
        return position >= UInt64(capacity) && dequeued > lapStart && !released
    }

    // MARK: - Liveness

    /// Whether the senders are gone without closing: nobody left to publish (or, for MPMC, a
    /// dead sender holds the slot receivers wait on).
    func sendersDied() -> Bool {
        let peers = ChannelPeers(segment: segment, control: control)
        let (live, dead) = peers.counts(.sender)
        if peers.allGone(.sender, live: live) { return true }
        return topology == .multiProducerMultiConsumer && dead > 0 && mpmcReceiverBlockedOnClaimedSlot()
    }

    /// Whether the receivers are gone without closing while the ring is full.
    func receiversDied() -> Bool {
        let peers = ChannelPeers(segment: segment, control: control)
        let (live, dead) = peers.counts(.receiver)
        if peers.allGone(.receiver, live: live) { return true }
        return topology == .multiProducerMultiConsumer && dead > 0 && mpmcSenderBlockedOnClaimedSlot()
    }

    /// Messages in the ring (a snapshot; for inspection).
    var depth: Int {
        let tail = control.producerIndex.pointee.load(ordering: .relaxed)
        let head = control.consumerIndex.pointee.load(ordering: .relaxed)
        return tail >= head ? Int(min(tail - head, UInt64(capacity))) : 0
    }
}
