import SystemPackage
import Synchronization

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
        // Relaxed: the previous receiver is gone (the role lock, taken above) and the lock's
        // system call ordered its last store before this load; we are the only writer of
        // `head` from now on.
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
    public mutating func receive(into buffer: UnsafeMutableRawBufferPointer, timeout: Duration? = nil)
        throws(ChannelError) -> Int?
    {
        try receiveFrame(deadline: Deadline(timeout: timeout)) { (payload) throws(ChannelError) -> Int in
            guard payload.count <= buffer.count else {
                throw .messageTooLarge(size: payload.count, maximum: buffer.count)
            }
            if let source = payload.baseAddress {
                buffer.baseAddress!.copyMemory(from: source, byteCount: payload.count)
            }
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
            // Acquiring loads, as in `claim` and above: a frame seen here is read after the wait.
            let outcome = ChannelControl.wait(on: ring.control.notEmpty, strategy: waitStrategy, deadline: deadline) {
                ring.control.producerIndex.pointee.load(ordering: .acquiring) != head
                    || ring.control.closed.pointee.load(ordering: .acquiring) == 1
            }
            let retries = try outcome.retries { () throws(ChannelError) in
                try ring.segment.throwIfDamaged()
                // With `awaitSuccessor` a dead sender is not an error: a successor continues at
                // the published tail, after the last whole frame.
                if senderDeath == .report {
                    let peers = ChannelPeers(segment: ring.segment, control: ring.control)
                    if peers.allGone(.sender, live: peers.counts(.sender).live), try claim() == nil {
                        throw .senderDied
                    }
                }
            }
            if !retries { return nil }
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
