import Synchronization

/// Waits, in one thread, for any of several sources: channels and topics becoming readable or
/// writable, events, semaphores, notifications of your own, deadlines and intervals.
///
/// ```swift
/// var set = WaitSet()
/// let jobs = set.add(readable: jobReceiver)
/// let ticks = set.add(interval: .milliseconds(10))
/// while true {
///     let fired = set.wait()
///     if fired.contains(jobs) { while let job = try jobReceiver.receive(timeout: .zero) { handle(job) } }
///     if fired.count(of: ticks) > 1 { print("missed \(fired.count(of: ticks) - 1) ticks") }
/// }
/// ```
///
/// A wait checks every source first and returns at once, without a system call, when one is
/// ready. Otherwise it announces itself as a sleeper on every source's wake word, checks them
/// again, and sleeps on all the words at once with one `futex_waitv` (Linux 5.16 and later);
/// the senders, publishers and setters wake it as they wake their own blocked peers. While
/// nothing happens it uses no CPU: no timer wakes it while its peers' exits are watched. See
/// <doc:WaitingOnManySources> for what each source reports, the fallback where `futex_waitv` is
/// missing, and how a dead peer is found.
///
/// ## Level and counted sources
/// A channel, topic or manual-reset event is reported while it is ready (count 1) and stays
/// ready until you act on it, so nothing is lost if you act on part of it. A notifier, an
/// interval, an auto-reset event and a semaphore are counted: the wait set consumes what it
/// reports (the notifications, the periods, the event's set, one unit of the semaphore), and the
/// count says how many.
///
/// ## Handles
/// The wait set keeps what it needs of each source (its mapping and wake words) alive itself, so
/// dropping a receiver or subscriber it watches is safe; a dropped handle's source simply stays
/// as it was left (``remove(_:)`` it). Readiness checks of topic endpoints read the handle's
/// positions: wait on the thread that receives from them, never while another thread uses them.
///
/// `~Copyable`: one owner waits on it, one wait at a time.
public struct WaitSet: ~Copyable, Sendable {
    /// Names a source added to a wait set.
    public struct Token: Hashable, Sendable, CustomStringConvertible {
        let id: Int
        /// The token's number within its wait set.
        public var description: String { "WaitSet.Token(\(id))" }
    }

    /// One source that fired, and how many times.
    public struct Fired: Hashable, Sendable {
        /// The source.
        public let token: Token
        /// 1 for a level source (ready now); for a counted source, what it reports: the
        /// notifications since the last report, the periods that passed (more than one means
        /// `count - 1` missed deadlines), 1 for an event's set or a semaphore's unit.
        public let count: Int
    }

    /// The sources a wait reported, in the order they were added; empty when the timeout
    /// passed first.
    public struct FiredSources: RandomAccessCollection, Hashable, Sendable {
        let elements: [Fired]
        /// The position of the first source.
        public var startIndex: Int { elements.startIndex }
        /// The position past the last source.
        public var endIndex: Int { elements.endIndex }
        /// The source at `position`.
        public subscript(position: Int) -> Fired { elements[position] }
        /// Whether `token`'s source fired.
        public func contains(_ token: Token) -> Bool { elements.contains { $0.token == token } }
        /// How many times `token`'s source fired (0 if it did not).
        public func count(of token: Token) -> Int { elements.first { $0.token == token }?.count ?? 0 }
    }

    let core = Core()

    /// An empty wait set.
    public init() {}

    /// The number of sources.
    public var count: Int { core.entries.count }

    /// Adds a source described by `source`; the internal step behind every `add`.
    package mutating func add(_ source: WaitSource) -> Token { core.add(source) }

    /// Removes `token`'s source; a token that is not in the set is ignored.
    public mutating func remove(_ token: Token) { core.remove(token) }

    /// Waits until at least one source fires, or `timeout` passes (`nil`: as long as it takes).
    ///
    /// Returns at once, without a system call, when a source is ready already. A source whose
    /// peer died (a channel whose senders all died, a topic whose publishers are gone) is
    /// reported as the death is seen, so that its owner's next operation reports the error:
    /// within milliseconds when the peer's exit is watched (a pidfd), else within a second
    /// (see <doc:WaitingOnManySources>, "Dead peers and damaged segments").
    ///
    /// - Returns: the sources that fired, with their counts; empty if the timeout passed first.
    public mutating func wait(timeout: Duration? = nil) -> FiredSources {
        // Relaxed: only this thread waits; a stale flag from an async wait is cleared here.
        core.cancelled.store(false, ordering: .relaxed)
        return FiredSources(elements: core.wait(deadline: Deadline(timeout: timeout)))
    }

    /// How a wait sleeps when nothing is ready (for tests: forcing the fallback).
    package enum Mechanism: Sendable, Equatable {
        /// One `futex_waitv` on every word (watcher threads for words beyond its 128).
        case vectored
        /// Watcher threads, one per word, each in a plain futex wait: the fallback where
        /// `futex_waitv` is missing.
        case watchers
    }

    /// How this wait set sleeps: `.vectored` where the process found `futex_waitv` (asked once,
    /// see `Futex.hasVectoredWait`), until a call of its own reports `ENOSYS`.
    package var mechanism: Mechanism {
        get { core.mechanism }
        set { core.mechanism = newValue }
    }

    /// Whether this wait set watches its peers' exits (for tests: `false` stands for a kernel
    /// without pidfds, so every peer is checked every second instead).
    package var watchesPeerExits: Bool {
        get { core.peers.watchesExits }
        set {
            core.peers.watchesExits = newValue
            core.peers.isStale = true
        }
    }

    /// Whether some peer's exit cannot be watched, so that the peers are checked every second
    /// (for tests).
    package var hasUnwatchedPeers: Bool { core.peers.hasUnwatched }

    /// The processes whose exits this wait set watches now (for tests).
    package var watchedPeerCount: Int { core.peers.watchedCount }

    /// Watcher threads started by fallback sleeps, in this process (for tests).
    package static var watchersStarted: Int {
        // Relaxed: a statistic.
        Core.watchersStarted.load(ordering: .relaxed)
    }
}
