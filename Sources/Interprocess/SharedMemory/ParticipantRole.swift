/// The role a participant declared when it registered with an object.
public struct ParticipantRole: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// A process that opened the object (every open registers one).
    public static let opener = ParticipantRole(rawValue: 1)
    /// The sending side of a channel.
    public static let sender = ParticipantRole(rawValue: 2)
    /// The receiving side of a channel.
    public static let receiver = ParticipantRole(rawValue: 3)
    /// A publisher of a topic.
    public static let publisher = ParticipantRole(rawValue: 4)
    /// A subscriber of a topic.
    public static let subscriber = ParticipantRole(rawValue: 5)
    /// A server of a request-response service.
    public static let server = ParticipantRole(rawValue: 6)
    /// A client of a request-response service.
    public static let client = ParticipantRole(rawValue: 7)

    public var description: String {
        switch self {
        case .opener: "opener"
        case .sender: "sender"
        case .receiver: "receiver"
        case .publisher: "publisher"
        case .subscriber: "subscriber"
        case .server: "server"
        case .client: "client"
        default: "role \(rawValue)"
        }
    }
}
