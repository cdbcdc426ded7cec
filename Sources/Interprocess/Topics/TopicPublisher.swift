import SystemPackage

/// The publishing side of a typed publish-subscribe topic: every message goes to every
/// subscriber.
///
/// ```swift
/// var publisher = try TopicPublisher<Reading>(
///     named: "sensors", configuration: TopicConfiguration(capacity: 64, history: 8))
/// try publisher.publish(Reading(sensor: 1, value: 20.5))
/// ```
///
/// A publisher owns one of the topic's publisher slots (``TopicConfiguration/maximumPublishers``)
/// while it is open; each publisher's messages reach every subscriber in the order it published
/// them. It is `~Copyable` because it owns that slot, and `Sendable`: move it to the thread that
/// publishes (or guard it with a `Mutex` to share it).
///
/// With ``TopicConfiguration/OverflowPolicy/block`` a publish waits while a live subscriber's
/// queue is full (a subscriber that died stops counting once that is detected: its lock is checked
/// after the first millisecond of a wait on its full queue, then every 100 ms); with ``TopicConfiguration/OverflowPolicy/dropOldest`` it never
/// waits. Either way a message is written once, in shared memory, whatever the number of
/// subscribers; a ``Loan`` lets you write it there in place.
///
/// See <doc:PublishSubscribe>.
public struct TopicPublisher<Element: BitwiseCopyable>: ~Copyable, Sendable {
    @usableFromInline let core: TopicPublisherCore

    /// How a blocked publish waits for space.
    public var waitStrategy: WaitStrategy

    /// The topic's configuration.
    public var configuration: TopicConfiguration { core.topic.geometry.configuration }
    /// The topic's segment.
    public var segment: SharedMemory { core.topic.segment }
    /// The subscribers this publisher delivers to (a snapshot, as of its last publish).
    public var subscriberCount: Int { core.liveConnectionCount }

    /// Opens (or creates) the topic `name` as a publisher.
    ///
    /// - Parameters:
    ///   - name: the topic's name.
    ///   - configuration: required to create; checked when opening (`nil` accepts the existing
    ///     topic's).
    ///   - mode: create, open, or either.
    ///   - permissions: the file mode of a new topic (default `0600`).
    ///   - lifetime: how long a new topic's name lives (default ``SharedMemory/Lifetime/persistent``).
    ///   - owners: the owners of an existing topic this open accepts (default: only the current
    ///     user).
    ///   - waitStrategy: how blocked publishes wait (default ``WaitStrategy/adaptive``).
    ///   - timeout: how long to wait for a topic another process is still initialising.
    /// - Throws: ``TopicError``; ``TopicError/endpointLimitReached(_:maximum:)`` when every
    ///   publisher slot has a live publisher.
    public init(
        named name: String, configuration: TopicConfiguration? = nil, mode: SharedMemory.OpenMode = .openOrCreate,
        permissions: FilePermissions = [.ownerRead, .ownerWrite], lifetime: SharedMemory.Lifetime = .persistent,
        owners: SharedMemory.OwnerPolicy = .currentUser, waitStrategy: WaitStrategy = .adaptive,
        timeout: Duration = .seconds(5)
    ) throws(TopicError) {
        let topic = try TopicSegment.openTyped(
            Element.self, name: name, configuration: configuration, mode: mode, permissions: permissions,
            lifetime: lifetime, owners: owners, timeout: timeout)
        self.core = try TopicPublisherCore(topic: topic)
        self.waitStrategy = waitStrategy
    }

    // MARK: - Publishing

    /// Publishes `element` to every subscriber if none is full (or the policy drops), without
    /// waiting.
    /// - Returns: whether it was published (`false`: a live subscriber's queue is full).
    @inlinable
    public mutating func tryPublish(_ element: Element) throws(TopicError) -> Bool {
        // Inlinable so the copy specialises for `Element` in the caller.
        guard let address = try core.claimForPublish() else { return false }
        address.storeBytes(of: element, as: Element.self)
        core.publishClaimed(length: MemoryLayout<Element>.size)
        return true
    }

    /// Publishes `element` to every subscriber, waiting at most `timeout` (`nil`: as long as it
    /// takes) while a live subscriber's queue is full.
    /// - Returns: `true` once published, `false` if the deadline passed first.
    @inlinable @discardableResult
    public mutating func publish(_ element: Element, timeout: Duration? = nil) throws(TopicError) -> Bool {
        if try tryPublish(element) { return true }
        // The clock is read only once a wait is needed.
        guard try core.waitForSpace(strategy: waitStrategy, deadline: Deadline(timeout: timeout)) else { return false }
        return try tryPublish(element)
    }

    /// Lends a free message slot to write in place; publish it with ``publish(_:timeout:)->TopicPublisher<Element>.Loan?``
    /// or drop it to give it back.
    ///
    /// - Throws: ``TopicError/loanLimitReached(maximum:)`` when ``TopicConfiguration/maximumLoans``
    ///   loans are out.
    public mutating func loan() throws(TopicError) -> Loan {
        guard let (index, x) = try core.loan() else {
            throw .loanLimitReached(maximum: core.topic.geometry.loans)
        }
        return Loan(core: core, index: index, address: core.chunk(x))
    }

    /// Publishes a loaned slot to every subscriber, waiting at most `timeout` while a live
    /// subscriber's queue is full.
    /// - Returns: `nil` once published; the loan back if the deadline passed first.
    public mutating func publish(_ loan: consuming Loan, timeout: Duration? = nil) throws(TopicError) -> Loan? {
        guard loan.core === core else { throw .corrupt("a loan published through another publisher") }
        guard try core.waitForSpace(strategy: waitStrategy, deadline: Deadline(timeout: timeout)) else { return loan }
        core.publishLoan(loan.index, length: MemoryLayout<Element>.size)
        loan.disarm()
        return nil
    }

    /// Creates the topic `name` without taking part in it (for a process that sets a topic up for
    /// others), and returns its segment.
    /// - Throws: ``TopicError``; ``SharedMemoryError/alreadyExists(name:)`` (as
    ///   ``TopicError/segment(_:)``) if the name is taken.
    @discardableResult
    public static func createTopic(
        named name: String, configuration: TopicConfiguration, permissions: FilePermissions = [.ownerRead, .ownerWrite],
        lifetime: SharedMemory.Lifetime = .persistent
    ) throws(TopicError) -> SharedMemory {
        try TopicSegment.openTyped(
            Element.self, name: name, configuration: configuration, mode: .create, permissions: permissions,
            lifetime: lifetime, owners: .currentUser, timeout: .zero
        ).segment
    }

    /// Leaves the topic: the slot is free for another publisher, and subscribers that have taken
    /// everything learn that the topic is ``TopicError/closed`` once no publisher is open.
    public consuming func close() {}

    deinit { core.end() }
}

extension TopicPublisher {
    /// A message slot lent by a publisher: write the message in place, then publish it with
    /// ``TopicPublisher/publish(_:timeout:)->TopicPublisher<Element>.Loan?``; dropping the loan gives the slot back
    /// unpublished.
    ///
    /// Nobody reads the slot until it is published, and a publisher that dies while it holds a
    /// loan publishes nothing of it.
    // @unchecked: the address is into the topic's mapping, which `core` keeps alive; the loan
    // owns that slot alone until it is published or dropped.
    public struct Loan: ~Copyable, @unchecked Sendable {
        let core: TopicPublisherCore
        let index: Int
        let address: UnsafeMutableRawPointer
        private var armed = true

        init(core: TopicPublisherCore, index: Int, address: UnsafeMutableRawPointer) {
            self.core = core
            self.index = index
            self.address = address
        }

        /// The message, read and written in place.
        public var value: Element {
            get { address.load(as: Element.self) }
            nonmutating set { address.storeBytes(of: newValue, as: Element.self) }
        }

        /// Calls `body` with the slot's memory, to write the message in place.
        public func withUnsafeMutablePointer<R, E: Error>(_ body: (UnsafeMutablePointer<Element>) throws(E) -> R)
            throws(E) -> R
        {
            try body(address.assumingMemoryBound(to: Element.self))
        }

        mutating func disarm() { armed = false }

        deinit {
            // Releasing: the publisher that collects the loan acquires it, after our writes.
            if armed { core.returnedLoans.bitwiseOr(1 << UInt64(index), ordering: .releasing) }
        }
    }
}
