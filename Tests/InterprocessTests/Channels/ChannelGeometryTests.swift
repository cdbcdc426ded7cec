import Testing

@_spi(Layout) @testable import Interprocess

/// The channel geometry is written once (`ChannelGeometry`) and read the same way by the rings
/// and by inspection; so is the depth.
@Suite struct ChannelGeometryTests {
    @Test(arguments: [ChannelTopology.singleProducerSingleConsumer, .multiProducerMultiConsumer])
    func typedGeometryRoundTripsThroughTheKindParameters(topology: ChannelTopology) {
        for geometry in [
            ChannelGeometry.typed(Int.self, topology: topology, capacity: 8),
            ChannelGeometry.typed(UInt8.self, topology: topology, capacity: 64),
            ChannelGeometry.typed(SIMD16<Float>.self, topology: topology, capacity: 2)
        ] {
            var parameters = geometry.kindParameters
            parameters += [UInt32](repeating: 0, count: HeaderLayout.kindParameterCount - parameters.count)
            let decoded = ChannelGeometry(kind: .channel, kindParameters: parameters, capacity: geometry.capacity)
            #expect(decoded == geometry)
            #expect(geometry.fits(payloadBytes: geometry.payloadSize))
            #expect(!geometry.fits(payloadBytes: geometry.payloadSize - 1))
        }
        // Pinned: a UInt64 sequence word, then the element, slots 8-aligned after the control words.
        for geometry in [
            ChannelGeometry.typed(Int.self, topology: topology, capacity: 8),
            ChannelGeometry.typed(UInt8.self, topology: topology, capacity: 8)
        ] {
            #expect(geometry.elementOffset == 8 && geometry.slotStride == 16 && geometry.slotsOffset == 640)
        }
    }

    @Test func byteGeometryRoundTripsThroughTheKindParameters() {
        let geometry = ChannelGeometry.bytes(ringSize: 256, maximumMessageSize: 100)
        #expect(geometry.kindParameters == [100, UInt32(ChannelLayout.controlSize)])
        let decoded = ChannelGeometry(
            kind: .byteChannel, kindParameters: geometry.kindParameters + [0, 0], capacity: 256)
        #expect(decoded == geometry)
        #expect(geometry.fits(payloadBytes: geometry.payloadSize))
        // Two maximum-size frames (2 × 112 bytes) fit in 256 bytes, not in 128.
        #expect(!ChannelGeometry.bytes(ringSize: 128, maximumMessageSize: 100).fits(payloadBytes: 1 << 20))
    }

    @Test func headersThatDescribeNoRingAreRefused() {
        #expect(ChannelGeometry(kind: .channel, kindParameters: [3, 16, 8, 640], capacity: 4) == nil, "topology 3")
        #expect(ChannelGeometry(kind: .array, kindParameters: [1, 16, 8, 640], capacity: 4) == nil)
        let hostile: [ChannelGeometry] = [
            ChannelGeometry(
                topology: .singleProducerSingleConsumer, capacity: 3, slotStride: 16, elementOffset: 8,
                slotsOffset: 640, maximumMessageSize: nil),
            ChannelGeometry(
                topology: .multiProducerMultiConsumer, capacity: 1, slotStride: 16, elementOffset: 8,
                slotsOffset: 640, maximumMessageSize: nil),
            ChannelGeometry(
                topology: .singleProducerSingleConsumer, capacity: 4, slotStride: 16, elementOffset: 8,
                slotsOffset: 64, maximumMessageSize: nil),
            ChannelGeometry(
                topology: .singleProducerSingleConsumer, capacity: 1 << 40, slotStride: 1 << 40, elementOffset: 8,
                slotsOffset: 640, maximumMessageSize: nil)
        ]
        for geometry in hostile { #expect(!geometry.fits(payloadBytes: .max), "\(geometry)") }
    }

    @Test func depthIsAWrappingDifferenceClampedToTheCapacity() {
        let geometry = ChannelGeometry.typed(Int.self, topology: .multiProducerMultiConsumer, capacity: 8)
        #expect(geometry.depth(tail: 5, head: 2) == 3)
        #expect(geometry.depth(tail: 2, head: UInt64.max) == 3, "across 2^64")
        #expect(geometry.depth(tail: 2, head: 5) == 0, "the head moved on between the loads")
        #expect(geometry.depth(tail: 1000, head: 0) == 8, "corrupt: clamped")
    }

    /// Inspection reports the depth the ring reports, which is the truth (sent minus received),
    /// also when the positions wrap at 2^64 between the receivers' and the senders'.
    @Test(arguments: [ChannelTopology.singleProducerSingleConsumer, .multiProducerMultiConsumer], [0, UInt64.max - 2])
    func inspectionReportsTheRingsDepth(topology: ChannelTopology, base: UInt64) throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var receiver = try ChannelReceiver<Int>(named: name, capacity: 16, topology: topology, mode: .create)
        var sender = try ChannelSender<Int>(named: name, mode: .open)
        reposition(&sender, &receiver, to: base)
        for sent in 1...11 {
            #expect(try sender.trySend(sent))
            if sent % 3 == 0 { #expect(try receiver.tryReceive() != nil) }
            let truth = sent - sent / 3
            #expect(sender.depth == truth, "\(sent) sent")
            #expect(receiver.depth == truth, "\(sent) sent")
            #expect(try SharedObjectRegistry.inspect(named: name).channel?.depth == truth, "\(sent) sent")
        }
        let state = try #require(try SharedObjectRegistry.inspect(named: name).channel)
        #expect(state.topology == topology && state.capacity == 16 && state.maximumMessageSize == nil)
    }

    /// The same for a byte channel, whose depth counts bytes (frames with their headers).
    @Test(arguments: [0, 0 &- UInt64(48)])
    func inspectionReportsAByteChannelsDepth(base: UInt64) throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var receiver = try ByteChannelReceiver(named: name, bufferSize: 256, maximumMessageSize: 16, mode: .create)
        var sender = try ByteChannelSender(named: name, mode: .open)
        // Relaxed: single-threaded set-up of an empty ring.
        sender.ring.control.producerIndex.pointee.store(base, ordering: .relaxed)
        sender.ring.control.consumerIndex.pointee.store(base, ordering: .relaxed)
        sender.tail = base
        sender.headCache = base
        receiver.head = base
        for _ in 0..<3 { #expect(try sender.send([UInt8](repeating: 1, count: 10), timeout: .zero)) }
        #expect(try receiver.receive(timeout: .zero) == [UInt8](repeating: 1, count: 10))
        let frame = ByteRing.frameSize(10)
        let state = try #require(try SharedObjectRegistry.inspect(named: name).channel)
        #expect(state.depth == 2 * frame)
        #expect(state.capacity == 256 && state.maximumMessageSize == 16)
    }
}
