import Synchronization

/// One publisher's queue to one subscriber: a ring of chunk indexes.
///
/// ## Words
/// - `head` (its own 128-byte block): the next position the subscriber takes. Written by the subscriber;
///   with ``TopicConfiguration/OverflowPolicy/dropOldest`` also by the publisher, which drops
///   the oldest entry of a full queue by a compare-and-swap of `head` (the subscriber takes an
///   entry by the same compare-and-swap, so exactly one of them owns each position).
/// - `tailRecord`, `dropped` (the publisher's block, at 128): the publisher's next position, stored after
///   every push for inspection and for a successor publisher (which walks on from it past the
///   entries published after the last store, see ``publishedEnd(from:)``); the entries the
///   publisher dropped.
/// - `entries` (16 bytes each): entry *t* mod C holds `UInt32(t + 1) << 32 | chunk`, then the
///   message's sequence number, once position *t* is published (the first word released after
///   the second); a subscriber at position *h* waits for the tag `UInt32(h + 1)`, which no entry
///   of the previous lap (tag `h + 1 − C`) carries. The subscriber polls the entry it takes
///   next and finds the sequence beside it, so a typed message moves the entry's line and the
///   chunk's, nothing else.
struct TopicQueue {
    let base: UnsafeMutableRawPointer
    let mask: UInt64
    let capacity: Int

    init(_ base: UnsafeMutableRawPointer, capacity: Int) {
        self.base = base
        self.capacity = capacity
        self.mask = UInt64(capacity - 1)
    }

    var head: UnsafeMutablePointer<Atomic<UInt64>> {
        (base + TopicGeometry.queueHead).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
    var tailRecord: UnsafeMutablePointer<Atomic<UInt64>> {
        (base + TopicGeometry.queueTailRecord).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
    var dropped: UnsafeMutablePointer<Atomic<UInt64>> {
        (base + TopicGeometry.queueDropped).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
    @inline(__always)
    func entry(_ position: UInt64) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (base + TopicGeometry.queueEntries + Int(truncatingIfNeeded: position & mask) &* TopicGeometry.queueEntrySize)
            .assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// The tag an entry published at `position` carries.
    @inline(__always)
    static func tag(_ position: UInt64) -> UInt64 { UInt64(UInt32(truncatingIfNeeded: position &+ 1)) }

    /// The chunk published at `position`, if the entry there says so (acquiring: the chunk, its
    /// descriptor and the entry's sequence, written before the publisher's releasing store, are
    /// visible after).
    @inline(__always)
    func published(at position: UInt64) -> Int? {
        // SYNC POINT: acquiring; pairs with the releasing store in `push`.
        let value = entry(position).pointee.load(ordering: .acquiring)
        guard value >> 32 == TopicQueue.tag(position) else { return nil }
        return Int(truncatingIfNeeded: value & 0xFFFF_FFFF)
    }

    /// The sequence number of the message at `position`; read after `published(at:)` said it is
    /// there (relaxed: that acquiring load ordered it).
    @inline(__always)
    func sequence(at position: UInt64) -> UInt64 { (entry(position) + 1).pointee.load(ordering: .relaxed) }

    /// Publishes `chunk` at `position` (the publisher only).
    @inline(__always)
    func push(_ chunk: Int, sequence: UInt64, at position: UInt64) {
        // Relaxed: published by the releasing store that follows.
        (entry(position) + 1).pointee.store(sequence, ordering: .relaxed)
        // SYNC POINT: releasing; the chunk's bytes, its descriptor and the sequence, written
        // before, are visible to a subscriber whose acquiring load in `published(at:)` reads it.
        entry(position).pointee.store(TopicQueue.tag(position) << 32 | UInt64(chunk), ordering: .releasing)
        // Relaxed: a record for inspection and successors, who walk on from it.
        tailRecord.pointee.store(position &+ 1, ordering: .relaxed)
    }

    /// The end of what was published: `record`, moved past each entry that says "published at
    /// my position" (at most `capacity` of them, whatever a corrupt segment holds).
    func publishedEnd(from record: UInt64) -> UInt64 {
        var position = record
        for _ in 0..<capacity {
            guard published(at: position) != nil else { break }
            position &+= 1
        }
        return position
    }

    /// Moves `head` forward to `position` unless it is there or beyond already (wrapping
    /// comparison); returns the head.
    func advanceHead(to position: UInt64) -> UInt64 {
        // Relaxed load; the exchange orders (acquiring and releasing: a publisher that reads
        // the new head sees everything this side did before, and we see its drops).
        var current = head.pointee.load(ordering: .relaxed)
        while Int64(bitPattern: position &- current) > 0 {
            let (exchanged, found) = head.pointee.weakCompareExchange(
                expected: current, desired: position, successOrdering: .acquiringAndReleasing,
                failureOrdering: .relaxed)
            if exchanged { return position }
            current = found
        }
        return current
    }
}
