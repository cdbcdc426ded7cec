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
    /// Senders that opened and did not close (dead ones included).
    public let openSenders: Int
    /// Receivers that opened and did not close (dead ones included).
    public let openReceivers: Int
    /// The largest message of a byte channel, `nil` for typed channels.
    public let maximumMessageSize: Int?

    /// Reads the control words of a channel whose payload starts at `payload` (read-only
    /// mapping of at least `ChannelControl.controlSize` bytes).
    static func read(kind: ObjectKind, header: SharedObjectInfo.Header, payload: UnsafeMutableRawPointer) -> ChannelState? {
        let control = ChannelControl(payload: payload)
        // Relaxed loads throughout: a diagnostic snapshot of counters another process moves.
        let tail = control.producerIndex.pointee.load(ordering: .relaxed)
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
}
