import Synchronization

extension WaitSet {
    // MARK: - Channels

    /// Adds `receiver`'s channel, which fires while a message is ready (or the channel is closed
    /// and drained, so that the next receive reports it).
    ///
    /// Level-triggered: it fires on every wait until you take the messages. It also fires when
    /// every sender died and the channel is drained (with ``SenderDeathPolicy/report``; as the
    /// death is seen, then every liveness interval while it stays so), so that your next
    /// `receive(timeout:)` (a zero timeout will do; `tryReceive` does not check the senders)
    /// throws ``ChannelError/senderDied``.
    /// The wait set keeps the channel mapped; the receiver stays yours.
    @discardableResult
    public mutating func add<Element>(readable receiver: borrowing ChannelReceiver<Element>) -> Token {
        let ring = receiver.ring
        let reportsDeath = receiver.senderDeath == .report
        // SPSC: the single receiver releases every message it takes through `consumerIndex`, so
        // that word is its position whenever it is not inside a receive.
        let head = {
            ring.topology == .singleProducerSingleConsumer ? ring.spscConsumerStart() : 0
        }
        let ready = {
            let position = head()
            return ring.hasMessage(forConsumerAt: position) || ring.isClosedAndDrained(forConsumerAt: position)
        }
        let damage = DamageCheck(ring.segment)
        return add(
            .level(
                ring.control.notEmpty, keepAlive: ring,
                peerGone: {
                    if damage.isDamaged { return true }
                    guard reportsDeath else {
                        if ring.topology == .multiProducerMultiConsumer { ring.mpmcSkipAbandonedClaims() }
                        return false
                    }
                    guard !ring.hasMessage(forConsumerAt: head()) else { return false }
                    // MPMC, a dead sender's hole: the full diagnosis (the participant table too).
                    if ring.topology == .multiProducerMultiConsumer && ring.mpmcReceiverBlockedOnClaimedSlot() {
                        return ring.sendersDied()
                    }
                    return WaitSet.allGone(.sender, of: ring.segment, ring.control)
                }, peerSegment: ring.segment, ready: ready))
    }

    /// Adds `sender`'s channel, which fires while a message fits (or every receiver has closed,
    /// so that the next send reports it).
    ///
    /// Level-triggered. It also fires when the ring is full and every receiver died (as the
    /// death is seen, then every liveness interval), so that your send throws
    /// ``ChannelError/receiverDied``.
    @discardableResult
    public mutating func add<Element>(writable sender: borrowing ChannelSender<Element>) -> Token {
        let ring = sender.ring
        // SPSC: the end of what the single sender published is its position.
        let ready = {
            let tail = ring.topology == .singleProducerSingleConsumer ? ring.spscPublishedEnd() : 0
            return ring.hasSpace(forProducerAt: tail) || ring.control.receiversHaveClosed
        }
        let damage = DamageCheck(ring.segment)
        return add(
            .level(
                ring.control.notFull, keepAlive: ring,
                peerGone: {
                    if damage.isDamaged { return true }
                    guard !ready() else { return false }
                    if ring.topology == .multiProducerMultiConsumer && ring.mpmcSenderBlockedOnClaimedSlot() {
                        return ring.receiversDied()
                    }
                    return WaitSet.allGone(.receiver, of: ring.segment, ring.control)
                }, peerSegment: ring.segment, ready: ready))
    }

    /// Adds `receiver`'s byte channel, which fires while a message is ready (or the channel is
    /// closed); as ``add(readable:)-(ChannelReceiver<Element>)``, including a dead sender.
    @discardableResult
    public mutating func add(readable receiver: borrowing ByteChannelReceiver) -> Token {
        let ring = receiver.ring
        let reportsDeath = receiver.senderDeath == .report
        let control = ring.control
        // The receiver stores its head after every frame it takes, and the sender its tail after
        // every frame it publishes (a wrap marker only ever precedes a frame).
        let ready = {
            // Acquiring: as in `ByteChannelReceiver.claim`.
            control.producerIndex.pointee.load(ordering: .acquiring)
                // Relaxed: our own receiver's position; only compared.
                != control.consumerIndex.pointee.load(ordering: .relaxed)
                || control.closed.pointee.load(ordering: .acquiring) == 1
        }
        let damage = DamageCheck(ring.segment)
        return add(
            .level(
                control.notEmpty, keepAlive: ring,
                peerGone: {
                    if damage.isDamaged { return true }
                    guard reportsDeath, !ready() else { return false }
                    return WaitSet.allGone(.sender, of: ring.segment, control)
                }, peerSegment: ring.segment, ready: ready))
    }

    /// Adds `sender`'s byte channel, which fires while a message of `messageSize` bytes fits
    /// (default: the channel's maximum), or every receiver has closed.
    ///
    /// Level-triggered. It also fires when the receiver died (as the death is seen, then every
    /// liveness interval), so that your send throws ``ChannelError/receiverDied``.
    @discardableResult
    public mutating func add(writable sender: borrowing ByteChannelSender, messageSize: Int? = nil) -> Token {
        let ring = sender.ring
        let control = ring.control
        let frame = ByteRing.frameSize(min(max(messageSize ?? ring.maximumMessageSize, 0), ring.maximumMessageSize))
        let ready = {
            // The sender stores its tail after every frame; acquiring head: as in `claim`.
            // Relaxed: our own sender's position; only compared.
            let tail = control.producerIndex.pointee.load(ordering: .relaxed)
            let head = control.consumerIndex.pointee.load(ordering: .acquiring)
            let offset = Int(tail & ring.mask)
            let skip = ring.size - offset < frame ? ring.size - offset : 0
            return ring.freeBytes(tail: tail, head: head) >= UInt64(skip + frame) || control.receiversHaveClosed
        }
        let damage = DamageCheck(ring.segment)
        return add(
            .level(
                control.notFull, keepAlive: ring,
                peerGone: {
                    if damage.isDamaged { return true }
                    return !ready() && WaitSet.allGone(.receiver, of: ring.segment, control)
                }, peerSegment: ring.segment, ready: ready))
    }

    /// Whether participants of `role` opened the channel and none is alive: the check each
    /// channel source's peer check makes. No system call while nobody of the role
    /// ever opened (or while this process holds a registration of it), else one presence-lock
    /// query: any write lock in the role's range means a live participant (the participant
    /// table, which only the MPMC hole diagnosis needs, is not read).
    static func allGone(_ role: ParticipantRole, of segment: SharedMemory, _ control: ChannelControl) -> Bool {
        // Relaxed: a snapshot, repeated every interval (as in `ChannelPeers.allGone`).
        let open = (role == .sender ? control.openSenders : control.openReceivers).pointee.load(ordering: .relaxed)
        guard open > 0 else { return false }
        if segment.heldPresence.withLock({ $0.values.contains(role) }) { return false }
        let range = ObjectLocks.presenceRange(of: role)
        do {
            return try FileSystem.conflictingLock(
                segment.descriptor, write: false, start: range.start, length: range.length) == nil
        } catch {
            // A failing query proves nothing: report no death rather than a false one.
            return false
        }
    }

    /// A segment's damage check for a source's liveness closure: the full check (an `fstat`) at
    /// every call, which the wait set makes only when a peer exits, on its slow schedule, and
    /// every liveness interval for a source reported gone. A damage that a readiness check ran
    /// into (a `SIGBUS` the guard caught) answers without a system call.
    final class DamageCheck: @unchecked Sendable {
        private let segment: SharedMemory
        init(_ segment: SharedMemory) { self.segment = segment }
        var isDamaged: Bool { segment.isDamaged }
    }

    // MARK: - Topics

    /// Adds `subscriber`, which fires while a message is ready (or the topic is closed and
    /// drained).
    ///
    /// Level-triggered. It also fires when no publisher is alive, one died and nothing is left
    /// (as the death is seen, then every liveness interval), so that your receive throws
    /// ``TopicError/publisherDied``.
    /// The check reads the subscriber's positions: wait on the thread that receives from it.
    @discardableResult
    public mutating func add<Element>(readable subscriber: borrowing TopicSubscriber<Element>) -> Token {
        add(subscriberCore: subscriber.core)
    }

    /// Adds `subscriber`, as ``add(readable:)-(TopicSubscriber<Element>)``.
    @discardableResult
    public mutating func add(readable subscriber: borrowing ByteTopicSubscriber) -> Token {
        add(subscriberCore: subscriber.core)
    }

    private mutating func add(subscriberCore core: TopicSubscriberCore) -> Token {
        add(
            .level(
                core.notEmpty, keepAlive: core,
                peerGone: {
                    do throws(TopicError) {
                        try core.throwIfPublishersGone()
                        return false
                    } catch { return true }
                }, peerSegment: core.topic.segment, ready: { core.hasMessage() || core.isClosedAndDrained() }))
    }

    /// Adds `publisher`, which fires while a publish would not wait: always with
    /// ``TopicConfiguration/OverflowPolicy/dropOldest``, and with
    /// ``TopicConfiguration/OverflowPolicy/block`` while every live subscriber's queue has room.
    ///
    /// Level-triggered. When a subscriber's process exits (and on the wait set's slow
    /// schedule) the full subscribers' liveness is checked (a dead one stops counting, as in a
    /// blocked publish). The check updates the publisher's
    /// view of its subscribers: wait on the thread that publishes.
    @discardableResult
    public mutating func add<Element>(writable publisher: borrowing TopicPublisher<Element>) -> Token {
        add(publisherCore: publisher.core)
    }

    /// Adds `publisher`, as ``add(writable:)-(TopicPublisher<Element>)``.
    @discardableResult
    public mutating func add(writable publisher: borrowing ByteTopicPublisher) -> Token {
        add(publisherCore: publisher.core)
    }

    private mutating func add(publisherCore core: TopicPublisherCore) -> Token {
        add(
            .level(
                core.space, keepAlive: core,
                peerGone: {
                    if core.topic.segment.isDamaged { return true }
                    core.checkFullConnections()
                    return core.hasSpace()
                }, peerSegment: core.topic.segment, ready: { core.hasSpace() }))
    }

    // MARK: - Events and semaphores

    /// Adds `event`, which fires while it is set.
    ///
    /// A ``ProcessEvent/ResetMode/manual`` event is level-triggered: it fires on every wait
    /// until it is reset. An ``ProcessEvent/ResetMode/automatic`` event is counted: the wait set
    /// consumes the set as it reports it (count 1), exactly as a waiter of the event would.
    @discardableResult
    public mutating func add(_ event: ProcessEvent) -> Token {
        add(
            WaitSource(
                wakes: [event.gate], keepAlive: event.segment,
                check: { event.tryWait() ? 1 : 0 }))
    }

    /// Adds `semaphore`, which fires when the wait set took one of its units (count 1); the unit
    /// is yours then, to ``ProcessSemaphore/signal()`` back when done.
    @discardableResult
    public mutating func add(acquiring semaphore: ProcessSemaphore) -> Token {
        add(
            WaitSource(
                wakes: [semaphore.gate], keepAlive: semaphore.segment,
                check: { semaphore.tryWait() ? 1 : 0 }))
    }

    // MARK: - Blackboards and services

    /// Adds `key` of `reader`, which fires when the key's value changed since the wait set last
    /// reported it (or since it was added): count 1, however many writes came between. The key
    /// of a read-only reader is polled while the wait set sleeps, every 1 to 8 ms (such a
    /// reader cannot ask the writer for a wake-up; see <doc:Blackboard>, "Read-only readers").
    /// - Throws: ``BlackboardError/foreignKey(_:)`` if `key` is not `reader`'s.
    @discardableResult
    public mutating func add<Value>(changesOf key: BlackboardKey<Value>, in reader: BlackboardReader)
        throws(BlackboardError) -> Token
    {
        let wake = try reader.changeWake(of: key)
        let storage = reader.storage
        let slot = key.slot
        let seen = Counter(storage.currentVersion(slot))
        // A read-only reader's words cannot be announced on (a store): its key is polled
        // instead, the more slowly the longer it stays unchanged.
        let polled = reader.access == .readOnly
        let changedAt = Counter(Deadline.now.uptimeNanoseconds)
        return add(
            WaitSource(
                wakes: polled ? [] : [wake], keepAlive: reader,
                check: {
                    let version = storage.currentVersion(slot)
                    guard version != seen.value else { return 0 }
                    seen.value = version
                    if polled { changedAt.value = Deadline.now.uptimeNanoseconds }
                    return 1
                },
                nextDeadline: polled
                    ? {
                        let unchanged = Deadline.now.uptimeNanoseconds &- changedAt.value
                        return .after(
                            BlackboardReader.readOnlyPollInterval(
                                afterWaiting: .nanoseconds(Int64(clamping: unchanged))))
                    } : nil))
    }

    /// Adds `server`, which fires while a client may have a request waiting (level-triggered;
    /// take it with ``ServiceServer/tryReceive()``, which may find that another server took it
    /// first).
    @discardableResult
    public mutating func add<Request, Response>(requestsOf server: borrowing ServiceServer<Request, Response>) -> Token
    {
        let core = server.core
        return add(.level(core.service.requestWake, keepAlive: core, ready: { core.hasPending() }))
    }

    /// Adds `pending`, which fires while its next response is there to read (level-triggered).
    /// It also fires when the server handling the request died (as the death is seen, then every
    /// liveness interval), so that your next read throws ``ServiceError/serverDied``.
    @discardableResult
    public mutating func add<Response>(responsesOf pending: borrowing PendingResponses<Response>) -> Token {
        let core = pending.core
        let k = pending.index
        return add(
            .level(
                core.service.responseWake(client: core.slot), keepAlive: core,
                peerGone: { core.claimIsBroken(k) }, peerSegment: core.service.segment, ready: { core.hasResponse(k) }))
    }

    // MARK: - Notifications of your own

    /// Adds `notifier`, which fires after ``Notifier/notify()`` with the number of notifications
    /// since it last fired (counted: each is reported once).
    @discardableResult
    public mutating func add(_ notifier: Notifier) -> Token {
        let seen = Counter(UInt64(notifier.value))
        return add(
            WaitSource(
                wakes: [notifier.wake], keepAlive: notifier,
                check: {
                    let now = notifier.value
                    // Wrapping: the count is a sequence that wraps at 2^32.
                    let count = Int(now &- UInt32(truncatingIfNeeded: seen.value))
                    seen.value = UInt64(now)
                    return count
                }))
    }

    /// Adds a condition of yours: `condition` is checked at every wait (and after every wake-up)
    /// and the source fires while it holds (level-triggered). Whoever makes it true calls
    /// `notifier`'s ``Notifier/notify()`` afterwards, which wakes the wait.
    @discardableResult
    public mutating func add(condition: @escaping () -> Bool, signalledBy notifier: Notifier) -> Token {
        add(WaitSource(wakes: [notifier.wake], keepAlive: notifier, check: { condition() ? 1 : 0 }))
    }

    // MARK: - Time

    /// Adds a deadline `delay` from now: it fires once (count 1) when it passes, and never
    /// again.
    @discardableResult
    public mutating func add(deadlineAfter delay: Duration) -> Token {
        let deadline = Deadline.after(delay)
        let fired = Counter(0)
        return add(
            WaitSource(
                wakes: [], keepAlive: nil,
                check: {
                    guard fired.value == 0, deadline.hasPassed else { return 0 }
                    fired.value = 1
                    return 1
                }, nextDeadline: { fired.value == 0 ? deadline : nil }))
    }

    /// Adds an interval: it fires every `period` from now, with the number of periods that
    /// passed since it last fired; a count above 1 means `count - 1` deadlines were missed
    /// (the wait set did not wait, or woke late, for that long). The schedule never drifts: the
    /// k-th deadline is k periods after the add.
    ///
    /// - Precondition: `period` is positive.
    @discardableResult
    public mutating func add(interval period: Duration) -> Token {
        precondition(period > .zero, "an interval's period must be positive")
        let nanoseconds = UInt64(max(1, period / .nanoseconds(1)))
        let next = Counter(Deadline.now.uptimeNanoseconds &+ nanoseconds)
        return add(
            WaitSource(
                wakes: [], keepAlive: nil,
                check: {
                    let now = Deadline.now.uptimeNanoseconds
                    guard now >= next.value else { return 0 }
                    let periods = (now - next.value) / nanoseconds + 1
                    next.value &+= periods &* nanoseconds
                    return Int(clamping: periods)
                }, nextDeadline: { Deadline(uptimeNanoseconds: next.value) }))
    }

    /// A mutable number shared by a source's closures (they run on the waiting thread only).
    final class Counter: @unchecked Sendable {
        var value: UInt64
        init(_ value: UInt64) { self.value = value }
    }
}
