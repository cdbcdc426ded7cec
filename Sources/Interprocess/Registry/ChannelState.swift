import Synchronization

/// A snapshot of a channel's shared state, for inspection.
public struct ChannelState: Sendable, Hashable {
    /// The topology (byte channels are single-producer single-consumer).
    public let topology: ChannelTopology
    /// Slots (typed channels) or ring bytes (byte channels).
    public let capacity: Int
    /// Messages (typed) or bytes (byte channels) sent and not yet received.
    public let depth: Int
    /// Whether every sender closed.
    public let isClosed: Bool
    /// Senders that opened and did not close (dead ones included, until a sender opens while no
    /// other is alive and takes over their share).
    public let openSenders: Int
    /// Receivers that opened and did not close (dead ones as for ``openSenders``).
    public let openReceivers: Int
    /// The largest message of a byte channel, `nil` for typed channels.
    public let maximumMessageSize: Int?

    /// Reads the control words of a channel whose payload starts at `payload` (read-only
    /// mapping of at least `ChannelControl.controlSize` bytes).
    ///
    /// `slots`, when given, maps a typed SPSC channel's whole payload (`payloadBytes` long):
    /// its producer records its position only every few messages, and the slots published
    /// since are counted from there (see `ChannelRing`'s SPSC notes).
    static func read(
        kind: ObjectKind, header: SharedObjectInfo.Header, payload: UnsafeMutableRawPointer,
        slots: (base: UnsafeRawPointer, payloadBytes: Int)? = nil
    ) -> ChannelState? {
        let control = ChannelControl(payload: payload)
        // Relaxed loads throughout: a diagnostic snapshot of counters another process moves.
        var tail = control.producerIndex.pointee.load(ordering: .relaxed)
        if kind == .channel, let slots, let geometry = spscGeometry(header, payloadBytes: slots.payloadBytes) {
            tail = ChannelControl.spscPublishedEnd(
                from: tail, slots: slots.base + geometry.slotsOffset, stride: geometry.stride,
                capacity: header.capacity)
        }
        let head = control.consumerIndex.pointee.load(ordering: .relaxed)
        let depth = tail >= head ? Int(min(tail - head, UInt64(max(header.capacity, 0)))) : 0
        let topology: ChannelTopology
        let maximum: Int?
        if kind == .byteChannel {
            topology = .singleProducerSingleConsumer
            maximum = Int(header.kindParameters.first ?? 0)
        } else {
            guard let t = ChannelTopology(rawValue: header.kindParameters.first ?? 0) else { return nil }
            topology = t
            maximum = nil
        }
        return ChannelState(
            topology: topology, capacity: header.capacity, depth: depth,
            isClosed: control.closed.pointee.load(ordering: .relaxed) == 1,
            openSenders: Int(control.openSenders.pointee.load(ordering: .relaxed)),
            openReceivers: Int(control.openReceivers.pointee.load(ordering: .relaxed)),
            maximumMessageSize: maximum)
    }

    /// A typed SPSC channel's slot geometry from its (checksummed) header, or `nil` unless every
    /// slot lies inside `payloadBytes`: the header is another process's data.
    static func spscGeometry(_ header: SharedObjectInfo.Header, payloadBytes: Int) -> (stride: Int, slotsOffset: Int)? {
        let parameters = header.kindParameters
        guard header.kind == .channel, parameters.count >= 4,
            parameters[0] == ChannelTopology.singleProducerSingleConsumer.rawValue
        else { return nil }
        let stride = Int(parameters[1])
        let slotsOffset = Int(parameters[3])
        let capacity = header.capacity
        guard stride >= 8, stride % 8 == 0, slotsOffset >= ChannelControl.controlSize, slotsOffset % 8 == 0,
            capacity > 0, capacity & (capacity - 1) == 0
        else { return nil }
        let (size, overflow) = capacity.multipliedReportingOverflow(by: stride)
        guard !overflow, size <= payloadBytes - slotsOffset else { return nil }
        return (stride, slotsOffset)
    }
}
