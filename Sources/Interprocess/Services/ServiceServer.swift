import SystemPackage

/// A server of a request-response service: takes requests and responds to each.
///
/// ```swift
/// var server = try ServiceServer<Query, Answer>(named: "lookup", configuration: .init(), mode: .create)
/// while let request = try server.receive() {
///     try request.respond(answer(to: request.value))
/// }
/// ```
///
/// Several servers share a service's requests: each request is taken by exactly one. A
/// ``ServiceRequest`` is answered by one response (``ServiceRequest/respond(_:)``), a stream
/// (``ServiceRequest/yield(_:)`` then ``ServiceRequest/finish()``), or nothing for a request sent
/// without reply; dropped unanswered, its client gets ``ServiceError/requestDropped``.
///
/// A client that dies or gives up never holds a server: a response to a request its client gave
/// up fails with ``ServiceError/clientGone`` at once; responses to a dead client fill its ring,
/// and a server waiting for it to read finds it dead within a millisecond.
public struct ServiceServer<Request: BitwiseCopyable, Response: BitwiseCopyable>: ~Copyable, Sendable {
    // The generic members are `@inlinable` wrappers around the core's non-generic ones (see
    // `ServiceClient`).
    @usableFromInline let core: ServiceServerCore
    /// How waits for requests (and for a client to read a stream) wait.
    public let waitStrategy: WaitStrategy

    /// Opens or creates the service `name` as a server.
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
    ///   - waitStrategy: how waits wait (default ``WaitStrategy/adaptive``).
    ///   - timeout: how long to wait for a service another process is still initialising.
    /// - Throws: ``ServiceError``; ``ServiceError/endpointLimitReached(_:maximum:)`` when every
    ///   server slot has a live server.
    public init(
        named name: String, configuration: ServiceConfiguration? = nil, mode: SharedMemory.OpenMode = .openOrCreate,
        permissions: FilePermissions = [.ownerRead, .ownerWrite], lifetime: SharedMemory.Lifetime = .persistent,
        owners: SharedMemory.OwnerPolicy = .currentUser, waitStrategy: WaitStrategy = .adaptive,
        timeout: Duration = .seconds(5)
    ) throws(ServiceError) {
        let service = try ServiceSegment.open(
            Request.self, Response.self, name: name, configuration: configuration, mode: mode,
            permissions: permissions, lifetime: lifetime, owners: owners, timeout: timeout)
        core = try ServiceServerCore(service: service)
        self.waitStrategy = waitStrategy
    }

    /// Takes the next request if one is waiting.
    @inlinable
    public mutating func tryReceive() throws(ServiceError) -> ServiceRequest<Request, Response>? {
        guard let request = try core.take() else { return nil }
        return ServiceRequest(core: request, waitStrategy: waitStrategy)
    }

    /// Takes the next request, waiting at most `timeout` (`nil`: as long as it takes).
    /// - Returns: the request, or `nil` if the deadline passed first.
    @inlinable
    public mutating func receive(timeout: Duration? = nil) throws(ServiceError) -> ServiceRequest<Request, Response>? {
        if let request = try core.take() { return ServiceRequest(core: request, waitStrategy: waitStrategy) }
        guard let request = try core.receive(strategy: waitStrategy, deadline: Deadline(timeout: timeout)) else {
            return nil
        }
        return ServiceRequest(core: request, waitStrategy: waitStrategy)
    }

    /// Closes the server; requests taken and not answered yet stay answerable.
    public consuming func close() {}

    deinit { core.dropSpareReference() }
}

/// A request a server took: read it, then respond once, stream responses, or (for a request
/// sent without reply) just drop it when done.
public struct ServiceRequest<Request: BitwiseCopyable, Response: BitwiseCopyable>: ~Copyable, Sendable {
    @usableFromInline var core: ServiceRequestCore
    @usableFromInline let waitStrategy: WaitStrategy

    @inlinable
    init(core: consuming ServiceRequestCore, waitStrategy: WaitStrategy) {
        self.core = core
        self.waitStrategy = waitStrategy
    }

    deinit {
        core.dropIfUnfinished()
        core.releaseServer()
    }

    /// The request (a copy of the bytes in shared memory).
    @inlinable
    public var value: Request { core.request.loadUnaligned(as: Request.self) }

    /// Reads the request in place in shared memory, without copying it. `body` must not keep
    /// the pointer.
    @inlinable
    public func withUnsafeRequest<R, E: Error>(_ body: (UnsafePointer<Request>) throws(E) -> R) throws(E) -> R {
        try body(core.request.assumingMemoryBound(to: Request.self))
    }

    /// Whether the client waits for a response (`false`: it was sent without reply).
    @inlinable
    public var expectsResponse: Bool { core.expectsResponse }

    /// Answers the request with its one (or last) response.
    /// - Throws: ``ServiceError/clientGone`` if the client died, left or gave the request up.
    @inlinable
    public consuming func respond(_ response: Response) throws(ServiceError) {
        try core.push(.last, strategy: waitStrategy) { $0.initializeMemory(as: Response.self, to: response) }
    }

    /// Answers with a response written in place by `write` (into the response entry in shared
    /// memory: no copy).
    @inlinable
    public consuming func respond(writing write: (UnsafeMutablePointer<Response>) -> Void) throws(ServiceError) {
        try core.push(.last, strategy: waitStrategy) { write($0.assumingMemoryBound(to: Response.self)) }
    }

    /// Sends one response of a stream; waits while the client has not read
    /// ``ServiceConfiguration/responseCapacity`` earlier ones.
    /// - Throws: ``ServiceError/clientGone`` if the client died, left or gave the request up.
    @inlinable
    public mutating func yield(_ response: Response) throws(ServiceError) {
        try core.push(.more, strategy: waitStrategy) { $0.initializeMemory(as: Response.self, to: response) }
    }

    /// Ends a stream of responses.
    @inlinable
    public consuming func finish() throws(ServiceError) {
        try core.push(.end, strategy: waitStrategy) { _ in }
    }
}
