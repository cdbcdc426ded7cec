import Synchronization
import SystemPackage

/// The sending side of a typed channel between processes.
///
/// ```swift
/// var sender = try ChannelSender<Int>(named: "jobs", capacity: 1024)
/// try sender.send(42)
/// sender.close()
/// ```
///
/// A sender is a single participant: it registers in the channel's participant table when
/// opened and leaves it when closed (or dropped). It is `~Copyable` because it owns that role —
/// with ``ChannelTopology/singleProducerSingleConsumer`` there may be one live sender at a time
/// (another open fails with ``ChannelError/roleTaken(_:)``). With
/// ``ChannelTopology/multiProducerMultiConsumer``, open one sender per thread or process; each
/// sender's messages arrive in the order it sent them.
///
/// The fast path (space available, no receiver asleep) makes no system call and, for SPSC, no
/// atomic read-modify-write.
///
/// When every receiver has closed the channel, sends still succeed while there is room: the
/// messages stay for a receiver that opens it later, as receivers still take the messages left
/// in a channel whose senders closed. A send that finds the ring full then gets
/// ``ChannelError/receiversClosed`` instead of waiting for room nobody will make.
public struct ChannelSender<Element: BitwiseCopyable>: ~Copyable, Sendable {
    @usableFromInline let ring: ChannelRing<Element>
    let lifetime: ChannelParticipation
    /// SPSC: our next position (we are the only producer).
    @usableFromInline var tail: UInt64
    /// SPSC: the consumer's released position as last read. Positions below it + capacity are
    /// free; the shared index is read again only when this copy says the ring is full.
    @usableFromInline var releasedCache: UInt64
    /// Messages sent since this sender last had to wait for space: a run of several means the
    /// receivers are draining a full ring, and the next wait starts with a backoff (see
    /// `waitForSpace`).
    @usableFromInline var sentSinceWait: UInt32 = 0
    /// Waits that started with the streaming backoff (for tests and diagnostics).
    var streamingBackoffs = 0

    /// How a blocked send waits for space.
    public var waitStrategy: WaitStrategy

    /// The number of slots.
    public var capacity: Int { ring.capacity }
    /// The channel's topology.
    public var topology: ChannelTopology { ring.topology }
    /// Messages sent and not yet received (a snapshot).
    public var depth: Int { ring.depth }
    /// The channel's segment.
    public var segment: SharedMemory { ring.segment }

    /// Opens (or creates) the channel `name` as a sender.
    ///
    /// - Parameters:
    ///   - name: the channel's name.
    ///   - capacity: the number of slots, a power of two (at least 2 for
    ///     ``ChannelTopology/multiProducerMultiConsumer``); required to create, checked when
    ///     opening (`nil` accepts the existing capacity).
    ///   - topology: the topology of a new channel; checked when opening (`nil` accepts any).
    ///   - mode: create, open, or either.
    ///   - permissions: the file mode of a new channel (default `0600`).
    ///   - lifetime: how long a new channel's name lives (default ``SharedMemory/Lifetime/persistent``).
    ///   - owners: the owners of an existing channel this open accepts (default: only the
    ///     current user; see ``SharedMemory/OwnerPolicy``).
    ///   - waitStrategy: how blocked sends wait (default ``WaitStrategy/adaptive``).
    ///   - timeout: how long to wait for a channel another process is still initialising.
    /// - Throws: ``ChannelError``.
    public init(
        named name: String, capacity: Int? = nil, topology: ChannelTopology? = nil,
        mode: SharedMemory.OpenMode = .openOrCreate, permissions: FilePermissions = [.ownerRead, .ownerWrite],
        lifetime: SharedMemory.Lifetime = .persistent, owners: SharedMemory.OwnerPolicy = .currentUser,
        waitStrategy: WaitStrategy = .adaptive, timeout: Duration = .seconds(5)
    ) throws(ChannelError) {
        let ring = try ChannelRing<Element>(
            name: name, capacity: capacity, topology: topology, mode: mode, permissions: permissions,
            lifetime: lifetime, owners: owners, timeout: timeout)
        self.lifetime = try ChannelParticipation(
            segment: ring.segment, control: ring.control, role: .sender, topology: ring.topology)
        self.ring = ring
        self.waitStrategy = waitStrategy
        // The previous sender (if any) is gone: the role lock, taken above, says so.
        self.tail = ring.topology == .singleProducerSingleConsumer ? ring.spscProducerStart() : 0
        self.releasedCache = ring.topology == .singleProducerSingleConsumer ? ring.spscReleasedPosition() : 0
    }

    // MARK: - Claim and publish

    /// Reserves the next slot, or `nil` if the ring is full.
    @inlinable @inline(__always)
    mutating func claim() -> (UInt64, UnsafeMutableRawPointer)? {
        switch ring.topology {
        case .singleProducerSingleConsumer:
            // Wrapping differences: positions wrap at 2^64.
            if tail &- releasedCache >= UInt64(ring.capacity) {
                releasedCache = ring.spscReleasedPosition()
                if tail &- releasedCache >= UInt64(ring.capacity) { return nil }
            }
            return (tail, ring.slot(tail))
        case .multiProducerMultiConsumer:
            return ring.mpmcClaimForSend()
        }
    }

    /// Makes a claimed slot visible to receivers (without waking them).
    @inlinable @inline(__always)
    mutating func publish(_ position: UInt64, _ slot: UnsafeMutableRawPointer) {
        switch ring.topology {
        case .singleProducerSingleConsumer:
            tail = position &+ 1
            ring.spscPublish(slot, at: position)
        case .multiProducerMultiConsumer:
            ring.mpmcPublish(position, slot)
        }
        sentSinceWait &+= 1
    }

    // MARK: - Sending

    /// Sends `element` if there is space, without waiting.
    /// - Returns: whether it was sent (`false`: the channel is full).
    /// - Throws: ``ChannelError/receiversClosed`` if the channel is full and every receiver
    ///   closed it. (A dead receiver is found only by the waiting sends, which check liveness.)
    @inlinable @inline(__always)
    public mutating func trySend(_ element: Element) throws(ChannelError) -> Bool {
        guard let (position, slot) = claim() else {
            try throwIfReceiversClosed()
            return false
        }
        ring.element(slot).initialize(to: element)
        publish(position, slot)
        ring.control.notEmpty.wake(count: 1)
        return true
    }

    /// Sends `element`, waiting at most `timeout` for space (`nil`: as long as it takes).
    ///
    /// - Returns: `true` once sent, `false` if the deadline passed first.
    /// - Throws: ``ChannelError/receiverDied`` or ``ChannelError/receiversClosed`` if the
    ///   channel is full and every receiver died or closed it.
    @discardableResult @inlinable
    public mutating func send(_ element: Element, timeout: Duration? = nil) throws(ChannelError) -> Bool {
        // Inlinable so the fast path (`trySend`) specialises in the caller; waiting is not.
        if try trySend(element) { return true }
        return try send(timeout: timeout) { $0.initialize(to: element) }
    }

    /// After a failed claim: throws `receiversClosed` if every receiver closed and the ring is
    /// still full (the mark's acquire makes their last releases visible to the re-check).
    @usableFromInline
    func throwIfReceiversClosed() throws(ChannelError) {
        if ring.control.receiversHaveClosed && !ring.hasSpace(forProducerAt: tail) { throw .receiversClosed }
    }

    /// Sends a message written in place: `body` initialises the slot directly in shared memory,
    /// with no intermediate copy.
    ///
    /// `body` must initialise the element and must not retain the pointer.
    /// - Returns: `true` once sent, `false` if no slot became free before the deadline (then
    ///   `body` was not called).
    /// - Throws: ``ChannelError/receiverDied``, ``ChannelError/receiversClosed`` (then `body`
    ///   was not called).
    @discardableResult
    public mutating func send(
        timeout: Duration? = nil, inPlace body: (UnsafeMutablePointer<Element>) -> Void
    ) throws(ChannelError) -> Bool {
        let deadline = Deadline(timeout: timeout)
        while true {
            if let (position, slot) = claim() {
                body(ring.element(slot))
                publish(position, slot)
                ring.control.notEmpty.wake(count: 1)
                return true
            }
            try throwIfReceiversClosed()
            guard
                try waitForSpace(deadline: deadline).retries(checkingPeers: { () throws(ChannelError) in
                    try throwIfReceiversDied()
                })
            else { return false }
        }
    }

    /// Sends every element of `elements` in order, waiting for space as needed.
    ///
    /// Receivers are woken once per batch rather than once per message.
    /// - Returns: how many were sent: fewer than `elements.count` if the deadline passed, or if
    ///   the channel filled up after some were sent and every receiver then died or closed (the
    ///   next send reports that).
    /// - Throws: ``ChannelError/receiverDied``, ``ChannelError/receiversClosed``, only when
    ///   nothing was sent.
    @discardableResult
    public mutating func send<C: Collection<Element>>(contentsOf elements: C, timeout: Duration? = nil)
        throws(ChannelError)
        -> Int
    {
        let deadline = Deadline(timeout: timeout)
        var sent = 0
        var index = elements.startIndex
        while index != elements.endIndex {
            var batch = 0
            while index != elements.endIndex, let (position, slot) = claim() {
                ring.element(slot).initialize(to: elements[index])
                publish(position, slot)
                elements.formIndex(after: &index)
                batch += 1
            }
            if batch > 0 {
                ring.control.notEmpty.wake(count: Int32(clamping: batch))
                sent += batch
                continue
            }
            // Like the deaths below, reported only when nothing was sent: a throw would lose
            // the count of what was.
            if sent > 0 && ring.control.receiversHaveClosed && !ring.hasSpace(forProducerAt: tail) { return sent }
            try throwIfReceiversClosed()
            // A death after some were sent ends the call with their count (the next send throws).
            var receiversDied = false
            let retries = try waitForSpace(deadline: deadline).retries { () throws(ChannelError) in
                do throws(ChannelError) { try throwIfReceiversDied() } catch {
                    guard error == .receiverDied && sent > 0 else { throw error }
                    receiversDied = true
                }
            }
            if !retries || receiversDied { return sent }
        }
        return sent
    }

    /// The liveness checkpoint of a blocked send: throws if the segment is damaged or the ring
    /// is full with every receiver dead.
    func throwIfReceiversDied() throws(ChannelError) {
        try ring.segment.throwIfDamaged()
        if ring.receiversDied() { throw .receiverDied }
    }

    /// Closes the sending side: once every sender has closed and receivers have taken every
    /// message, they get ``ChannelError/closed``. Dropping a sender closes it too.
    public consuming func close() {
        // The exact end, for inspection and a successor (while sending, the record may lag).
        if ring.topology == .singleProducerSingleConsumer { ring.spscRecord(tail) }
        lifetime.end()
    }

    /// Waits for space. A sender that sent several messages since its last wait is feeding a
    /// receiver that drains a full ring: like a streaming receiver (see
    /// `ChannelReceiver.waitForMessage`), it first stays off the shared lines for
    /// ``ChannelControl/streamingBackoff`` so the receiver frees a batch of slots uncontended.
    mutating func waitForSpace(deadline: Deadline) -> ChannelControl.WaitOutcome {
        let streaming = sentSinceWait >= ChannelControl.streamingRun && waitStrategy != .block
        sentSinceWait = 0
        if streaming { streamingBackoffs += 1 }
        let ring = self.ring
        let tail = self.tail
        return ChannelControl.wait(
            on: ring.control.notFull, strategy: waitStrategy, deadline: deadline, backoff: streaming
        ) {
            ring.hasSpace(forProducerAt: tail) || ring.control.receiversHaveClosed
        }
    }
}
