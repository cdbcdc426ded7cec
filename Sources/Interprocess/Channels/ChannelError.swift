/// Why a channel operation failed.
///
/// Timeouts are not errors: the blocking calls return `nil` or `false` when their deadline
/// passes.
public enum ChannelError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Every sender closed the channel and every message sent before has been received.
    case closed
    /// Every sender died (killed, crashed) without closing the channel; every message they
    /// published completely has been received. A message a sender was writing when it died is
    /// never delivered, whole or in part.
    case senderDied
    /// The channel is full and every receiver died without closing it.
    case receiverDied
    /// The channel is full and every receiver closed it (cleanly), none having opened it since:
    /// nothing would make room. The messages in the channel stay there for a receiver that opens
    /// it later; while there is room, sends still succeed (as receivers still take the messages
    /// left in a channel whose senders closed).
    case receiversClosed
    /// The topology allows one sender (or receiver), and a live one is registered already.
    case roleTaken(ParticipantRole)
    /// A byte message is larger than the channel's maximum message size.
    case messageTooLarge(size: Int, maximum: Int)
    /// The channel's shared state is inconsistent (overwritten, or written by a hostile
    /// process); it cannot be used.
    case corrupt(String)
    /// The channel exists with another topology than the one asked for.
    case topologyMismatch(expected: ChannelTopology, found: ChannelTopology)
    /// The channel could not be created or opened, or its segment was damaged while in use
    /// (``SharedMemoryError/damaged(name:)``, thrown by blocked calls at a liveness check).
    case segment(SharedMemoryError)

    public var description: String {
        switch self {
        case .closed: "the channel is closed and drained"
        case .senderDied: "every sender died without closing the channel"
        case .receiverDied: "the channel is full and every receiver died"
        case .receiversClosed: "the channel is full and every receiver closed it"
        case let .roleTaken(role): "the channel already has a live \(role)"
        case let .messageTooLarge(size, maximum): "a \(size)-byte message exceeds the channel's maximum of \(maximum) bytes"
        case let .corrupt(detail): "the channel's shared state is corrupt: \(detail)"
        case let .topologyMismatch(expected, found): "the channel is \(found), not \(expected)"
        case let .segment(error): error.description
        }
    }
}

/// How a blocked channel operation waits for the other side.
///
/// The polling strategies (``spin`` and ``adaptive``) tell a request/reply exchange from a
/// stream. A receiver that took several messages since its last wait, at a stream's pace (under
/// 250 ns each), is keeping up with a stream; a sender that sent several since its last wait
/// and finds the ring full is feeding one. Either stays off the ring for 2 µs before it polls
/// again, so that the other side fills (or frees) a batch of slots without fighting over cache
/// lines. With one message in flight at a time this never happens, and a round trip costs what
/// the cache lines cost.
public enum WaitStrategy: Sendable, Hashable {
    /// Poll continuously: the lowest latency, one busy core per waiting side.
    case spin
    /// Sleep in the kernel (futex) at once: no CPU while waiting, a kernel wake-up per wait.
    case block
    /// Poll briefly, then sleep. While traffic flows the sides stay awake (spin latency); when
    /// it stops they sleep (no CPU). The default.
    case adaptive
}

/// What a receiver does when every sender died without closing the channel.
///
/// Either way the receiver first takes every message the dead senders published completely; a
/// message a sender was writing when it died is never delivered. The choice is what happens
/// then.
public enum SenderDeathPolicy: Sendable, Hashable {
    /// Report it: once the channel is drained, receives throw ``ChannelError/senderDied``. The
    /// default.
    case report
    /// Wait for a successor: a dead sender is not an error. Receives keep waiting, within their
    /// timeout, until a sender opens the channel again, and continue with its messages after
    /// the last message the dead senders published completely (nothing lost, nothing
    /// delivered twice). With ``ChannelTopology/multiProducerMultiConsumer`` the receivers also
    /// step over the slots dead senders claimed and never published, once it is certain that
    /// nobody alive can still publish them. A channel closed by its senders still ends in
    /// ``ChannelError/closed``.
    case awaitSuccessor
}

/// Which sides of a channel may have more than one participant.
public enum ChannelTopology: UInt32, Sendable, Hashable, CustomStringConvertible {
    /// One sender, one receiver: the fastest ring (no atomic read-modify-write on the fast path).
    case singleProducerSingleConsumer = 1
    /// Any number of senders and receivers; each sender's messages arrive in its own order.
    case multiProducerMultiConsumer = 2

    public var description: String {
        switch self {
        case .singleProducerSingleConsumer: "spsc"
        case .multiProducerMultiConsumer: "mpmc"
        }
    }
}
