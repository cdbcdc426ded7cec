/// Where a channel's slots are and how they are sized: the facts recorded in the segment
/// header's kind parameters, written by the creator and checked by every opener and by
/// inspection.
///
/// ## Kind parameters
/// | kind | [0] | [1] | [2] | [3] |
/// |---|---|---|---|---|
/// | ``ObjectKind/channel`` | topology raw value | slot stride | element offset in a slot | slots offset |
/// | ``ObjectKind/byteChannel`` | maximum message size | slots offset | | |
///
/// The capacity is the header's capacity field: slots for typed channels, ring bytes for byte
/// channels. A byte channel's "slots" are its bytes (stride 1, no sequence word).
package struct ChannelGeometry: Equatable, Sendable {
    /// ``ChannelTopology/singleProducerSingleConsumer`` for byte channels.
    package var topology: ChannelTopology
    /// Slots (typed channels) or ring bytes (byte channels).
    package var capacity: Int
    /// The distance between two slots (1 for byte channels).
    package var slotStride: Int
    /// Where the element starts in a slot, after the slot's UInt64 sequence word (0 for byte
    /// channels).
    package var elementOffset: Int
    /// Where the first slot starts in the payload.
    package var slotsOffset: Int
    /// The largest message of a byte channel; `nil` for typed channels.
    package var maximumMessageSize: Int?

    /// Whether this is a byte channel's geometry.
    package var isByteRing: Bool { maximumMessageSize != nil }

    /// The largest capacity of a typed channel (2^30 slots).
    package static let maximumCapacity = 1 << 30

    /// The geometry of a typed ring of `capacity` `Element`s (0 for "whatever the header says"
    /// when opening).
    ///
    /// Both topologies put a UInt64 sequence word in front of each element. It is what makes a
    /// message visible, so a receiver polls the slot it is about to read — one cache line moves
    /// per message — rather than a shared index on a line of its own and then the slot.
    package static func typed<Element: BitwiseCopyable>(
        _: Element.Type, topology: ChannelTopology, capacity: Int
    ) -> ChannelGeometry {
        let alignment = MemoryLayout<Element>.alignment
        let slotAlignment = max(8, alignment)
        let elementOffset = (8 + alignment - 1) / alignment * alignment
        let stride = (elementOffset + MemoryLayout<Element>.size + slotAlignment - 1) / slotAlignment * slotAlignment
        return ChannelGeometry(
            topology: topology, capacity: capacity, slotStride: stride, elementOffset: elementOffset,
            slotsOffset: slotsOffset(alignment: slotAlignment), maximumMessageSize: nil)
    }

    /// The geometry of a byte ring of `ringSize` bytes carrying messages up to
    /// `maximumMessageSize` bytes.
    package static func bytes(ringSize: Int, maximumMessageSize: Int) -> ChannelGeometry {
        ChannelGeometry(
            topology: .singleProducerSingleConsumer, capacity: ringSize, slotStride: 1, elementOffset: 0,
            slotsOffset: slotsOffset(alignment: 64), maximumMessageSize: maximumMessageSize)
    }

    /// The first slot's offset for slots of `alignment`: after the control block, on a cache
    /// line at least.
    static func slotsOffset(alignment: Int) -> Int {
        let a = max(64, alignment)
        return (ChannelLayout.controlSize + a - 1) / a * a
    }

    /// The payload bytes the slots need.
    package var payloadSize: Int { slotsOffset + capacity * slotStride }

    /// The header's kind parameters for this geometry (see the table above).
    package var kindParameters: [UInt32] {
        if let maximumMessageSize {
            [UInt32(maximumMessageSize), UInt32(slotsOffset)]
        } else {
            [topology.rawValue, UInt32(slotStride), UInt32(elementOffset), UInt32(slotsOffset)]
        }
    }

    /// The geometry a header records, or `nil` if its kind parameters do not describe one (not a
    /// channel kind, an unknown topology). Nothing is checked against a payload yet: see
    /// ``fits(payloadBytes:)``.
    package init?(kind: ObjectKind, kindParameters parameters: [UInt32], capacity: Int) {
        switch kind {
        case .channel:
            guard parameters.count >= 4, let topology = ChannelTopology(rawValue: parameters[0]) else { return nil }
            self.init(
                topology: topology, capacity: capacity, slotStride: Int(parameters[1]),
                elementOffset: Int(parameters[2]), slotsOffset: Int(parameters[3]), maximumMessageSize: nil)
        case .byteChannel:
            guard parameters.count >= 2 else { return nil }
            self.init(
                topology: .singleProducerSingleConsumer, capacity: capacity, slotStride: 1, elementOffset: 0,
                slotsOffset: Int(parameters[1]), maximumMessageSize: Int(parameters[0]))
        default:
            return nil
        }
    }

    package init(
        topology: ChannelTopology, capacity: Int, slotStride: Int, elementOffset: Int, slotsOffset: Int,
        maximumMessageSize: Int?
    ) {
        self.topology = topology
        self.capacity = capacity
        self.slotStride = slotStride
        self.elementOffset = elementOffset
        self.slotsOffset = slotsOffset
        self.maximumMessageSize = maximumMessageSize
    }

    /// Whether every slot lies inside a payload of `payloadBytes` and the capacity is one the
    /// ring arithmetic accepts: a power of two (at least 2 for MPMC, whose free and published
    /// sequences coincide with one slot; at least 64 bytes and two maximum-size frames for a
    /// byte ring). The header is another process's data: check this before using an address.
    package func fits(payloadBytes: Int) -> Bool {
        guard capacity > 0, capacity & (capacity - 1) == 0, slotStride > 0, slotsOffset >= ChannelLayout.controlSize
        else { return false }
        if let maximumMessageSize {
            guard capacity >= 64, maximumMessageSize > 0, maximumMessageSize < 1 << 30,
                2 * ByteRing.frameSize(maximumMessageSize) <= capacity
            else { return false }
        } else {
            guard capacity <= ChannelGeometry.maximumCapacity, slotStride >= 8, slotStride % 8 == 0,
                slotsOffset % 8 == 0, elementOffset >= 8, elementOffset <= slotStride,
                capacity >= (topology == .multiProducerMultiConsumer ? 2 : 1)
            else { return false }
        }
        let (size, overflow) = capacity.multipliedReportingOverflow(by: slotStride)
        return !overflow && slotsOffset <= payloadBytes && size <= payloadBytes - slotsOffset
    }

    /// Messages (typed) or bytes (byte channels) between the receivers' position `head` and the
    /// senders' `tail`, clamped to `0...capacity`: a snapshot.
    ///
    /// A signed wrapping difference, like every position comparison of the rings: the positions
    /// wrap at 2^64. It is negative only when the head moved on between the two loads, and above
    /// the capacity only for a corrupt segment.
    package func depth(tail: UInt64, head: UInt64) -> Int {
        let difference = Int64(bitPattern: tail &- head)
        return Int(max(0, min(difference, Int64(capacity))))
    }
}
