import Synchronization
import SystemPackage

/// The traffic counters of a channel or a topic, read without taking part (what `shm hz`
/// samples): the object's file is opened read-only and mapped read-only, so the probe can take
/// no lock, register no role, wake nobody and change no word; it is invisible to the object's
/// participants and to `shm clean` (a read-only descriptor holds no locks).
///
/// Every counter is a word another process writes: the probe reports what it reads, and a
/// caller computing rates treats a counter that went backwards as a restart, not a rate.
package final class TrafficProbe {
    /// What the probe watches.
    package enum Subject: Sendable, Equatable {
        /// A typed channel (counters in messages) or a byte channel (counters in bytes).
        case channel(ChannelTopology, isByteChannel: Bool)
        /// A topic (counters in messages).
        case topic(TopicConfiguration, isByteTopic: Bool)
    }

    /// One reading of the counters.
    package struct Reading: Sendable, Equatable {
        /// A channel's senders' position: messages (bytes) sent since it was created.
        package var sent: UInt64 = 0
        /// A channel's receivers' position: messages (bytes) received since it was created.
        package var received: UInt64 = 0
        /// A channel's depth: messages (bytes) sent and not yet received.
        package var depth: Int = 0
        /// A topic's publisher slots ever opened, with the messages published through each.
        package var published: [Int: UInt64] = [:]
        /// A topic's active subscriber slots, with their generation (a new subscriber in the slot
        /// changes it) and the messages taken from the slot's queues since the topic was created
        /// (the heads' moves, less the publishers' drops).
        package var consumed: [Int: Consumption] = [:]
    }

    /// A subscriber slot's consumption counter.
    package struct Consumption: Sendable, Equatable {
        package var generation: UInt32
        package var taken: UInt64
        package var lag: Int
    }

    package let name: String
    package let subject: Subject
    private let fd: Int32
    private let mapping: UnsafeMutableRawPointer
    private let length: Int
    private let channel: ChannelGeometry?
    private let topic: TopicView?

    /// Opens the channel or topic `name` read-only.
    /// - Throws: ``SharedMemoryError``: `notFound`, `permissionDenied`, an invalid header, or
    ///   `mismatch` for an object that is neither a channel nor a topic.
    package init(named name: String) throws(SharedMemoryError) {
        let segmentName = try SegmentName(name)
        let path = segmentName.path(in: SharedMemory.directory)
        let (entry, st) = try SharedMemory.examineEntry(path: path, name: name)
        defer { FileSystem.close(entry) }
        guard st.isRegularFile else { throw .notARegularFile(name: name, fileType: st.type.description) }
        try SegmentHeader.checkFullyAllocated(st, name: name)
        let fd: Int32
        do { fd = try FileSystem.reopen(entry, access: .readOnly) } catch {
            throw SharedMemoryError.from(error, name: name, operation: "open")
        }
        do throws(SharedMemoryError) {
            let fileSize = st.size
            guard fileSize >= SegmentHeader.size else {
                throw .invalidHeader(name: name, .truncated(expectedBytes: SegmentHeader.size, actualBytes: fileSize))
            }
            let headerMapping: UnsafeMutableRawPointer
            do {
                headerMapping = try FileSystem.map(
                    fd, length: SegmentHeader.size, writable: false, pages: .onFirstTouch)
            } catch {
                throw SharedMemoryError.from(error, name: name, operation: "mmap")
            }
            let decoded = SharedObjectRegistry.decode(
                SegmentHeader(base: headerMapping), name: name, fileSize: fileSize)
            FileSystem.unmap(headerMapping, length: SegmentHeader.size)
            let header = try decoded.get()
            let payloadBytes = min(header.payloadSize, fileSize - SegmentHeader.size)
            switch header.kind {
            case .channel, .byteChannel:
                guard
                    let geometry = ChannelGeometry(
                        kind: header.kind, kindParameters: header.kindParameters, capacity: header.capacity),
                    payloadBytes >= ChannelLayout.controlSize, geometry.fits(payloadBytes: payloadBytes)
                else {
                    throw .invalidHeader(name: name, .corrupt("the channel geometry does not fit the file"))
                }
                // The control words, and for a typed SPSC channel the slots: its producer records
                // its position only every few messages, and the end is found in the slots.
                let length =
                    SegmentHeader.size
                    + (geometry.isByteRing || geometry.topology == .multiProducerMultiConsumer
                        ? ChannelLayout.controlSize : payloadBytes)
                do { mapping = try FileSystem.map(fd, length: length, writable: false, pages: .onFirstTouch) } catch {
                    throw SharedMemoryError.from(error, name: name, operation: "mmap")
                }
                self.length = length
                self.channel = geometry
                self.topic = nil
                self.subject = .channel(geometry.topology, isByteChannel: geometry.isByteRing)
            case .topic, .byteTopic:
                guard let view = TopicView(header, fd: fd, fileSize: fileSize) else {
                    throw .invalidHeader(name: name, .corrupt("the topic geometry does not fit the file"))
                }
                self.mapping = view.mapping
                self.length = view.length
                self.channel = nil
                self.topic = view
                self.subject = .topic(view.geometry.configuration, isByteTopic: header.kind == .byteTopic)
            default:
                throw .mismatch(name: name, .kind(expected: .channel, found: header.kind))
            }
        } catch {
            FileSystem.close(fd)
            throw error
        }
        self.name = name
        self.fd = fd
    }

    deinit {
        FileSystem.unmap(mapping, length: length)
        FileSystem.close(fd)
    }

    /// Whether part of the file was lost since it was mapped (it was truncated, or its memory
    /// could not be provided): readings are zeros from then on.
    package var isDamaged: Bool { BusErrorGuard.isPoisoned(mapping) }

    /// The counters now.
    package func read() -> Reading {
        var reading = Reading()
        if let channel {
            let payload = mapping + SegmentHeader.size
            let control = ChannelControl(payload: payload)
            let slots = length > SegmentHeader.size + ChannelLayout.controlSize ? payload + channel.slotsOffset : nil
            var sent = control.producerIndex.pointee.load(ordering: .relaxed)
            if let slots {
                sent = ChannelControl.spscPublishedEnd(
                    from: sent, slots: slots, stride: channel.slotStride, capacity: channel.capacity)
            }
            // Relaxed: a snapshot of a position another process moves.
            reading.received = control.consumerIndex.pointee.load(ordering: .relaxed)
            reading.sent = sent
            reading.depth = channel.depth(tail: sent, head: reading.received)
        }
        if let topic {
            for p in 0..<topic.geometry.publishers where topic.publisherState(p) != 0 {
                reading.published[p] = topic.nextSequence(p)
            }
            for j in 0..<topic.geometry.subscribers where topic.subscriberState(j) == 1 {
                var lag = 0
                for p in 0..<topic.geometry.publishers { lag += topic.queued(p, j) }
                reading.consumed[j] = Consumption(
                    generation: topic.subscriberGeneration(j),
                    taken: topic.headSum(subscriber: j) &- topic.dropped(subscriber: j), lag: lag)
            }
        }
        return reading
    }
}
