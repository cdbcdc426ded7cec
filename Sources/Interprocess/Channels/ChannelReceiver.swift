import Synchronization
import SystemPackage

/// The receiving side of a typed channel between processes.
///
/// ```swift
/// var receiver = try ChannelReceiver<Int>(named: "jobs", capacity: 1024)
/// while let job = try receiver.receive(timeout: .seconds(1)) { handle(job) }
/// ```
///
/// A receiver never sees a half-written message: a message becomes visible only after its
/// sender finished writing it. When every sender has closed, receivers first take every message
/// still in the channel and then get ``ChannelError/closed``; when every sender died instead,
/// they get ``ChannelError/senderDied`` after the same drain, rather than waiting forever — or,
/// with ``SenderDeathPolicy/awaitSuccessor``, keep waiting for a sender that opens the channel
/// again (see ``senderDeath``).
///
/// A participant killed in the middle of an operation (verified by the multi-process crash
/// tests):
/// - An MPMC sender that dies between claiming a slot and publishing it leaves a hole: receivers
///   take every message before it and then get ``ChannelError/senderDied``, even while other
///   senders live; messages those sent after the hole stay behind it.
/// - A receiver that dies while holding a message (taken, not yet released, as inside
///   ``receive(timeout:inPlace:)``): with ``ChannelTopology/singleProducerSingleConsumer`` the
///   next receiver gets that message again (at-least-once for that one message); with
///   ``ChannelTopology/multiProducerMultiConsumer`` it is lost and its slot is never freed, so
///   once senders come round to it they get ``ChannelError/receiverDied``.
///
/// Like ``ChannelSender``, a receiver is one participant and `~Copyable`; with
/// ``ChannelTopology/singleProducerSingleConsumer`` there is at most one live receiver.
public struct ChannelReceiver<Element: BitwiseCopyable>: ~Copyable, Sendable {
    @usableFromInline let ring: ChannelRing<Element>
    let lifetime: ChannelParticipation
    /// SPSC: our next position (we are the only consumer).
    @usableFromInline var head: UInt64
    /// Messages taken since this receiver last had to wait: a run of several means the senders
    /// are streaming, and the next wait starts with a backoff (see `waitForMessage`).
    @usableFromInline var takenSinceWait: UInt32 = 0
    /// When the second of those messages was taken (`CLOCK_MONOTONIC` ns): a stream's backlog
    /// is taken at memory speed, a request/reply client's messages a round trip or more apart.
    @usableFromInline var secondTakenAt: UInt64 = 0
    /// The slowest per-message pace that counts as a stream (tests slow it down for debug builds).
    var streamingPaceNanoseconds = ChannelControl.streamingPaceNanoseconds
    /// Waits that started with the streaming backoff (for tests and diagnostics).
    var streamingBackoffs = 0
    /// How many takes between waits mark a stream.
    var streamingRun = StreamingRun()

    /// How a blocked receive waits for messages.
    public var waitStrategy: WaitStrategy
    /// What receives do once every sender died without closing: report
    /// ``ChannelError/senderDied`` (``SenderDeathPolicy/report``, the default) or wait for a
    /// successor (``SenderDeathPolicy/awaitSuccessor``).
    public var senderDeath: SenderDeathPolicy

    /// The number of slots.
    public var capacity: Int { ring.capacity }
    /// The channel's topology.
    public var topology: ChannelTopology { ring.topology }
    /// Messages sent and not yet received (a snapshot).
    public var depth: Int { ring.depth }
    /// The channel's segment.
    public var segment: SharedMemory { ring.segment }

    /// Opens (or creates) the channel `name` as a receiver.
    ///
    /// The parameters other than `senderDeath` are those of
    /// ``ChannelSender/init(named:capacity:topology:mode:permissions:lifetime:owners:waitStrategy:timeout:)``.
    /// `senderDeath` is ``SenderDeathPolicy/report`` (the default) to get
    /// ``ChannelError/senderDied`` once every sender died and the channel is drained, or
    /// ``SenderDeathPolicy/awaitSuccessor`` to keep waiting for a sender that opens the channel
    /// again. Opening a channel whose last sender died succeeds either way.
    ///
    /// - Throws: ``ChannelError``.
    public init(
        named name: String, capacity: Int? = nil, topology: ChannelTopology? = nil,
        mode: SharedMemory.OpenMode = .openOrCreate, permissions: FilePermissions = [.ownerRead, .ownerWrite],
        lifetime: SharedMemory.Lifetime = .persistent, owners: SharedMemory.OwnerPolicy = .currentUser,
        waitStrategy: WaitStrategy = .adaptive, senderDeath: SenderDeathPolicy = .report,
        timeout: Duration = .seconds(5)
    ) throws(ChannelError) {
        let ring = try ChannelRing<Element>(
            name: name, capacity: capacity, topology: topology, mode: mode, permissions: permissions,
            lifetime: lifetime, owners: owners, timeout: timeout)
        self.lifetime = try ChannelParticipation(
            segment: ring.segment, control: ring.control, role: .receiver, topology: ring.topology)
        self.ring = ring
        self.waitStrategy = waitStrategy
        self.senderDeath = senderDeath
        // We are the only receiver now (the SPSC role lock, taken above).
        self.head = ring.topology == .singleProducerSingleConsumer ? ring.spscConsumerStart() : 0
    }

    // MARK: - Claim and release

    /// The next published message's slot, or `nil` if none is ready.
    @inlinable @inline(__always)
    mutating func claim() -> (UInt64, UnsafeMutableRawPointer)? {
        switch ring.topology {
        case .singleProducerSingleConsumer:
            let slot = ring.slot(head)
            return ring.spscIsPublished(slot, at: head) ? (head, slot) : nil
        case .multiProducerMultiConsumer:
            return ring.mpmcClaimForReceive()
        }
    }

    /// Frees a claimed slot for senders (without waking them).
    @inlinable @inline(__always)
    mutating func release(_ position: UInt64, _ slot: UnsafeMutableRawPointer) {
        switch ring.topology {
        case .singleProducerSingleConsumer:
            head = position &+ 1
            ring.spscRelease(slot, at: position)
        case .multiProducerMultiConsumer:
            ring.mpmcRelease(position, slot)
        }
        takenSinceWait &+= 1
        // One clock read per run of takes between waits, none in a one-message exchange.
        if takenSinceWait == 2 { secondTakenAt = Deadline.now.uptimeNanoseconds }
    }

    // MARK: - Receiving

    /// Receives a message if one is ready, without waiting.
    ///
    /// - Returns: the message, or `nil` if the channel is empty.
    /// - Throws: ``ChannelError/closed`` if the channel is empty and every sender closed it.
    @inlinable @inline(__always)
    public mutating func tryReceive() throws(ChannelError) -> Element? {
        if let (position, slot) = claim() {
            let element = ring.element(slot).pointee
            release(position, slot)
            ring.control.notFull.wake(count: 1)
            return element
        }
        try throwIfClosed()
        return nil
    }

    /// Receives a message, waiting at most `timeout` (`nil`: as long as it takes).
    ///
    /// - Returns: the message, or `nil` if the deadline passed first.
    /// - Throws: ``ChannelError/closed`` or ``ChannelError/senderDied`` once the channel is
    ///   drained and no sender can send again (never `senderDied` with
    ///   ``SenderDeathPolicy/awaitSuccessor``: the receive waits for a successor instead).
    @inlinable
    public mutating func receive(timeout: Duration? = nil) throws(ChannelError) -> Element? {
        // Inlinable so the fast path specialises in the caller; waiting is not (the slow path
        // tries to claim again before it waits).
        if let (position, slot) = claim() {
            let element = ring.element(slot).pointee
            release(position, slot)
            ring.control.notFull.wake(count: 1)
            return element
        }
        return try receive(timeout: timeout) { $0.pointee }
    }

    /// Receives a message and reads it in place: `body` gets a pointer to the slot in shared
    /// memory, and the slot is released to senders only after `body` returns.
    ///
    /// `body` must not retain the pointer.
    /// - Returns: what `body` returned, or `nil` if the deadline passed first.
    /// - Throws: as ``receive(timeout:)``.
    public mutating func receive<R>(
        timeout: Duration? = nil, inPlace body: (UnsafePointer<Element>) -> R
    ) throws(ChannelError) -> R? {
        let deadline = Deadline(timeout: timeout)
        while true {
            if let (position, slot) = claim() {
                let result = body(ring.element(slot))
                release(position, slot)
                ring.control.notFull.wake(count: 1)
                return result
            }
            try throwIfClosed()
            guard
                try waitForMessage(deadline: deadline).retries(checkingPeers: { () throws(ChannelError) in
                    try throwIfSendersDied()
                })
            else { return nil }
        }
    }

    /// Receives up to `buffer.count` messages into `buffer`, waiting at most `timeout` for the
    /// first one; takes whatever else is ready without waiting.
    ///
    /// Senders are woken once per batch rather than once per message.
    /// - Returns: how many messages were stored (0 if the deadline passed first).
    /// - Throws: as ``receive(timeout:)``, only when nothing was received.
    public mutating func receive(into buffer: UnsafeMutableBufferPointer<Element>, timeout: Duration? = nil)
        throws(ChannelError) -> Int
    {
        guard !buffer.isEmpty else { return 0 }
        let deadline = Deadline(timeout: timeout)
        while true {
            var count = 0
            while count < buffer.count, let (position, slot) = claim() {
                buffer[count] = ring.element(slot).pointee
                release(position, slot)
                count += 1
            }
            if count > 0 {
                ring.control.notFull.wake(count: Int32(clamping: count))
                return count
            }
            try throwIfClosed()
            guard
                try waitForMessage(deadline: deadline).retries(checkingPeers: { () throws(ChannelError) in
                    try throwIfSendersDied()
                })
            else { return 0 }
        }
    }

    /// Closes the receiving side. Dropping a receiver closes it too.
    ///
    /// When the last receiver has closed, a send that finds the ring full gets
    /// ``ChannelError/receiversClosed`` (rather than waiting for room nobody will make), until a
    /// receiver opens the channel again; the messages in the ring stay for that receiver.
    public consuming func close() {
        lifetime.end()
    }

    /// Creates the channel `name` without opening either side of it: nobody registers, and the
    /// channel carries neither side's close mark.
    ///
    /// Opening a receiver and closing it at once also creates the channel, but that close marks
    /// the receivers closed: a sender that fills the ring before the real receivers open gets
    /// ``ChannelError/receiversClosed``. Create with this instead when the roles are started
    /// separately.
    ///
    /// The parameters are those of
    /// ``ChannelSender/init(named:capacity:topology:mode:permissions:lifetime:owners:waitStrategy:timeout:)``;
    /// the channel must not exist yet; `lifetime` is the new channel's.
    ///
    /// - Returns: the channel's segment. Holding it keeps a ``SharedMemory/Lifetime/removedWithLastUser``
    ///   channel alive while the roles come and go; dropping it at once removes such a channel.
    /// - Throws: ``ChannelError`` (``ChannelError/segment(_:)`` with
    ///   ``SharedMemoryError/alreadyExists(name:)`` if it exists).
    @discardableResult
    public static func createChannel(
        named name: String, capacity: Int, topology: ChannelTopology = .singleProducerSingleConsumer,
        permissions: FilePermissions = [.ownerRead, .ownerWrite], lifetime: SharedMemory.Lifetime = .persistent
    ) throws(ChannelError) -> SharedMemory {
        try ChannelRing<Element>(
            name: name, capacity: capacity, topology: topology, mode: .create, permissions: permissions,
            lifetime: lifetime, owners: .currentUser, timeout: .zero
        ).segment
    }

    // MARK: - Waiting

    /// Throws `closed` when every sender closed and nothing is left to receive.
    @usableFromInline
    mutating func throwIfClosed() throws(ChannelError) {
        if ring.isClosedAndDrained(forConsumerAt: head) { throw .closed }
    }

    /// The liveness checkpoint: what a drained channel whose senders died means, by
    /// ``senderDeath``.
    func throwIfSendersDied() throws(ChannelError) {
        try ring.segment.throwIfDamaged()
        switch senderDeath {
        case .report:
            if ring.sendersDied() && isEmpty { throw .senderDied }
        case .awaitSuccessor:
            // A dead sender is not an error; with MPMC, step over the claims dead senders left
            // unpublished, which no successor could ever fill.
            if ring.topology == .multiProducerMultiConsumer { ring.mpmcSkipAbandonedClaims() }
        }
    }

    /// Whether no published message is waiting.
    var isEmpty: Bool { !ring.hasMessage(forConsumerAt: head) }

    /// Waits for a message (or a close).
    ///
    /// A receiver that took several messages since its last wait is draining a stream: the
    /// sender is running ahead and its next message is nanoseconds away. Polling the slot the
    /// sender is about to write would pull that line back and forth once per message, and every
    /// such transfer stalls the sender's wake-up barrier; so this wait first stays off the ring
    /// for ``ChannelControl/streamingBackoff``, lets the sender fill slots uncontended, and
    /// then takes them as a batch (the figures: BENCHMARKS.md). A
    /// request/reply exchange never has more than one message in flight, so it does not back off
    /// (past once, see ``StreamingRun``) and keeps the cache-line round-trip latency.
    mutating func waitForMessage(deadline: Deadline) -> ChannelControl.WaitOutcome {
        var streaming = streamingRun.isRun(taken: takenSinceWait) && waitStrategy != .block
        if streaming {
            // A client that does its own work between receives can take several replies without
            // waiting; they are not a stream unless they came at a stream's pace.
            let elapsed = Deadline.now.uptimeNanoseconds &- secondTakenAt
            streaming = elapsed <= UInt64(takenSinceWait - 1) &* streamingPaceNanoseconds
        }
        takenSinceWait = 0
        streamingRun.record(backingOff: streaming)
        if streaming { streamingBackoffs += 1 }
        let ring = self.ring
        let head = self.head
        return ChannelControl.wait(
            on: ring.control.notEmpty, strategy: waitStrategy, deadline: deadline, backoff: streaming
        ) {
            ring.hasMessage(forConsumerAt: head) || ring.isClosedAndDrained(forConsumerAt: head)
        }
    }
}
