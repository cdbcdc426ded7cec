/// Why a blackboard operation failed.
///
/// Timeouts are not errors: ``BlackboardReader/waitForChange(of:since:timeout:)-1kitt`` returns `nil`
/// when its deadline passes.
public enum BlackboardError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Another live process (or another handle of this one) holds the blackboard's writer role.
    case writerActive
    /// The blackboard has no key of that name (yet).
    case keyNotFound(String)
    /// The key exists with another value type; nothing was read or written.
    case typeMismatch(key: String, expected: ElementType, found: ElementType)
    /// The key's name is empty, too long or has a character outside the allowed set.
    case invalidKeyName(String, reason: String)
    /// The value type cannot be stored on a blackboard (its alignment is too large).
    case unsupportedValueType(ElementType, reason: String)
    /// The blackboard has its maximum of keys already.
    case keyCapacityReached(maximum: Int)
    /// The blackboard's value space has no room for another value of this size.
    case valueSpaceExhausted(needed: Int, available: Int)
    /// A key handle made by another reader or writer was used on this one.
    case foreignKey(String)
    /// The key's value changed during every attempt of a bounded number of consistent reads
    /// (a writer rewriting it without pause, or a hostile one).
    case valueUnstable(key: String, attempts: Int)
    /// The configuration cannot make a blackboard (the reason says which bound it breaks).
    case invalidConfiguration(String)
    /// The blackboard's shared state is inconsistent (overwritten, or written by a hostile process).
    case corrupt(String)
    /// The task was cancelled while an `async` call waited.
    case cancelled
    /// The blackboard could not be created or opened, or its segment was damaged while in use.
    case segment(SharedMemoryError)

    public var description: String {
        switch self {
        case .writerActive: "another live writer holds the blackboard's writer role"
        case let .keyNotFound(key): "the blackboard has no key '\(key)'"
        case let .typeMismatch(key, expected, found):
            "the key '\(key)' holds values of type \(found), not \(expected)"
        case let .invalidKeyName(key, reason): "invalid key name '\(key)': \(reason)"
        case let .unsupportedValueType(type, reason): "a blackboard cannot hold values of type \(type): \(reason)"
        case let .keyCapacityReached(maximum): "the blackboard has its maximum of \(maximum) keys"
        case let .valueSpaceExhausted(needed, available):
            "the blackboard's value space has \(available) bytes left, not the \(needed) a new key needs"
        case let .foreignKey(key): "the key handle '\(key)' belongs to another reader or writer"
        case let .valueUnstable(key, attempts):
            "the value of key '\(key)' changed during each of \(attempts) attempts to read it"
        case let .invalidConfiguration(reason): "invalid blackboard configuration: \(reason)"
        case let .corrupt(detail): "the blackboard's shared state is corrupt: \(detail)"
        case .cancelled: "the task was cancelled while the blackboard operation waited"
        case let .segment(error): error.description
        }
    }
}
