import Synchronization

/// One publisher's queue to one subscriber: a ring of chunk indexes.
///
/// ## Words
/// - `head` (its own line): the next position the subscriber takes. Written by the subscriber;
///   with ``TopicConfiguration/OverflowPolicy/dropOldest`` also by the publisher, which drops
///   the oldest entry of a full queue by a compare-and-swap of `head` (the subscriber takes an
///   entry by the same compare-and-swap, so exactly one of them owns each position).
/// - `tailRecord`, `dropped` (the publisher's line): the publisher's next position, stored after
///   every push for inspection and for a successor publisher (which walks on from it past the
///   entries published after the last store, see ``publishedEnd(from:)``); the entries the
///   publisher dropped.
/// - `entries`: entry *t* mod C holds `UInt32(t + 1) << 32 | chunk` once position *t* is
///   published (released); a subscriber at position *h* waits for the tag `UInt32(h + 1)`, which
///   no entry of the previous lap (tag `h + 1 − C`) carries. The subscriber polls the entry it
///   takes next, so a message moves the entry's line and the chunk's, nothing else.
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
        (base + TopicGeometry.queueEntries + Int(truncatingIfNeeded: position & mask) &* 8)
            .assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// The tag an entry published at `position` carries.
    @inline(__always)
    static func tag(_ position: UInt64) -> UInt64 { UInt64(UInt32(truncatingIfNeeded: position &+ 1)) }

    /// The chunk published at `position`, if the entry there says so (acquiring: the chunk and
    /// its descriptor, written before the publisher's releasing store, are visible after).
    @inline(__always)
    func published(at position: UInt64) -> Int? {
        // SYNC POINT: acquiring; pairs with the releasing store in `push`.
        let value = entry(position).pointee.load(ordering: .acquiring)
        guard value >> 32 == TopicQueue.tag(position) else { return nil }
        return Int(truncatingIfNeeded: value & 0xFFFF_FFFF)
    }

    /// Publishes `chunk` at `position` (the publisher only).
    @inline(__always)
    func push(_ chunk: Int, at position: UInt64) {
        // SYNC POINT: releasing; the chunk's bytes and descriptor, written before, are visible
        // to a subscriber whose acquiring load in `published(at:)` reads this entry.
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
