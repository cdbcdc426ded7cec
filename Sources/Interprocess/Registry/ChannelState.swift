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

    /// The state of the channel described by `header`, from its control words at `controlWords`
    /// (a read-only mapping of the payload's first ``ChannelLayout/controlSize`` bytes), or `nil`
    /// if `header` is not a channel's or its payload is too small to hold the control words.
    ///
    /// The geometry and the depth are those of the rings (``ChannelGeometry``,
    /// `ChannelControl.depth`). A typed SPSC producer records its position only every few
    /// messages, so for such a channel the payload's slots are mapped too, from `fd` (never
    /// populated: the walk touches a few slots), when the geometry fits the file.
    static func read(
        _ header: SharedObjectInfo.Header, controlWords: UnsafeMutableRawPointer, fd: Int32, fileSize: Int
    ) -> ChannelState? {
        guard header.payloadSize >= ChannelLayout.controlSize,
            let geometry = ChannelGeometry(
                kind: header.kind, kindParameters: header.kindParameters, capacity: header.capacity)
        else { return nil }
        let payloadBytes = min(header.payloadSize, fileSize - SegmentHeader.size)
        var depth: Int? = nil
        if !geometry.isByteRing, geometry.topology == .singleProducerSingleConsumer,
            geometry.fits(payloadBytes: payloadBytes),
            let whole = try? FileSystem.map(
                fd, length: SegmentHeader.size + payloadBytes, writable: false, pages: .onFirstTouch)
        {
            defer { FileSystem.unmap(whole, length: SegmentHeader.size + payloadBytes) }
            let payload = whole + SegmentHeader.size
            depth = ChannelControl(payload: payload).depth(
                geometry, slots: UnsafeRawPointer(payload + geometry.slotsOffset))
        }
        let control = ChannelControl(payload: controlWords)
        // Relaxed loads: a diagnostic snapshot of words another process moves.
        return ChannelState(
            topology: geometry.topology, capacity: header.capacity,
            depth: depth ?? control.depth(geometry, slots: nil),
            isClosed: control.closed.pointee.load(ordering: .relaxed) == 1,
            openSenders: Int(control.openSenders.pointee.load(ordering: .relaxed)),
            openReceivers: Int(control.openReceivers.pointee.load(ordering: .relaxed)),
            maximumMessageSize: geometry.maximumMessageSize)
    }
}
