/// Why a service operation failed.
public enum ServiceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The role an endpoint plays in a service.
    public enum Role: String, Sendable, Hashable {
        case client, server
    }

    /// The service's segment could not be created or opened, or is damaged.
    case segment(SharedMemoryError)
    /// The configuration is not valid (the reason says why).
    case invalidConfiguration(String)
    /// Every slot of `role` has a live endpoint.
    case endpointLimitReached(Role, maximum: Int)
    /// Every request slot of this client is in flight (``ServiceConfiguration/requestsPerClient``).
    case requestLimitReached(maximum: Int)
    /// The server handling the request died before it finished; what it sent before is kept.
    case serverDied
    /// The server dropped the request without finishing it.
    case requestDropped
    /// The client that sent the request is gone (died, left or gave the request up): nothing
    /// more can be sent for it.
    case clientGone
    /// The request was already finished.
    case finished
    /// The task waiting was cancelled (a request it waited for is given up).
    case cancelled
    /// The service's shared memory holds something no participant writes.
    case corrupt(String)

    public var description: String {
        switch self {
        case .segment(let error): "\(error)"
        case .invalidConfiguration(let reason): "invalid service configuration: \(reason)"
        case .endpointLimitReached(let role, let maximum):
            "every one of the service's \(maximum) \(role.rawValue) slots is taken"
        case .requestLimitReached(let maximum): "all \(maximum) request slots of this client are in flight"
        case .serverDied: "the server handling the request died"
        case .requestDropped: "the server dropped the request without finishing it"
        case .clientGone: "the client of the request is gone"
        case .finished: "the request is already finished"
        case .cancelled: "the wait was cancelled"
        case .corrupt(let detail): "the service's shared memory is corrupt: \(detail)"
        }
    }
}
