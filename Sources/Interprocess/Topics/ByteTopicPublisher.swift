import SystemPackage

/// The publishing side of a publish-subscribe topic of byte messages of varying size, up to a
/// maximum fixed when the topic is created.
///
/// ```swift
/// var publisher = try ByteTopicPublisher(
///     named: "frames", maximumMessageSize: 1 << 20, configuration: TopicConfiguration(capacity: 8))
/// try publisher.publish([0x01, 0x02, 0x03])
/// ```
///
/// Everything ``TopicPublisher`` says holds here too; each message is written once, in shared
/// memory, and a ``Loan`` of up to ``maximumMessageSize`` bytes lets you write it there in place.
public struct ByteTopicPublisher: ~Copyable, Sendable {
    let core: TopicPublisherCore

    /// How a blocked publish waits for space.
    public var waitStrategy: WaitStrategy

    /// The topic's configuration.
    public var configuration: TopicConfiguration { core.topic.geometry.configuration }
    /// The largest message, in bytes.
    public var maximumMessageSize: Int { core.topic.geometry.maximumMessageSize }
    /// The topic's segment.
    public var segment: SharedMemory { core.topic.segment }

    /// Opens (or creates) the byte topic `name` as a publisher.
    ///
    /// - Parameters:
    ///   - name: the topic's name.
    ///   - maximumMessageSize: the largest message, in bytes (up to 2³⁰); required to create,
    ///     checked when opening (`nil` accepts the existing topic's).
    ///   - configuration: required to create; checked when opening (`nil` accepts the existing
    ///     topic's).
    ///   - mode: create, open, or either.
    ///   - permissions: the file mode of a new topic (default `0600`).
    ///   - lifetime: how long a new topic's name lives.
    ///   - owners: the owners of an existing topic this open accepts.
    ///   - waitStrategy: how blocked publishes wait.
    ///   - timeout: how long to wait for a topic another process is still initialising.
    /// - Throws: ``TopicError``.
    public init(
        named name: String, maximumMessageSize: Int? = nil, configuration: TopicConfiguration? = nil,
        mode: SharedMemory.OpenMode = .openOrCreate, permissions: FilePermissions = [.ownerRead, .ownerWrite],
        lifetime: SharedMemory.Lifetime = .persistent, owners: SharedMemory.OwnerPolicy = .currentUser,
        waitStrategy: WaitStrategy = .adaptive, timeout: Duration = .seconds(5)
    ) throws(TopicError) {
        let topic = try TopicSegment.openBytes(
            name: name, maximumMessageSize: maximumMessageSize, configuration: configuration, mode: mode,
            permissions: permissions, lifetime: lifetime, owners: owners, timeout: timeout)
        self.core = try TopicPublisherCore(topic: topic)
        self.waitStrategy = waitStrategy
    }

    /// Publishes `bytes` to every subscriber, waiting at most `timeout` while a live subscriber's
    /// queue is full.
    /// - Returns: `true` once published, `false` if the deadline passed first.
    /// - Throws: ``TopicError/messageTooLarge(size:maximum:)``.
    @discardableResult
    public mutating func publish(_ bytes: UnsafeRawBufferPointer, timeout: Duration? = nil) throws(TopicError) -> Bool {
        guard bytes.count <= maximumMessageSize else {
            throw .messageTooLarge(size: bytes.count, maximum: maximumMessageSize)
        }
        guard try core.waitForSpace(strategy: waitStrategy, deadline: Deadline(timeout: timeout)) else { return false }
        let x = try core.takeChunk()
        if let source = bytes.baseAddress { core.chunk(x).copyMemory(from: source, byteCount: bytes.count) }
        core.publish(chunk: x, length: bytes.count)
        return true
    }

    /// Publishes `bytes` (see ``publish(_:timeout:)-(UnsafeRawBufferPointer,_)``).
    @discardableResult
    public mutating func publish(_ bytes: [UInt8], timeout: Duration? = nil) throws(TopicError) -> Bool {
        // Array's `withUnsafeBytes` rethrows untyped errors: carry ours through a Result.
        var result: Result<Bool, TopicError> = .success(false)
        bytes.withUnsafeBytes { raw in
            do throws(TopicError) { result = .success(try publish(raw, timeout: timeout)) } catch {
                result = .failure(error)
            }
        }
        return try result.get()
    }

    /// Lends a free message slot of ``maximumMessageSize`` bytes to write in place.
    /// - Throws: ``TopicError/loanLimitReached(maximum:)``.
    public mutating func loan() throws(TopicError) -> Loan {
        guard let (index, x) = try core.loan() else {
            throw .loanLimitReached(maximum: core.topic.geometry.loans)
        }
        return Loan(core: core, index: index, address: core.chunk(x), capacity: maximumMessageSize)
    }

    /// Publishes the first `count` bytes of a loaned slot, waiting at most `timeout` while a live
    /// subscriber's queue is full.
    /// - Returns: `nil` once published; the loan back if the deadline passed first.
    public mutating func publish(_ loan: consuming Loan, count: Int, timeout: Duration? = nil) throws(TopicError)
        -> Loan?
    {
        guard loan.core === core else { throw .corrupt("a loan published through another publisher") }
        guard count >= 0, count <= maximumMessageSize else {
            throw .messageTooLarge(size: count, maximum: maximumMessageSize)
        }
        guard try core.waitForSpace(strategy: waitStrategy, deadline: Deadline(timeout: timeout)) else { return loan }
        core.publishLoan(loan.index, length: count)
        loan.disarm()
        return nil
    }

    /// Creates the byte topic `name` without taking part in it, and returns its segment (see
    /// ``TopicPublisher/createTopic(named:configuration:permissions:lifetime:)``).
    @discardableResult
    public static func createTopic(
        named name: String, maximumMessageSize: Int, configuration: TopicConfiguration,
        permissions: FilePermissions = [.ownerRead, .ownerWrite], lifetime: SharedMemory.Lifetime = .persistent
    ) throws(TopicError) -> SharedMemory {
        try TopicSegment.openBytes(
            name: name, maximumMessageSize: maximumMessageSize, configuration: configuration, mode: .create,
            permissions: permissions, lifetime: lifetime, owners: .currentUser, timeout: .zero
        ).segment
    }

    /// Leaves the topic (see ``TopicPublisher/close()``).
    public consuming func close() {}

    deinit { core.end() }

    /// A message slot of a byte topic lent by its publisher (see ``TopicPublisher/Loan``).
    // @unchecked: the address is into the topic's mapping, which `core` keeps alive; the loan
    // owns that slot alone until it is published or dropped.
    public struct Loan: ~Copyable, @unchecked Sendable {
        let core: TopicPublisherCore
        let index: Int
        let address: UnsafeMutableRawPointer
        /// The slot's size: the topic's maximum message size.
        public let capacity: Int
        private var armed = true

        init(core: TopicPublisherCore, index: Int, address: UnsafeMutableRawPointer, capacity: Int) {
            self.core = core
            self.index = index
            self.address = address
            self.capacity = capacity
        }

        /// Calls `body` with the slot's ``capacity`` bytes, to write the message in place.
        public func withUnsafeMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R)
            throws(E) -> R
        {
            try body(UnsafeMutableRawBufferPointer(start: address, count: capacity))
        }

        mutating func disarm() { armed = false }

        deinit {
            // Releasing: the publisher that collects the loan acquires it, after our writes.
            if armed { core.returnedLoans.bitwiseOr(1 << UInt64(index), ordering: .releasing) }
        }
    }
}
