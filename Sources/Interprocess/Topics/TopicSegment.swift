import Synchronization
import SystemPackage

/// One endpoint's view of a topic: its segment (opened by the endpoint itself, so its locks are
/// its own), the geometry checked against the mapping, and the addresses of every part.
///
/// Every index that reaches an address here was bounds-checked by the caller or comes from the
/// checked geometry; values read from the payload (chunk indexes, positions) are checked where
/// they are read (`TopicPublisherCore`, `TopicSubscriberCore`).
final class TopicSegment: @unchecked Sendable {
    let segment: SharedMemory
    let geometry: TopicGeometry
    let layout: TopicLayout
    let base: UnsafeMutableRawPointer
    let poolSize: Int

    /// Opens or creates the topic `name` for messages of up to `maximumMessageSize` bytes of
    /// `elementType` (`.none` for byte topics).
    init(
        name: String, kind: ObjectKind, elementType: ElementType, maximumMessageSize: Int, alignment: Int,
        configuration: TopicConfiguration?, mode: SharedMemory.OpenMode, permissions: FilePermissions,
        lifetime: SharedMemory.Lifetime, owners: SharedMemory.OwnerPolicy, timeout: Duration
    ) throws(TopicError) {
        if let configuration, let problem = configuration.problem { throw .invalidConfiguration(problem) }
        if configuration == nil && mode == .create {
            throw .invalidConfiguration("a configuration is required to create a topic")
        }
        // Without a configuration there is nothing to create with: open the existing topic.
        let mode: SharedMemory.OpenMode = configuration == nil ? .open : mode
        let created = TopicGeometry(
            configuration: configuration ?? TopicConfiguration(capacity: 1), maximumMessageSize: maximumMessageSize,
            alignment: alignment)
        guard let createdLayout = created.layout(payloadBytes: Int.max) else {
            throw .invalidConfiguration("the topic would not fit in memory")
        }
        // Opening without a configuration expects nothing of the size: the header's geometry is
        // checked against the mapping below.
        let layout = SharedMemory.Layout(
            kind: kind, payloadSize: configuration == nil ? 0 : createdLayout.payloadSize, capacity: created.capacity,
            elementType: elementType,
            kindParameters: created.kindParameters, checksCapacity: false, lifetime: lifetime)
        let segment: SharedMemory
        do {
            segment = try SharedMemory(
                name: try SegmentName(name), mode: mode, layout: layout, permissions: permissions, owners: owners,
                timeout: timeout, registersAsOpener: false,
                // Every word starts at zero (free records, empty queues, no history), which is
                // what a fresh payload holds.
                initialize: { _ in })
        } catch {
            throw .segment(error)
        }
        guard let found = TopicGeometry(kindParameters: segment.kindParameters, capacity: segment.capacity),
            let foundLayout = found.layout(payloadBytes: segment.bytes.count)
        else {
            throw .corrupt("the header's topic geometry is out of bounds or larger than the segment")
        }
        // The geometry comes from the checksummed header; what it says about the messages must
        // be what this build computes for them before any address is trusted.
        let expected = TopicGeometry(
            configuration: found.configuration,
            maximumMessageSize: kind == .topic ? maximumMessageSize : found.maximumMessageSize,
            alignment: alignment)
        guard found.chunkStride == expected.chunkStride || kind == .byteTopic,
            found.maximumMessageSize == expected.maximumMessageSize, found.chunkAlignment >= alignment
        else {
            throw .corrupt("the chunk geometry does not match the message type")
        }
        if let configuration, configuration != found.configuration {
            throw .segment(.mismatch(name: name, .configuration("\(found.configuration), not \(configuration)")))
        }
        self.segment = segment
        self.geometry = found
        self.layout = foundLayout
        self.base = segment.bytes.baseAddress!
        self.poolSize = foundLayout.poolSize
    }

    /// Opens or creates the typed topic `name` of `Element`s.
    static func openTyped<Element: BitwiseCopyable>(
        _: Element.Type, name: String, configuration: TopicConfiguration?, mode: SharedMemory.OpenMode,
        permissions: FilePermissions, lifetime: SharedMemory.Lifetime, owners: SharedMemory.OwnerPolicy,
        timeout: Duration
    ) throws(TopicError) -> TopicSegment {
        try TopicSegment(
            name: name, kind: .topic, elementType: ElementType(Element.self),
            maximumMessageSize: MemoryLayout<Element>.size, alignment: MemoryLayout<Element>.alignment,
            configuration: configuration, mode: mode, permissions: permissions, lifetime: lifetime, owners: owners,
            timeout: timeout)
    }

    /// Opens or creates the byte topic `name`.
    static func openBytes(
        name: String, maximumMessageSize: Int?, configuration: TopicConfiguration?, mode: SharedMemory.OpenMode,
        permissions: FilePermissions, lifetime: SharedMemory.Lifetime, owners: SharedMemory.OwnerPolicy,
        timeout: Duration
    ) throws(TopicError) -> TopicSegment {
        if let maximumMessageSize, maximumMessageSize < 1 || maximumMessageSize > TopicGeometry.maximumByteMessageSize {
            throw .invalidConfiguration(
                "a byte topic's maximum message size is 1...\(TopicGeometry.maximumByteMessageSize)")
        }
        if configuration != nil && maximumMessageSize == nil {
            throw .invalidConfiguration("a maximum message size is required to create a byte topic")
        }
        let topic = try TopicSegment(
            name: name, kind: .byteTopic, elementType: .none, maximumMessageSize: maximumMessageSize ?? 1,
            alignment: 64, configuration: maximumMessageSize == nil ? nil : configuration, mode: mode,
            permissions: permissions, lifetime: lifetime, owners: owners, timeout: timeout)
        if let maximumMessageSize, topic.geometry.maximumMessageSize != maximumMessageSize {
            throw .segment(
                .mismatch(
                    name: name,
                    .configuration(
                        "maximum message size \(topic.geometry.maximumMessageSize), not \(maximumMessageSize)")))
        }
        return topic
    }

    // MARK: - Addresses

    var membership: UnsafeMutablePointer<Atomic<UInt64>> { atomic(base + TopicGeometry.membership) }

    func publisherRecord(_ p: Int) -> UnsafeMutableRawPointer {
        base + layout.publisherRecords + p * layout.publisherRecordSize
    }
    func subscriberRecord(_ j: Int) -> UnsafeMutableRawPointer {
        base + layout.subscriberRecords + j * layout.subscriberRecordSize
    }
    func queue(publisher p: Int, subscriber j: Int) -> UnsafeMutableRawPointer {
        base + layout.queues + (p * geometry.subscribers + j) * layout.queueSize
    }
    func descriptor(publisher p: Int, chunk x: Int) -> UnsafeMutableRawPointer {
        base + layout.descriptors + (p * poolSize + x) * TopicGeometry.descriptorSize
    }
    func chunk(publisher p: Int, chunk x: Int) -> UnsafeMutableRawPointer {
        base + layout.chunks + (p * poolSize + x) * geometry.chunkStride
    }

    func atomic<T: AtomicRepresentable>(_ address: UnsafeMutableRawPointer, _: T.Type = T.self)
        -> UnsafeMutablePointer<Atomic<T>>
    {
        address.assumingMemoryBound(to: Atomic<T>.self)
    }

    // MARK: - Endpoint locks

    /// The lock byte of publisher slot `p`.
    static func publisherLock(_ p: Int) -> Int64 { HeaderLayout.endpointLockBase + Int64(p) }
    /// The lock byte of subscriber slot `j`.
    static func subscriberLock(_ j: Int) -> Int64 { HeaderLayout.endpointLockBase + (1 << 32) + Int64(j) }

    /// Takes the first free endpoint slot below `count` (see `SharedMemory.claimEndpointSlot`).
    func claimSlot(count: Int, byte: (Int) -> Int64) throws(TopicError) -> Int? {
        do { return try segment.claimEndpointSlot(count: count, byte: byte) } catch { throw .segment(error) }
    }

    /// Whether the endpoint holding `byte` is alive (see `SharedMemory.isEndpointHeld`).
    func isHeld(_ byte: Int64) -> Bool { segment.isEndpointHeld(byte) }
}
