/// What a shared-memory segment holds, recorded in its header and checked on open.
///
/// An open set of values (a raw value a newer version writes is still representable), so a
/// segment of a kind this version does not know is reported as a mismatch, not a crash.
public struct ObjectKind: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Untyped bytes laid out by the user (``SharedMemory``).
    public static let segment = ObjectKind(rawValue: 1)
    /// A named ``ProcessMutex``.
    public static let mutex = ObjectKind(rawValue: 2)
    /// A named ``ProcessCondition``.
    public static let condition = ObjectKind(rawValue: 3)
    /// A named ``ProcessSemaphore``.
    public static let semaphore = ObjectKind(rawValue: 4)
    /// A named ``ProcessEvent``.
    public static let event = ObjectKind(rawValue: 5)
    /// A ``SharedArray``.
    public static let array = ObjectKind(rawValue: 6)
    /// A typed message channel.
    public static let channel = ObjectKind(rawValue: 7)
    /// A byte-message channel.
    public static let byteChannel = ObjectKind(rawValue: 8)
    /// A typed publish-subscribe topic.
    public static let topic = ObjectKind(rawValue: 9)
    /// A byte-message publish-subscribe topic.
    public static let byteTopic = ObjectKind(rawValue: 10)
    /// A blackboard: named keys, each with the latest value of its type (``BlackboardWriter``).
    public static let blackboard = ObjectKind(rawValue: 11)
    /// A request-response service.
    public static let service = ObjectKind(rawValue: 12)

    /// The layout version of this kind's payload that this build reads and writes, recorded in
    /// every object's header; opening an object of another version fails with
    /// ``SharedMemoryError/HeaderProblem/unsupportedKindLayoutVersion(kind:found:supported:)``.
    ///
    /// A change of one kind's payload layout (a channel's control words or slots, a byte
    /// channel's frames) bumps that kind's version only. Every kind was at version 1 when the
    /// header started recording it (header layout version 3); a condition is at version 2 (its
    /// waiter word moved to offset 8 and carries the wake-ups sent, see ``ProcessCondition``).
    /// A kind this build does not know has version 0 (such an object is refused as a kind
    /// mismatch before its version counts).
    public var layoutVersion: UInt32 {
        switch self {
        case .condition: 2
        case .segment, .mutex, .semaphore, .event, .array, .channel, .byteChannel, .topic, .byteTopic, .blackboard,
            .service:
            1
        default: 0
        }
    }

    public var description: String {
        switch self {
        case .segment: "segment"
        case .mutex: "mutex"
        case .condition: "condition"
        case .semaphore: "semaphore"
        case .event: "event"
        case .array: "array"
        case .channel: "channel"
        case .byteChannel: "byte-channel"
        case .topic: "topic"
        case .byteTopic: "byte-topic"
        case .blackboard: "blackboard"
        case .service: "service"
        default: "unknown kind \(rawValue)"
        }
    }
}
