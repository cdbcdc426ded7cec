import SystemPackage

/// A client of a request-response service: sends requests and receives the responses to them,
/// each routed to the request it answers.
///
/// ```swift
/// var client = try ServiceClient<Query, Answer>(named: "lookup")
/// if let answer = try client.request(Query(key: 7), timeout: .seconds(1)) { use(answer) }
/// ```
///
/// A request goes to whichever server takes it first. The client has up to
/// ``ServiceConfiguration/requestsPerClient`` requests in flight: one ``request(_:timeout:)`` at
/// a time, and any number of ``submit(_:)``ted ones whose ``PendingResponses`` are read on any
/// thread.
///
/// - A server that dies while it handles a request: the request fails with
///   ``ServiceError/serverDied`` within 10 milliseconds (its client checks the server that often), not
///   at the timeout. A request no server took yet waits for one (a restarted server takes it).
/// - A client that dies: servers stop writing to it at their next response; a new client in its
///   slot takes the slot over without manual steps.
public struct ServiceClient<Request: BitwiseCopyable, Response: BitwiseCopyable>: ~Copyable, Sendable {
    // The generic members are `@inlinable` wrappers around the core's non-generic ones: a
    // caller's specialised copy reads and writes the messages in place, with no generic
    // metadata looked up per request.
    @usableFromInline let core: ServiceClientCore
    /// How waits for responses wait.
    public let waitStrategy: WaitStrategy

    /// Opens (or creates) the service `name` as a client.
    ///
    /// - Parameters:
    ///   - name: the service's name.
    ///   - configuration: required to create; checked when opening (`nil` accepts the existing
    ///     service's).
    ///   - mode: create, open, or either.
    ///   - permissions: the file mode of a new service (default `0600`).
    ///   - lifetime: how long a new service's name lives.
    ///   - owners: the owners of an existing service this open accepts (default: only the
    ///     current user).
    ///   - waitStrategy: how waits for responses wait (default ``WaitStrategy/adaptive``).
    ///   - timeout: how long to wait for a service another process is still initialising.
    /// - Throws: ``ServiceError``; ``ServiceError/endpointLimitReached(_:maximum:)`` when every
    ///   client slot has a live client.
    public init(
        named name: String, configuration: ServiceConfiguration? = nil, mode: SharedMemory.OpenMode = .open,
        permissions: FilePermissions = [.ownerRead, .ownerWrite], lifetime: SharedMemory.Lifetime = .persistent,
        owners: SharedMemory.OwnerPolicy = .currentUser, waitStrategy: WaitStrategy = .adaptive,
        timeout: Duration = .seconds(5)
    ) throws(ServiceError) {
        let service = try ServiceSegment.open(
            Request.self, Response.self, name: name, configuration: configuration, mode: mode,
            permissions: permissions, lifetime: lifetime, owners: owners, timeout: timeout)
        core = try ServiceClientCore(service: service)
        self.waitStrategy = waitStrategy
    }

    /// Whether a server is open and alive now.
    public var hasServer: Bool { core.hasServer }

    /// Sends `request` and waits at most `timeout` (`nil`: as long as it takes) for its
    /// response. A request answered by a stream returns the stream's first response.
    /// - Returns: the response, or `nil` if the deadline passed first (the request is then
    ///   withdrawn, or cancelled if a server took it).
    /// - Throws: ``ServiceError/requestLimitReached(maximum:)`` when every request slot is in
    ///   flight; ``ServiceError/serverDied``; ``ServiceError/requestDropped``.
    @inlinable
    public mutating func request(_ request: Request, timeout: Duration? = nil) throws(ServiceError) -> Response? {
        try self.request(timeout: timeout) { $0.initialize(to: request) }
    }

    /// Sends a request written in place by `write` (into the request slot in shared memory: no
    /// copy) and waits at most `timeout` for its response, as ``request(_:timeout:)``.
    @inlinable
    public mutating func request(timeout: Duration? = nil, writing write: (UnsafeMutablePointer<Request>) -> Void)
        throws(ServiceError) -> Response?
    {
        guard let k = core.acquire() else { throw .requestLimitReached(maximum: core.requestLimit) }
        core.submit(k, noReply: false) { write($0.assumingMemoryBound(to: Request.self)) }
        var response: Response? = nil
        try core.first(k, strategy: waitStrategy, deadline: Deadline(timeout: timeout)) {
            response = $0.loadUnaligned(as: Response.self)
        }
        return response
    }

    /// Sends `request` and returns its responses as they come (one, or a stream).
    /// - Throws: ``ServiceError/requestLimitReached(maximum:)`` when every request slot is in
    ///   flight.
    @inlinable
    public mutating func submit(_ request: Request) throws(ServiceError) -> PendingResponses<Response> {
        try submit { $0.initialize(to: request) }
    }

    /// Sends a request written in place by `write` and returns its responses as they come.
    @inlinable
    public mutating func submit(writing write: (UnsafeMutablePointer<Request>) -> Void) throws(ServiceError)
        -> PendingResponses<Response>
    {
        guard let k = core.acquire() else { throw .requestLimitReached(maximum: core.requestLimit) }
        core.submit(k, noReply: false) { write($0.assumingMemoryBound(to: Request.self)) }
        return PendingResponses(core: core, index: k, waitStrategy: waitStrategy)
    }

    /// Sends `request` without waiting for a response (servers send none); waits at most
    /// `timeout` for a free request slot while earlier ones are still unhandled.
    /// - Returns: whether it was sent.
    @inlinable @discardableResult
    public mutating func send(_ request: Request, timeout: Duration? = nil) throws(ServiceError) -> Bool {
        guard let k = core.acquire() ?? core.acquire(strategy: waitStrategy, deadline: Deadline(timeout: timeout))
        else { return false }
        core.submit(k, noReply: true) { $0.initializeMemory(as: Request.self, to: request) }
        core.release(k)
        return true
    }

    /// Leaves the service (requests in flight are given up). Dropping the client does the same.
    public consuming func close() {}
}

/// The responses to one request, read as they come; given up (withdrawn or cancelled) if
/// dropped before its end.
public struct PendingResponses<Response: BitwiseCopyable>: ~Copyable, Sendable {
    @usableFromInline let core: ServiceClientCore
    @usableFromInline let index: Int
    @usableFromInline let waitStrategy: WaitStrategy
    @usableFromInline var finished = false

    /// Whether every response was read (the last one, or the end of a stream).
    @inlinable public var isFinished: Bool { finished }

    @inlinable
    init(core: ServiceClientCore, index: Int, waitStrategy: WaitStrategy) {
        self.core = core
        self.index = index
        self.waitStrategy = waitStrategy
    }

    /// The next response, waiting at most `timeout` (`nil`: as long as it takes).
    /// - Returns: the response; `nil` at the end of the responses (``isFinished``) or when the
    ///   deadline passed first (the request stays in flight).
    /// - Throws: ``ServiceError/serverDied``, ``ServiceError/requestDropped`` (the request is
    ///   over).
    @inlinable
    public mutating func next(timeout: Duration? = nil) throws(ServiceError) -> Response? {
        guard !finished else { return nil }
        var response: Response? = nil
        let outcome: ServiceClientCore.Next
        do {
            outcome = try core.next(index, strategy: waitStrategy, deadline: Deadline(timeout: timeout)) {
                response = $0.loadUnaligned(as: Response.self)
            }
        } catch {
            finished = true
            throw error
        }
        switch outcome {
        case .response(let last):
            if last { finished = true }
            return response
        case .end:
            finished = true
            return nil
        case .timedOut:
            return nil
        }
    }

    /// Gives the request up (withdrawn, or cancelled if a server took it).
    mutating func giveUp() {
        guard !finished else { return }
        core.abandon(index)
        finished = true
    }

    /// Marks the request over (its slot was released by the core).
    mutating func markFinished() { finished = true }

    deinit {
        if !finished { core.abandon(index) }
    }
}
