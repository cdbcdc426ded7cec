/// Where everything of a topic's payload lives: computed from the header's checksummed kind
/// parameters (never from the payload, which any participant can overwrite), checked against
/// the mapping before any address is used.
///
/// ## Kind parameters (``ObjectKind/topic``, ``ObjectKind/byteTopic``)
/// | [0] | [1] | [2] | [3] | [4] | [5] | [6] |
/// |---|---|---|---|---|---|---|
/// | publishers P | subscribers S | history H | policy (bits 0–7), held samples M (8–15), loans L (16–23) | chunk stride | chunk alignment | maximum message size |
///
/// The header's capacity field is the per-subscriber capacity C.
///
/// ## Payload
/// | offset | what | written by |
/// |---:|---|---|
/// | 0 | control: `membership` (UInt64), bumped by every subscriber that joins or leaves | subscribers |
/// | 128 | P publisher records (``publisherRecordSize``) | that publisher |
/// | … | S subscriber records (``subscriberRecordSize``) | that subscriber |
/// | … | P × S queues, publisher-major (``TopicLayout/queueSize``: `head` at 0, the publisher's words at 128, 16-byte entries from 256) | see `TopicQueue` |
/// | … | P × pool chunk descriptors, 32 B each: sequence UInt64, length UInt32, history position UInt64 at 16 | the chunk's publisher |
/// | … | P × pool chunks of `chunkStride` bytes, aligned to `chunkAlignment` | the chunk's publisher |
///
/// A publisher record: `state` UInt32 (0 never opened, 1 open, 2 closed) and `generation`
/// UInt32 at 0, which subscribers poll and the publisher writes only when it opens and closes;
/// `nextSequence`, `historyClaimed` and `historyPublished` (UInt64 each), written by every
/// publish, at 128; `space` (the wake words a blocked publisher sleeps on) at 256; `history` (H
/// UInt32 chunk indexes, a ring by history position) at 384.
///
/// A subscriber record: `state` UInt32 (0 free, 1 active, 2 leaving: holds samples, takes no
/// more messages), `generation` UInt32, `historyPin`
/// UInt64 on its first line; `notEmpty` (the wake words it sleeps on) at 64; `hazards` (M UInt64
/// chunk identities) at 128.
///
/// Every record and queue part written by a different side starts a 128-byte block of its own.
/// A change of anything here bumps the topic kinds' ``ObjectKind/layoutVersion``.
package struct TopicGeometry: Equatable, Sendable {
    package var publishers: Int
    package var subscribers: Int
    package var capacity: Int
    package var history: Int
    package var overflow: TopicConfiguration.OverflowPolicy
    package var heldSamples: Int
    package var loans: Int
    /// The distance between two chunks.
    package var chunkStride: Int
    /// The alignment of every chunk.
    package var chunkAlignment: Int
    /// The largest message (a typed topic's element size).
    package var maximumMessageSize: Int

    /// The largest per-subscriber capacity (2^24 messages).
    package static let maximumCapacity = 1 << 24
    /// The most publishers, and the most subscribers, a topic can have (2^16).
    package static let maximumEndpoints = 1 << 16
    /// The largest message of a byte topic (2^30 bytes).
    package static let maximumByteMessageSize = 1 << 30

    // Record and queue offsets (see the table above).
    static let controlSize = 128
    static let membership = 0
    static let publisherState = 0, publisherGeneration = 4
    static let nextSequence = 128, historyClaimed = 136, historyPublished = 144, space = 256, historyRing = 384
    static let subscriberState = 0, subscriberGeneration = 4, historyPin = 8, notEmpty = 64, hazards = 128
    static let queueHead = 0, queueTailRecord = 128, queueDropped = 136, queueEntries = 256, queueEntrySize = 16
    /// Words written by different sides are 128 bytes apart (two cache lines, so the
    /// adjacent-line prefetcher does not couple them), and records, queues and chunks start on
    /// 128-byte boundaries.
    static let block = 128
    static let descriptorSize = 32
    static let descriptorSequence = 0, descriptorLength = 8, descriptorHistoryPosition = 16

    /// The geometry of a new topic of `configuration` carrying messages of up to
    /// `maximumMessageSize` bytes aligned to `alignment`.
    package init(configuration c: TopicConfiguration, maximumMessageSize: Int, alignment: Int) {
        let chunkAlignment = max(TopicGeometry.block, alignment)
        self.init(
            publishers: c.maximumPublishers, subscribers: c.maximumSubscribers, capacity: c.capacity,
            history: c.history, overflow: c.overflow, heldSamples: c.maximumHeldSamples, loans: c.maximumLoans,
            chunkStride: max(1, maximumMessageSize).roundedUp(to: chunkAlignment), chunkAlignment: chunkAlignment,
            maximumMessageSize: maximumMessageSize)
    }

    package init(
        publishers: Int, subscribers: Int, capacity: Int, history: Int, overflow: TopicConfiguration.OverflowPolicy,
        heldSamples: Int, loans: Int, chunkStride: Int, chunkAlignment: Int, maximumMessageSize: Int
    ) {
        self.publishers = publishers
        self.subscribers = subscribers
        self.capacity = capacity
        self.history = history
        self.overflow = overflow
        self.heldSamples = heldSamples
        self.loans = loans
        self.chunkStride = chunkStride
        self.chunkAlignment = chunkAlignment
        self.maximumMessageSize = maximumMessageSize
    }

    /// The geometry a header records, or `nil` if its parameters do not describe one. Nothing
    /// is checked against a payload yet: see ``layout(payloadBytes:)``.
    package init?(kindParameters p: [UInt32], capacity: Int) {
        guard p.count >= 7, let overflow = TopicConfiguration.OverflowPolicy(rawValue: p[3] & 0xFF) else {
            return nil
        }
        self.init(
            publishers: Int(p[0]), subscribers: Int(p[1]), capacity: capacity, history: Int(p[2]), overflow: overflow,
            heldSamples: Int((p[3] >> 8) & 0xFF), loans: Int((p[3] >> 16) & 0xFF), chunkStride: Int(p[4]),
            chunkAlignment: Int(p[5]), maximumMessageSize: Int(p[6]))
    }

    /// The header's kind parameters (see the table above).
    package var kindParameters: [UInt32] {
        [
            UInt32(publishers), UInt32(subscribers), UInt32(history),
            overflow.rawValue | UInt32(heldSamples) << 8 | UInt32(loans) << 16,
            UInt32(chunkStride), UInt32(chunkAlignment), UInt32(maximumMessageSize)
        ]
    }

    /// The configuration this geometry was made from.
    package var configuration: TopicConfiguration {
        TopicConfiguration(
            capacity: capacity, maximumSubscribers: subscribers, maximumPublishers: publishers, history: history,
            overflow: overflow, maximumHeldSamples: heldSamples, maximumLoans: loans)
    }

    /// Chunks per publisher: every live, slow, stopped or dead subscriber can pin at most
    /// `capacity` queued chunks, `heldSamples` held ones and, while it joins, `history` ones of
    /// its history window; the history ring pins `history`, the publisher's loans `loans`; one
    /// more is always free, and `capacity` more let a reclaim scan free many chunks at once
    /// (the scan's cost is then shared by many publishes).
    package var poolSize: Int { layout(payloadBytes: Int.max)?.poolSize ?? 0 }

    /// The computed offsets, or `nil` if the geometry is out of bounds, overflows, or does not
    /// fit in `payloadBytes`. The header is another process's data: check this before using an
    /// address.
    package func layout(payloadBytes: Int) -> TopicLayout? {
        guard publishers >= 1, publishers <= TopicGeometry.maximumEndpoints, subscribers >= 1,
            subscribers <= TopicGeometry.maximumEndpoints, capacity >= 1, capacity <= TopicGeometry.maximumCapacity,
            capacity & (capacity - 1) == 0, history >= 0, history <= capacity, (1...64).contains(heldSamples),
            (1...64).contains(loans), chunkAlignment >= TopicGeometry.block, chunkAlignment <= 1 << 16,
            chunkAlignment & (chunkAlignment - 1) == 0, chunkStride >= 1, chunkStride % chunkAlignment == 0,
            maximumMessageSize >= 0, maximumMessageSize <= chunkStride,
            maximumMessageSize <= TopicGeometry.maximumByteMessageSize
        else { return nil }
        // Every product below is of values bounded above (2^16 · 2^24 · 2^30 at most), so the
        // checked arithmetic only guards the sums against a payload size near Int.max.
        let perSubscriber = capacity + heldSamples + history
        let pool = subscribers * perSubscriber + history + loans + 1 + capacity
        let publisherRecord = (TopicGeometry.historyRing + 4 * history).roundedUp(to: TopicGeometry.block)
        let subscriberRecord = (TopicGeometry.hazards + 8 * heldSamples).roundedUp(to: TopicGeometry.block)
        let queue = (TopicGeometry.queueEntries + TopicGeometry.queueEntrySize * capacity).roundedUp(
            to: TopicGeometry.block)
        var offset = TopicGeometry.controlSize
        func advance(_ bytes: (Int, Int)) -> Int? {
            let (size, o1) = bytes.0.multipliedReportingOverflow(by: bytes.1)
            let (end, o2) = offset.addingReportingOverflow(size)
            guard !o1, !o2 else { return nil }
            defer { offset = end }
            return offset
        }
        guard let publisherRecords = advance((publishers, publisherRecord)),
            let subscriberRecords = advance((subscribers, subscriberRecord)),
            let queues = advance((publishers * subscribers, queue)),
            let descriptors = advance((publishers * pool, TopicGeometry.descriptorSize))
        else { return nil }
        offset = offset.roundedUp(to: chunkAlignment)
        guard let chunks = advance((publishers * pool, chunkStride)), offset <= payloadBytes else { return nil }
        return TopicLayout(
            publisherRecords: publisherRecords, publisherRecordSize: publisherRecord,
            subscriberRecords: subscriberRecords, subscriberRecordSize: subscriberRecord, queues: queues,
            queueSize: queue, descriptors: descriptors, chunks: chunks, poolSize: pool, payloadSize: offset)
    }
}

/// A topic's payload offsets, computed by ``TopicGeometry/layout(payloadBytes:)``.
package struct TopicLayout: Equatable, Sendable {
    package var publisherRecords: Int
    package var publisherRecordSize: Int
    package var subscriberRecords: Int
    package var subscriberRecordSize: Int
    package var queues: Int
    package var queueSize: Int
    package var descriptors: Int
    package var chunks: Int
    /// Chunks per publisher.
    package var poolSize: Int
    /// The payload bytes the topic needs.
    package var payloadSize: Int
}

extension Int {
    /// The smallest multiple of `alignment` (a power of two) at least `self`.
    func roundedUp(to alignment: Int) -> Int { (self + alignment - 1) & ~(alignment - 1) }
}
