import SystemPackage
import Synchronization

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
        // Relaxed: the previous sender is gone (the role lock, taken above, says so) and the
        // lock's system call ordered its last store before this load; we are the only writer
        // of `tail` from now on.
        self.tail = ring.control.producerIndex.pointee.load(ordering: .relaxed)
        // SYNC POINT: acquiring; pairs with the receiver's releasing head store, so the bytes
        // below the head were read before we overwrite them.
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
                // Acquiring: as in `claim`.
                let head = self.ring.control.consumerIndex.pointee.load(ordering: .acquiring)
                if self.ring.freeBytes(tail: self.tail, head: head) < bytesNeeded(count).total {
                    throw .receiversClosed
                }
            }
            let ring = self.ring
            let frame = UInt64(2 * ByteRing.frameSize(count))
            let tail = self.tail
            let outcome = ChannelControl.wait(on: ring.control.notFull, strategy: waitStrategy, deadline: deadline) {
                // Acquiring: as in `claim`.
                let head = ring.control.consumerIndex.pointee.load(ordering: .acquiring)
                return ring.freeBytes(tail: tail, head: head) >= frame || head == tail
                    || ring.control.receiversHaveClosed
            }
            let retries = try outcome.retries { () throws(ChannelError) in
                try ring.segment.throwIfDamaged()
                let peers = ChannelPeers(segment: ring.segment, control: ring.control)
                if peers.allGone(.receiver, live: peers.counts(.receiver).live) { throw .receiverDied }
            }
            if !retries { return false }
        }
    }

    /// Sends a copy of `bytes`.
    /// - Returns: `true` once sent, `false` if the deadline passed first.
    /// - Throws: as ``send(count:timeout:inPlace:)``.
    @discardableResult
    public mutating func send(_ bytes: UnsafeRawBufferPointer, timeout: Duration? = nil) throws(ChannelError) -> Bool {
        try send(count: bytes.count, timeout: timeout) { destination in
            if let source = bytes.baseAddress {
                destination.baseAddress!.copyMemory(from: source, byteCount: bytes.count)
            }
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
