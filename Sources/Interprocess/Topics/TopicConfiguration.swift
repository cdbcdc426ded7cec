/// How a topic is built: fixed when it is created, recorded in its header, checked by every
/// opener.
///
/// ```swift
/// let configuration = TopicConfiguration(
///     capacity: 64, maximumSubscribers: 8, history: 4, overflow: .dropOldest)
/// ```
///
/// Every bound is the creator's choice; nothing else is fixed. The shared memory a topic needs
/// grows with them: each publisher owns a pool of
/// `maximumSubscribers × (capacity + maximumHeldSamples + history) + history + maximumLoans + 1 + capacity`
/// message slots (enough that no subscriber, live, slow, stopped or dead, can ever keep a
/// publisher from finding a free slot), and one queue of `capacity` entries per subscriber.
public struct TopicConfiguration: Sendable, Hashable, CustomStringConvertible {
    /// What a publisher does when a subscriber's queue is full.
    public enum OverflowPolicy: UInt32, Sendable, Hashable, CustomStringConvertible {
        /// Lossless: the publisher waits (with its ``WaitStrategy`` and timeout) until every live
        /// subscriber has room. A subscriber that dies stops counting once it is detected (its
        /// lock is checked after the first millisecond of a wait on its full queue, then every
        /// 100 ms).
        case block = 0
        /// The publisher never waits: a subscriber whose queue is full loses its oldest message,
        /// and learns exactly how many it missed
        /// (``TopicSubscriber/missedMessages``, ``TopicSubscriber/Sample/missedBefore``).
        case dropOldest = 1

        public var description: String {
            switch self {
            case .block: "block"
            case .dropOldest: "drop-oldest"
            }
        }
    }

    /// The messages a subscriber's queue holds (a power of two).
    public var capacity: Int
    /// The most subscribers open at once.
    public var maximumSubscribers: Int
    /// The most publishers open at once.
    public var maximumPublishers: Int
    /// The messages of each publisher a subscriber receives when it joins: the last `history`
    /// it published (at most `capacity`).
    public var history: Int
    /// What a publisher does when a subscriber's queue is full.
    public var overflow: OverflowPolicy
    /// The samples (``TopicSubscriber/Sample``) a subscriber may hold at once (1 to 64).
    public var maximumHeldSamples: Int
    /// The loans (``TopicPublisher/Loan``) a publisher may hold at once (1 to 64).
    public var maximumLoans: Int

    /// A configuration.
    ///
    /// - Parameters:
    ///   - capacity: the messages each subscriber's queue holds, a power of two.
    ///   - maximumSubscribers: the most subscribers open at once (default 8).
    ///   - maximumPublishers: the most publishers open at once (default 1).
    ///   - history: the messages of each publisher delivered to a subscriber that joins
    ///     (default 0, at most `capacity`).
    ///   - overflow: what a publisher does when a queue is full (default ``OverflowPolicy/block``).
    ///   - maximumHeldSamples: the samples a subscriber may hold at once (default 2).
    ///   - maximumLoans: the loans a publisher may hold at once (default 2).
    public init(
        capacity: Int, maximumSubscribers: Int = 8, maximumPublishers: Int = 1, history: Int = 0,
        overflow: OverflowPolicy = .block, maximumHeldSamples: Int = 2, maximumLoans: Int = 2
    ) {
        self.capacity = capacity
        self.maximumSubscribers = maximumSubscribers
        self.maximumPublishers = maximumPublishers
        self.history = history
        self.overflow = overflow
        self.maximumHeldSamples = maximumHeldSamples
        self.maximumLoans = maximumLoans
    }

    public var description: String {
        "capacity \(capacity), \(maximumSubscribers) subscribers, \(maximumPublishers) publishers, history \(history), "
            + "\(overflow), \(maximumHeldSamples) held samples, \(maximumLoans) loans"
    }

    /// Why the configuration cannot make a topic, or `nil` if it can.
    var problem: String? {
        if capacity < 1 || capacity > TopicGeometry.maximumCapacity || capacity & (capacity - 1) != 0 {
            return "a topic's capacity is a power of two in 1...\(TopicGeometry.maximumCapacity)"
        }
        if maximumSubscribers < 1 || maximumSubscribers > TopicGeometry.maximumEndpoints {
            return "a topic has 1...\(TopicGeometry.maximumEndpoints) subscribers"
        }
        if maximumPublishers < 1 || maximumPublishers > TopicGeometry.maximumEndpoints {
            return "a topic has 1...\(TopicGeometry.maximumEndpoints) publishers"
        }
        if history < 0 || history > capacity { return "a topic's history is 0...capacity (\(capacity))" }
        if maximumHeldSamples < 1 || maximumHeldSamples > 64 { return "a subscriber holds 1...64 samples" }
        if maximumLoans < 1 || maximumLoans > 64 { return "a publisher holds 1...64 loans" }
        return nil
    }
}
