import SystemPackage
import Synchronization

/// The shared part of a byte-message channel: a single-producer single-consumer ring of bytes
/// holding length-prefixed frames.
///
/// ## Frames
/// Each message is a frame: an 8-byte header (the payload length as UInt32, then 4 zero bytes)
/// followed by the payload, padded to a multiple of 8 bytes. Frames never wrap: when the frame
/// does not fit before the end of the ring, the sender writes a *wrap marker* (a header with
/// length `0xFFFF_FFFF`) and starts the frame at offset 0, so every payload is contiguous and can
/// be read or written in place. The ring holds at least two maximum-size frames, which
/// guarantees a frame always fits once the receiver has caught up.
///
/// `tail` and `head` (the control words of ``ChannelControl``) count bytes, monotonically; the
/// receiver validates every header it reads (length within the maximum, frame within what was
/// published) so a corrupt ring is ``ChannelError/corrupt(_:)``, never an out-of-bounds read.
final class ByteRing: @unchecked Sendable {
    static let frameHeader = 8
    static let wrapMarker = UInt32.max

    let segment: SharedMemory
    let control: ChannelControl
    let ring: UnsafeMutableRawPointer
    let size: Int
    let mask: UInt64
    let maximumMessageSize: Int

    static func frameSize(_ length: Int) -> Int { frameHeader + (length + 7) & ~7 }

    /// The bytes free for the sender between `head` and `tail`; 0 when the receiver's `head`
    /// (shared, untrusted) claims more than a ring is in use. The fuzzer found the plain
    /// `size - (tail - head)` trapping on overflow with a hostile head.
    func freeBytes(tail: UInt64, head: UInt64) -> UInt64 {
        let used = tail &- head
        return used > UInt64(size) ? 0 : UInt64(size) - used
    }

    /// The smallest power-of-two ring holding `requested` bytes and two maximum-size frames.
    static func ringSize(requested: Int, maximumMessageSize: Int) -> Int {
        var size = 64
        let needed = max(requested, 2 * frameSize(maximumMessageSize))
        while size < needed { size <<= 1 }
        return size
    }

    init(
        name: String, bufferSize: Int?, maximumMessageSize: Int?, mode: SharedMemory.OpenMode,
        permissions: FilePermissions, lifetime: SharedMemory.Lifetime, owners: SharedMemory.OwnerPolicy,
        timeout: Duration
    ) throws(ChannelError) {
        let creating = bufferSize != nil && maximumMessageSize != nil
        if !creating && mode == .create {
            throw .segment(.invalidSize(0, reason: "a buffer size and a maximum message size are required to create a byte channel"))
        }
        if let maximumMessageSize, maximumMessageSize <= 0 || maximumMessageSize >= 1 << 30 {
            throw .segment(.invalidSize(maximumMessageSize, reason: "a maximum message size is in 1..<2^30 bytes"))
        }
        if let bufferSize, bufferSize <= 0 || bufferSize > 1 << 40 {
            throw .segment(.invalidSize(bufferSize, reason: "a buffer size is in 1...2^40 bytes"))
        }
        let slotsOffset = ChannelControl.slotsOffset(alignment: 64)
        let ringBytes = creating ? ByteRing.ringSize(requested: bufferSize!, maximumMessageSize: maximumMessageSize!) : 0
        let layout = SharedMemory.Layout(
            kind: .byteChannel, payloadSize: slotsOffset + ringBytes, capacity: ringBytes, elementType: .none,
            kindParameters: [UInt32(maximumMessageSize ?? 0), UInt32(slotsOffset)], checksCapacity: false,
            lifetime: lifetime)
        let segment: SharedMemory
        do {
            segment = try SharedMemory(
                name: try SegmentName(name), mode: creating ? mode : .open, layout: layout, permissions: permissions,
                owners: owners, timeout: timeout, registersAsOpener: false, initialize: { _ in })
        } catch {
            throw .segment(error)
        }
        // Geometry from the checksummed header, validated before use.
        let size = segment.capacity
        let maximum = Int(segment.kindParameters[0])
        guard segment.kindParameters[1] == UInt32(slotsOffset), size >= 64, size & (size - 1) == 0,
            maximum > 0, 2 * ByteRing.frameSize(maximum) <= size, segment.bytes.count >= slotsOffset + size
        else {
            throw .corrupt("byte channel geometry (ring \(size) bytes, maximum message \(maximum))")
        }
        if let maximumMessageSize, maximumMessageSize != maximum {
            throw .segment(.configurationMismatch(name: name, detail: "maximum message size \(maximum), not \(maximumMessageSize)"))
        }
        self.segment = segment
        self.control = ChannelControl(payload: segment.bytes.baseAddress!)
        self.ring = segment.bytes.baseAddress! + slotsOffset
        self.size = size
        self.mask = UInt64(size - 1)
        self.maximumMessageSize = maximum
    }
}

/// The sending side of a byte-message channel: variable-size messages up to a maximum chosen
/// at creation, between one sender and one receiver process.
///
/// ```swift
/// var sender = try ByteChannelSender(named: "frames", bufferSize: 1 << 20, maximumMessageSize: 64 << 10)
/// try sender.send(Array("hello".utf8))
/// ```
public struct ByteChannelSender: ~Copyable, Sendable {
    let ring: ByteRing
    let lifetime: ChannelParticipation
    var tail: UInt64
    var headCache: UInt64
    /// How a blocked send waits for space.
    public var waitStrategy: WaitStrategy

    /// The largest message the channel carries, in bytes.
    public var maximumMessageSize: Int { ring.maximumMessageSize }
    /// The ring's size in bytes.
    public var bufferSize: Int { ring.size }

    /// Opens (or creates) the byte channel `name` as its sender.
    ///
    /// - Parameters:
    ///   - name: the channel's name.
    ///   - bufferSize: the ring's size in bytes for a new channel (rounded up to a power of two
    ///     holding at least two maximum-size messages); `nil` to open an existing channel.
    ///   - maximumMessageSize: the largest message, in bytes; checked when opening.
    ///   - mode: create, open, or either.
    ///   - permissions: the file mode of a new object (default `0600`).
    ///   - lifetime: how long a new channel's name lives (default ``SharedMemory/Lifetime/persistent``).
    ///   - owners: the owners of an existing channel this open accepts (default: only the
    ///     current user; see ``SharedMemory/OwnerPolicy``).
    ///   - timeout: how long to wait for an object another process is still initialising.
    ///   - waitStrategy: how blocked sends wait (default ``WaitStrategy/adaptive``).
    /// - Throws: ``ChannelError``.
    public init(
        named name: String, bufferSize: Int? = nil, maximumMessageSize: Int? = nil,
        mode: SharedMemory.OpenMode = .openOrCreate, permissions: FilePermissions = [.ownerRead, .ownerWrite],
        lifetime: SharedMemory.Lifetime = .persistent, owners: SharedMemory.OwnerPolicy = .currentUser,
        waitStrategy: WaitStrategy = .adaptive, timeout: Duration = .seconds(5)
    ) throws(ChannelError) {
        let ring = try ByteRing(
            name: name, bufferSize: bufferSize, maximumMessageSize: maximumMessageSize, mode: mode,
            permissions: permissions, lifetime: lifetime, owners: owners, timeout: timeout)
        self.lifetime = try ChannelParticipation(
            segment: ring.segment, control: ring.control, role: .sender, topology: .singleProducerSingleConsumer)
        self.ring = ring
        self.waitStrategy = waitStrategy
        self.tail = ring.control.producerIndex.pointee.load(ordering: .relaxed)
        self.headCache = ring.control.consumerIndex.pointee.load(ordering: .acquiring)
    }

    /// The bytes a `count`-byte message takes at `tail`: a wrap marker's skip, then the frame.
    func bytesNeeded(_ count: Int) -> (skip: Int, total: UInt64) {
        let frame = ByteRing.frameSize(count)
        let offset = Int(tail & ring.mask)
        let skip = ring.size - offset < frame ? ring.size - offset : 0
        return (skip, UInt64(skip + frame))
    }

    /// Reserves space for a `count`-byte message; returns the payload address, or `nil` if the
    /// ring lacks space now. Writes a wrap marker when the frame must start over at offset 0.
    mutating func claim(_ count: Int) -> UnsafeMutableRawPointer? {
        let offset = Int(tail & ring.mask)
        let (skip, needed) = bytesNeeded(count)
        if ring.freeBytes(tail: tail, head: headCache) < needed {
            // SYNC POINT: acquiring; pairs with the receiver's releasing head store.
            headCache = ring.control.consumerIndex.pointee.load(ordering: .acquiring)
            if ring.freeBytes(tail: tail, head: headCache) < needed { return nil }
        }
        if skip > 0 {
            (ring.ring + offset).storeBytes(of: ByteRing.wrapMarker, as: UInt32.self)
            tail &+= UInt64(skip)
        }
        let start = ring.ring + Int(tail & ring.mask)
        start.storeBytes(of: UInt32(count), as: UInt32.self)
        start.storeBytes(of: UInt32(0), toByteOffset: 4, as: UInt32.self)
        return start + ByteRing.frameHeader
    }

    mutating func publish(_ count: Int) {
        tail &+= UInt64(ByteRing.frameSize(count))
        // SYNC POINT: releasing; publishes the frame (and any wrap marker) to the receiver's
        // acquiring tail load.
        ring.control.producerIndex.pointee.store(tail, ordering: .releasing)
        ring.control.notEmpty.wake(count: 1)
    }

    /// Sends a message of `count` bytes written in place: `body` fills the payload directly in
    /// shared memory.
    ///
    /// A send that finds no room while every receiver has closed the channel gets
    /// ``ChannelError/receiversClosed``; while there is room, sends succeed and the messages
    /// stay for a receiver that opens the channel later.
    ///
    /// - Returns: `true` once sent, `false` if no space became free before the deadline.
    /// - Throws: ``ChannelError/messageTooLarge(size:maximum:)``, ``ChannelError/receiverDied``,
    ///   ``ChannelError/receiversClosed`` (then `body` was not called).
    @discardableResult
    public mutating func send(
        count: Int, timeout: Duration? = nil, inPlace body: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(ChannelError) -> Bool {
        guard count >= 0, count <= ring.maximumMessageSize else {
            throw .messageTooLarge(size: count, maximum: ring.maximumMessageSize)
        }
        let deadline = Deadline(timeout: timeout)
        while true {
            if let payload = claim(count) {
                body(UnsafeMutableRawBufferPointer(start: payload, count: count))
                publish(count)
                return true
            }
            // The mark's acquire (see `receiversHaveClosed`) orders the fresh head after the last
            // receiver's releases.
            if self.ring.control.receiversHaveClosed {
                let head = self.ring.control.consumerIndex.pointee.load(ordering: .acquiring)
                if self.ring.freeBytes(tail: self.tail, head: head) < bytesNeeded(count).total { throw .receiversClosed }
            }
            let ring = self.ring
            let frame = UInt64(2 * ByteRing.frameSize(count))
            let tail = self.tail
            let outcome = ring.control.wait(on: ring.control.notFull, strategy: waitStrategy, deadline: deadline) {
                let head = ring.control.consumerIndex.pointee.load(ordering: .acquiring)
                return ring.freeBytes(tail: tail, head: head) >= frame || head == tail || ring.control.receiversHaveClosed
            }
            switch outcome {
            case .ready: continue
            case .timedOut, .checkLiveness:
                // Checked on a timeout too: a caller polling with timeouts shorter than the liveness
                // interval would otherwise never hear of the death (it would wait forever in slices).
                try ring.segment.throwIfDamaged()
                let peers = ChannelPeers(segment: ring.segment, control: ring.control)
                if peers.allGone(.receiver, live: peers.counts(.receiver).live) { throw .receiverDied }
                if outcome == .timedOut { return false }
            }
        }
    }

    /// Sends a copy of `bytes`.
    /// - Returns: `true` once sent, `false` if the deadline passed first.
    /// - Throws: as ``send(count:timeout:inPlace:)``.
    @discardableResult
    public mutating func send(_ bytes: UnsafeRawBufferPointer, timeout: Duration? = nil) throws(ChannelError) -> Bool {
        try send(count: bytes.count, timeout: timeout) { destination in
            if let source = bytes.baseAddress { destination.baseAddress!.copyMemory(from: source, byteCount: bytes.count) }
        }
    }

    /// Sends a copy of `bytes`.
    /// - Returns: `true` once sent, `false` if the deadline passed first.
    /// - Throws: as ``send(count:timeout:inPlace:)``.
    @discardableResult
    public mutating func send(_ bytes: [UInt8], timeout: Duration? = nil) throws(ChannelError) -> Bool {
        var result: Result<Bool, ChannelError> = .success(false)
        bytes.withUnsafeBytes { buffer in
            do throws(ChannelError) { result = .success(try send(buffer, timeout: timeout)) } catch {
                result = .failure(error)
            }
        }
        return try result.get()
    }

    /// Closes the sending side; the receiver drains, then gets ``ChannelError/closed``.
    public consuming func close() { lifetime.end() }
}

/// The receiving side of a byte-message channel.
public struct ByteChannelReceiver: ~Copyable, Sendable {
    let ring: ByteRing
    let lifetime: ChannelParticipation
    var head: UInt64
    /// How a blocked receive waits for messages.
    public var waitStrategy: WaitStrategy
    /// What receives do once the sender died without closing: report
    /// ``ChannelError/senderDied`` (the default) or wait for a successor sender, which continues
    /// after the last message the dead one published completely.
    public var senderDeath: SenderDeathPolicy

    /// The largest message the channel carries, in bytes.
    public var maximumMessageSize: Int { ring.maximumMessageSize }

    /// Opens (or creates) the byte channel `name` as its receiver; parameters as for
    /// ``ByteChannelSender/init(named:bufferSize:maximumMessageSize:mode:permissions:lifetime:owners:waitStrategy:timeout:)``,
    /// and `senderDeath` as for
    /// ``ChannelReceiver/init(named:capacity:topology:mode:permissions:lifetime:owners:waitStrategy:senderDeath:timeout:)``.
    /// - Throws: ``ChannelError``.
    public init(
        named name: String, bufferSize: Int? = nil, maximumMessageSize: Int? = nil,
        mode: SharedMemory.OpenMode = .openOrCreate, permissions: FilePermissions = [.ownerRead, .ownerWrite],
        lifetime: SharedMemory.Lifetime = .persistent, owners: SharedMemory.OwnerPolicy = .currentUser,
        waitStrategy: WaitStrategy = .adaptive, senderDeath: SenderDeathPolicy = .report,
        timeout: Duration = .seconds(5)
    ) throws(ChannelError) {
        let ring = try ByteRing(
            name: name, bufferSize: bufferSize, maximumMessageSize: maximumMessageSize, mode: mode,
            permissions: permissions, lifetime: lifetime, owners: owners, timeout: timeout)
        self.lifetime = try ChannelParticipation(
            segment: ring.segment, control: ring.control, role: .receiver, topology: .singleProducerSingleConsumer)
        self.ring = ring
        self.waitStrategy = waitStrategy
        self.senderDeath = senderDeath
        self.head = ring.control.consumerIndex.pointee.load(ordering: .relaxed)
    }

    /// The next frame's payload, validated, or `nil` if none is published.
    mutating func claim() throws(ChannelError) -> UnsafeRawBufferPointer? {
        // SYNC POINT: acquiring; pairs with the sender's releasing tail store.
        let tail = ring.control.producerIndex.pointee.load(ordering: .acquiring)
        while head != tail {
            let available = tail &- head
            guard available <= UInt64(ring.size), available >= UInt64(ByteRing.frameHeader) else {
                throw .corrupt("\(available) bytes published in a \(ring.size)-byte ring")
            }
            let offset = Int(head & ring.mask)
            let length = (ring.ring + offset).load(as: UInt32.self)
            if length == ByteRing.wrapMarker {
                head &+= UInt64(ring.size - offset)
                continue
            }
            let frame = ByteRing.frameSize(Int(length))
            guard Int(length) <= ring.maximumMessageSize, UInt64(frame) <= available, offset + frame <= ring.size else {
                throw .corrupt("frame of \(length) bytes at offset \(offset)")
            }
            return UnsafeRawBufferPointer(start: ring.ring + offset + ByteRing.frameHeader, count: Int(length))
        }
        return nil
    }

    mutating func release(_ payload: UnsafeRawBufferPointer) {
        head &+= UInt64(ByteRing.frameSize(payload.count))
        // SYNC POINT: releasing; our reads of the frame happen before the sender reuses it.
        ring.control.consumerIndex.pointee.store(head, ordering: .releasing)
        ring.control.notFull.wake(count: 1)
    }

    /// Receives a message and reads it in place; the bytes are released to the sender after
    /// `body` returns. `body` must not retain the buffer.
    /// - Returns: what `body` returned, or `nil` if the deadline passed first.
    /// - Throws: ``ChannelError/closed``, ``ChannelError/senderDied`` (not with
    ///   ``SenderDeathPolicy/awaitSuccessor``), ``ChannelError/corrupt(_:)``.
    public mutating func receive<R>(
        timeout: Duration? = nil, inPlace body: (UnsafeRawBufferPointer) -> R
    ) throws(ChannelError) -> R? {
        try receiveFrame(deadline: Deadline(timeout: timeout)) { (payload) throws(ChannelError) in body(payload) }
    }

    /// Receives a message as a new array.
    /// - Returns: the message, or `nil` if the deadline passed first.
    /// - Throws: as ``receive(timeout:inPlace:)``.
    public mutating func receive(timeout: Duration? = nil) throws(ChannelError) -> [UInt8]? {
        try receive(timeout: timeout) { Array($0) }
    }

    /// Receives a message into `buffer` and returns its length, or `nil` on timeout.
    /// - Throws: as ``receive(timeout:inPlace:)``, and ``ChannelError/messageTooLarge(size:maximum:)``
    ///   if `buffer` is too small for the next message (which then stays in the channel).
    public mutating func receive(into buffer: UnsafeMutableRawBufferPointer, timeout: Duration? = nil) throws(ChannelError) -> Int? {
        try receiveFrame(deadline: Deadline(timeout: timeout)) { (payload) throws(ChannelError) -> Int in
            guard payload.count <= buffer.count else { throw .messageTooLarge(size: payload.count, maximum: buffer.count) }
            if let source = payload.baseAddress { buffer.baseAddress!.copyMemory(from: source, byteCount: payload.count) }
            return payload.count
        }
    }

    /// Waits for the next frame and hands it to `body`; the frame is released only if `body`
    /// returns (a throwing `body` leaves the message in the channel).
    mutating func receiveFrame<R>(
        deadline: Deadline, _ body: (UnsafeRawBufferPointer) throws(ChannelError) -> R
    ) throws(ChannelError) -> R? {
        while true {
            if let payload = try claim() {
                let result = try body(payload)
                release(payload)
                return result
            }
            // SYNC POINT: acquiring; see ChannelReceiver.throwIfClosed.
            if ring.control.closed.pointee.load(ordering: .acquiring) == 1 {
                if try claim() != nil { continue }
                throw .closed
            }
            let ring = self.ring
            let head = self.head
            let outcome = ring.control.wait(on: ring.control.notEmpty, strategy: waitStrategy, deadline: deadline) {
                ring.control.producerIndex.pointee.load(ordering: .acquiring) != head
                    || ring.control.closed.pointee.load(ordering: .acquiring) == 1
            }
            switch outcome {
            case .ready: continue
            case .timedOut, .checkLiveness:
                // Checked on a timeout too: a caller polling with timeouts shorter than the liveness
                // interval would otherwise never hear of the death (it would wait forever in slices).
                try ring.segment.throwIfDamaged()
                // With `awaitSuccessor` a dead sender is not an error: a successor continues at
                // the published tail, after the last whole frame.
                if senderDeath == .report {
                    let peers = ChannelPeers(segment: ring.segment, control: ring.control)
                    if peers.allGone(.sender, live: peers.counts(.sender).live), try claim() == nil { throw .senderDied }
                }
                if outcome == .timedOut { return nil }
            }
        }
    }

    /// Closes the receiving side. Once the receiver has closed, a send that finds the ring full
    /// gets ``ChannelError/receiversClosed``, until a receiver opens the channel again. Dropping
    /// a receiver closes it too.
    public consuming func close() { lifetime.end() }

    /// Creates the byte channel `name` without opening either side of it: nobody registers, and
    /// the channel carries neither side's close mark.
    ///
    /// Opening a receiver and closing it at once also creates the channel, but that close marks
    /// the receivers closed: a sender that fills the ring before the real receiver opens gets
    /// ``ChannelError/receiversClosed``. Create with this instead when the roles are started
    /// separately.
    ///
    /// The parameters are those of
    /// ``ByteChannelSender/init(named:bufferSize:maximumMessageSize:mode:permissions:lifetime:owners:waitStrategy:timeout:)``;
    /// the channel must not exist yet; `lifetime` is the new channel's.
    ///
    /// - Returns: the channel's segment. Holding it keeps a ``SharedMemory/Lifetime/removedWithLastUser``
    ///   channel alive while the roles come and go; dropping it at once removes such a channel.
    /// - Throws: ``ChannelError`` (``ChannelError/segment(_:)`` with
    ///   ``SharedMemoryError/alreadyExists(name:)`` if it exists).
    @discardableResult
    public static func createChannel(
        named name: String, bufferSize: Int, maximumMessageSize: Int,
        permissions: FilePermissions = [.ownerRead, .ownerWrite], lifetime: SharedMemory.Lifetime = .persistent
    ) throws(ChannelError) -> SharedMemory {
        try ByteRing(
            name: name, bufferSize: bufferSize, maximumMessageSize: maximumMessageSize, mode: .create,
            permissions: permissions, lifetime: lifetime, owners: .currentUser, timeout: .zero
        ).segment
    }
}
