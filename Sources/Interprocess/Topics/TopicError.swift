/// Why a topic operation failed.
///
/// Timeouts are not errors: the blocking calls return `nil` or `false` when their deadline
/// passes.
public enum TopicError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Every publisher that opened the topic closed it, and the subscriber received every message
    /// they published to it. A publisher that opens later reopens the topic.
    case closed
    /// Every publisher that opened the topic is gone and at least one died (killed, crashed)
    /// without closing it; every message published completely was received. A message a
    /// publisher was writing when it died is never delivered, whole or in part.
    case publisherDied
    /// The topic has its maximum of live publishers (or subscribers) already.
    case endpointLimitReached(ParticipantRole, maximum: Int)
    /// The publisher holds its maximum of loans already.
    case loanLimitReached(maximum: Int)
    /// The subscriber holds its maximum of samples already.
    case sampleLimitReached(maximum: Int)
    /// A byte message is larger than the topic's maximum message size.
    case messageTooLarge(size: Int, maximum: Int)
    /// The configuration cannot make a topic (the reason says which bound it breaks).
    case invalidConfiguration(String)
    /// The topic's shared state is inconsistent (overwritten, or written by a hostile process).
    case corrupt(String)
    /// The task was cancelled while an `async` call waited: nothing was published or taken.
    case cancelled
    /// The topic could not be created or opened, or its segment was damaged while in use.
    case segment(SharedMemoryError)

    public var description: String {
        switch self {
        case .closed: "every publisher closed the topic and every message was received"
        case .publisherDied: "every publisher of the topic is gone and at least one died without closing it"
        case let .endpointLimitReached(role, maximum): "the topic has its maximum of \(maximum) live \(role)s"
        case let .loanLimitReached(maximum): "the publisher holds its maximum of \(maximum) loans"
        case let .sampleLimitReached(maximum): "the subscriber holds its maximum of \(maximum) samples"
        case let .messageTooLarge(size, maximum):
            "a \(size)-byte message exceeds the topic's maximum of \(maximum) bytes"
        case let .invalidConfiguration(reason): "invalid topic configuration: \(reason)"
        case let .corrupt(detail): "the topic's shared state is corrupt: \(detail)"
        case .cancelled: "the task was cancelled while the topic operation waited"
        case let .segment(error): error.description
        }
    }
}
