import Synchronization
import SystemPackage

/// A snapshot of a topic's shared state, for inspection: its configuration, and its publisher
/// and subscriber slots with their liveness, lag and losses.
///
/// Everything but the configuration comes from words any participant can write: every count is
/// clamped to what the configuration allows, and liveness comes from the kernel's locks on the
/// slots, never from the words.
public struct TopicState: Sendable, Hashable {
    /// The topic's configuration (from its checksummed header).
    public let configuration: TopicConfiguration
    /// The largest message, in bytes (a typed topic's element size).
    public let maximumMessageSize: Int
    /// The publisher slots that were ever opened or are held by a live process, by slot.
    public let publishers: [Publisher]
    /// The subscriber slots that are not free or are held by a live process, by slot.
    public let subscribers: [Subscriber]

    /// The publishers whose process holds their slot.
    public var livePublishers: Int { publishers.count(where: \.isAlive) }
    /// The subscribers whose process holds their slot.
    public var liveSubscribers: Int { subscribers.count(where: \.isAlive) }

    /// One publisher slot.
    public struct Publisher: Sendable, Hashable {
        /// What a publisher slot's state word says.
        public enum State: Sendable, Hashable, CustomStringConvertible {
            /// No publisher ever opened the slot.
            case neverOpened
            /// A publisher opened it and did not close it (it may have died: see
            /// ``Publisher/isAlive``).
            case open
            /// The last publisher of the slot closed it.
            case closed
            /// A value no publisher writes (a damaged or hostile segment).
            case invalid(UInt32)

            public var description: String {
                switch self {
                case .neverOpened: "never opened"
                case .open: "open"
                case .closed: "closed"
                case let .invalid(value): "invalid (\(value))"
                }
            }
        }

        /// The slot's index.
        public let slot: Int
        /// What its state word says.
        public let state: State
        /// Whether a live process holds the slot's lock.
        public let isAlive: Bool
        /// The sequence number of the slot's next message: the messages published through the
        /// slot since the topic was created, by every publisher that held it.
        public let nextSequence: UInt64
    }

    /// One subscriber slot.
    public struct Subscriber: Sendable, Hashable {
        /// What a subscriber slot's state word says.
        public enum State: Sendable, Hashable, CustomStringConvertible {
            /// No subscriber is in the slot (or one is joining: see ``Subscriber/isAlive``).
            case free
            /// A subscriber joined and did not leave (it may have died: see ``Subscriber/isAlive``).
            case active
            /// The subscriber closed but still holds samples: it takes no more messages.
            case leaving
            /// A value no subscriber writes (a damaged or hostile segment).
            case invalid(UInt32)

            public var description: String {
                switch self {
                case .free: "free"
                case .active: "active"
                case .leaving: "leaving"
                case let .invalid(value): "invalid (\(value))"
                }
            }
        }

        /// The slot's index.
        public let slot: Int
        /// What its state word says.
        public let state: State
        /// Whether its state word says a subscriber joined and did not leave.
        public var isActive: Bool { state == .active }
        /// Whether a live process holds the slot's lock.
        public let isAlive: Bool
        /// The messages queued to the slot and not taken yet, over every publisher (each
        /// queue's share clamped to `0...capacity`).
        public let lag: Int
        /// The messages publishers dropped from the slot's queues before they were taken
        /// (``TopicConfiguration/OverflowPolicy/dropOldest``), over every subscriber that held
        /// the slot since the topic was created.
        public let missed: Int
    }

    /// The state of the topic described by `header`, read from a read-only mapping of `fd`
    /// (never populated: only the records and queue heads are touched), or `nil` if `header`
    /// is not a topic's, its geometry is out of bounds, or the file is too small for it.
    static func read(_ header: SharedObjectInfo.Header, fd: Int32, fileSize: Int) -> TopicState? {
        guard let view = TopicView(header, fd: fd, fileSize: fileSize) else { return nil }
        defer { view.unmap() }
        return view.state()
    }
}

/// A read-only view of a topic's records and queues, for inspection and rate probes: the
/// geometry from the checksummed header, checked against the file before any address is used.
///
/// The mapping covers the payload up to the chunk descriptors (nothing a reader needs lies
/// beyond) and is registered with the SIGBUS guard, so a file truncated meanwhile reads as
/// zeros (``isDamaged``) instead of killing the reader.
struct TopicView {
    let geometry: TopicGeometry
    let layout: TopicLayout
    let fd: Int32
    let mapping: UnsafeMutableRawPointer
    let length: Int
    var payload: UnsafeMutableRawPointer { mapping + SegmentHeader.size }

    init?(_ header: SharedObjectInfo.Header, fd: Int32, fileSize: Int) {
        guard header.kind == .topic || header.kind == .byteTopic,
            let geometry = TopicGeometry(kindParameters: header.kindParameters, capacity: header.capacity),
            let layout = geometry.layout(payloadBytes: min(header.payloadSize, fileSize - SegmentHeader.size))
        else { return nil }
        let length = SegmentHeader.size + layout.descriptors
        guard let mapping = try? FileSystem.map(fd, length: length, writable: false, pages: .onFirstTouch) else {
            return nil
        }
        self.geometry = geometry
        self.layout = layout
        self.fd = fd
        self.mapping = mapping
        self.length = length
    }

    func unmap() { FileSystem.unmap(mapping, length: length) }

    /// Whether part of the file was lost since it was mapped (what was read there is zeros).
    var isDamaged: Bool { BusErrorGuard.isPoisoned(mapping) }

    // Relaxed loads throughout: a diagnostic snapshot of words other processes move; nothing
    // read here is followed into memory another process wrote after it.
    private func word(_ offset: Int, _: UInt64.Type) -> UInt64 {
        (payload + offset).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.load(ordering: .relaxed)
    }
    private func word(_ offset: Int, _: UInt32.Type) -> UInt32 {
        (payload + offset).assumingMemoryBound(to: Atomic<UInt32>.self).pointee.load(ordering: .relaxed)
    }

    func publisherState(_ p: Int) -> UInt32 {
        word(layout.publisherRecords + p * layout.publisherRecordSize + TopicGeometry.publisherState, UInt32.self)
    }
    func nextSequence(_ p: Int) -> UInt64 {
        word(layout.publisherRecords + p * layout.publisherRecordSize + TopicGeometry.nextSequence, UInt64.self)
    }
    func subscriberState(_ j: Int) -> UInt32 {
        word(layout.subscriberRecords + j * layout.subscriberRecordSize + TopicGeometry.subscriberState, UInt32.self)
    }
    func subscriberGeneration(_ j: Int) -> UInt32 {
        word(
            layout.subscriberRecords + j * layout.subscriberRecordSize + TopicGeometry.subscriberGeneration,
            UInt32.self)
    }
    private func queue(_ p: Int, _ j: Int) -> Int { layout.queues + (p * geometry.subscribers + j) * layout.queueSize }
    func head(_ p: Int, _ j: Int) -> UInt64 { word(queue(p, j) + TopicGeometry.queueHead, UInt64.self) }
    func tailRecord(_ p: Int, _ j: Int) -> UInt64 { word(queue(p, j) + TopicGeometry.queueTailRecord, UInt64.self) }
    func dropped(_ p: Int, _ j: Int) -> UInt64 { word(queue(p, j) + TopicGeometry.queueDropped, UInt64.self) }

    /// The entries queued from publisher `p` to subscriber `j`, clamped to `0...capacity`.
    func queued(_ p: Int, _ j: Int) -> Int {
        let depth = Int64(bitPattern: tailRecord(p, j) &- head(p, j))
        return Int(min(max(depth, 0), Int64(geometry.capacity)))
    }

    /// The messages dropped from subscriber `j`'s queues (saturating).
    func dropped(subscriber j: Int) -> UInt64 {
        var total: UInt64 = 0
        for p in 0..<geometry.publishers {
            let (sum, overflow) = total.addingReportingOverflow(dropped(p, j))
            total = overflow ? .max : sum
        }
        return total
    }

    /// The sum of subscriber `j`'s queue heads (wrapping): what it took and what publishers
    /// dropped for it move it on.
    func headSum(subscriber j: Int) -> UInt64 {
        var total: UInt64 = 0
        for p in 0..<geometry.publishers { total &+= head(p, j) }
        return total
    }

    /// The publisher and subscriber slots whose lock a live process holds.
    func heldSlots() -> (publishers: Set<Int>, subscribers: Set<Int>) {
        (
            TopicView.heldBytes(fd, start: TopicSegment.publisherLock(0), count: geometry.publishers),
            TopicView.heldBytes(fd, start: TopicSegment.subscriberLock(0), count: geometry.subscribers)
        )
    }

    /// The bytes of `[start, start + count)` another open file description holds a write lock
    /// on, as offsets from `start`: one query per lock found (a query returns one conflicting
    /// lock, so the range is split around it and both sides asked again), at most `limit`
    /// queries. A query that fails counts its whole range as held (a wrong "alive" misleads a
    /// reader less than a wrong "dead").
    static func heldBytes(_ fd: Int32, start: Int64, count: Int, limit: Int = 1 << 16) -> Set<Int> {
        var held = Set<Int>()
        var pending: [(Int64, Int64)] = [(start, start + Int64(count))]  // half-open [from, to)
        var queries = 0
        func mark(_ from: Int64, _ to: Int64) {
            for byte in from..<to { held.insert(Int(byte - start)) }
        }
        while let (from, to) = pending.popLast() {
            guard from < to else { continue }
            guard queries < limit else {
                mark(from, to)
                continue
            }
            queries += 1
            let found: Result<FileSystem.HeldLock?, Errno> = Result {
                () throws(Errno) in try FileSystem.conflictingLock(fd, write: false, start: from, length: to - from)
            }
            guard case .success(let result) = found else {
                mark(from, to)
                continue
            }
            guard let lock = result else { continue }
            let lockEnd = lock.length == 0 ? Int64.max : lock.start + lock.length
            let (lower, upper) = (max(from, lock.start), min(to, lockEnd))
            if lower < upper { mark(lower, upper) }
            pending.append((from, max(from, min(to, lock.start))))
            pending.append((min(to, max(from, lockEnd)), to))
        }
        return held
    }

    /// The snapshot ``TopicState`` describes.
    func state() -> TopicState {
        let g = geometry
        let (livePublishers, liveSubscribers) = heldSlots()
        var publishers: [TopicState.Publisher] = []
        for p in 0..<g.publishers {
            let raw = publisherState(p)
            let alive = livePublishers.contains(p)
            guard raw != 0 || alive else { continue }
            let state: TopicState.Publisher.State =
                switch raw {
                case 0: .neverOpened
                case 1: .open
                case 2: .closed
                default: .invalid(raw)
                }
            publishers.append(
                TopicState.Publisher(slot: p, state: state, isAlive: alive, nextSequence: nextSequence(p)))
        }
        var subscribers: [TopicState.Subscriber] = []
        for j in 0..<g.subscribers {
            let raw = subscriberState(j)
            let alive = liveSubscribers.contains(j)
            guard raw != 0 || alive else { continue }
            let state: TopicState.Subscriber.State =
                switch raw {
                case 0: .free
                case 1: .active
                case 2: .leaving
                default: .invalid(raw)
                }
            var lag = 0
            for p in 0..<g.publishers { lag += queued(p, j) }
            subscribers.append(
                TopicState.Subscriber(
                    slot: j, state: state, isAlive: alive, lag: lag,
                    missed: Int(clamping: dropped(subscriber: j))))
        }
        return TopicState(
            configuration: g.configuration, maximumMessageSize: g.maximumMessageSize, publishers: publishers,
            subscribers: subscribers)
    }
}
