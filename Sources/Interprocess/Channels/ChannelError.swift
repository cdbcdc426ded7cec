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
    /// The task was cancelled while an `async` send or receive waited: the element was not sent,
    /// or no message was taken.
    case cancelled
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
        case let .messageTooLarge(size, maximum):
            "a \(size)-byte message exceeds the channel's maximum of \(maximum) bytes"
        case let .corrupt(detail): "the channel's shared state is corrupt: \(detail)"
        case let .topologyMismatch(expected, found): "the channel is \(found), not \(expected)"
        case .cancelled: "the task was cancelled while the channel operation waited"
        case let .segment(error): error.description
        }
    }
}
