import Synchronization

extension ServiceClient {
    /// Sends `request` and suspends (never blocking a cooperative thread) until its response
    /// comes; a request answered by a stream returns the stream's first response.
    /// - Throws: ``ServiceError/requestLimitReached(maximum:)``, ``ServiceError/serverDied``
    ///   (within a liveness interval, 100 ms, of the server's death), ``ServiceError/requestDropped``,
    ///   ``ServiceError/cancelled`` (the request is given up).
    public mutating func request(_ request: Request) async throws(ServiceError) -> Response {
        var pending = try submit(request)
        defer { if !pending.isFinished { pending.giveUp() } }
        guard let response = try await pending.next() else { throw .requestDropped }
        return response
    }
}

extension PendingResponses {
    /// The next response, suspending (never blocking a cooperative thread) until it comes.
    /// - Returns: the response, or `nil` at the end of the responses.
    /// - Throws: ``ServiceError/serverDied``, ``ServiceError/requestDropped``,
    ///   ``ServiceError/cancelled`` (the request stays in flight).
    public mutating func next() async throws(ServiceError) -> Response? {
        while !isFinished {
            if let response = try next(timeout: .zero) { return response }
            if isFinished { return nil }
            if Task.isCancelled { throw .cancelled }
            let core = self.core
            let k = index
            let outcome = await ChannelControl.waitAsync(
                on: core.service.responseWake(client: core.slot), strategy: waitStrategy
            ) {
                core.hasResponse(k)
            }
            if outcome != .ready {
                do { try core.checkClaim(k) } catch {
                    markFinished()
                    throw error
                }
            }
        }
        return nil
    }
}

extension ServiceServerCore {
    /// Waits for a request without blocking a cooperative thread.
    func waitForRequestAsync(strategy: WaitStrategy) async throws(ServiceError) -> ChannelControl.WaitOutcome {
        if Task.isCancelled { throw .cancelled }
        let outcome = await ChannelControl.waitAsync(on: service.requestWake, strategy: strategy) { self.hasPending() }
        if outcome != .ready {
            do { try service.segment.checkIntact() } catch { throw .segment(error) }
        }
        return outcome
    }
}

extension ServiceServer {
    /// Takes the next request, suspending (never blocking a cooperative thread) until one comes.
    /// - Throws: ``ServiceError/cancelled`` (nothing was taken).
    public mutating func receive() async throws(ServiceError) -> ServiceRequest<Request, Response> {
        while true {
            if let request = try tryReceive() { return request }
            core.stockSpareReference()
            if try await core.waitForRequestAsync(strategy: waitStrategy) != .ready {
                // Once per liveness interval, every slot: the bitmap is only a hint.
                if let request = try core.take(scanningEverySlot: true) {
                    return ServiceRequest(core: request, waitStrategy: waitStrategy)
                }
            }
        }
    }

    /// The requests as an `AsyncSequence` that never ends by itself (cancel the task that
    /// iterates it); it owns the server from then on.
    public consuming func requests() -> ServiceRequests<Request, Response> { ServiceRequests(server: self) }
}

/// The requests of a ``ServiceServer`` as an `AsyncSequence` of ``IncomingRequest``s.
///
/// Made by ``ServiceServer/requests()``, which consumes the server. Neither the sequence nor its
/// iterator is `Sendable`: every copy stays in one isolation domain, so `next()` calls never
/// overlap; each request can be handed to another task. Cancellation ends an iteration with
/// ``ServiceError/cancelled`` (no request is lost: one not taken stays for the next take).
public struct ServiceRequests<Request: BitwiseCopyable, Response: BitwiseCopyable>: AsyncSequence {
    public typealias Failure = ServiceError

    final class Box {
        var server: ServiceServer<Request, Response>
        init(server: consuming ServiceServer<Request, Response>) { self.server = server }
    }

    let box: Box

    init(server: consuming ServiceServer<Request, Response>) { box = Box(server: server) }

    public func makeAsyncIterator() -> Iterator { Iterator(box: box) }

    /// The iterator of ``ServiceRequests``; like the sequence, not `Sendable`.
    public struct Iterator: AsyncIteratorProtocol {
        public typealias Failure = ServiceError

        let box: Box

        /// The next request; runs in the caller's isolation.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(ServiceError)
            -> IncomingRequest<Request, Response>?
        {
            IncomingRequest(try await box.server.receive())
        }

        /// The next request.
        public mutating func next() async throws(ServiceError) -> IncomingRequest<Request, Response>? {
            try await next(isolation: nil)
        }
    }
}

@available(*, unavailable, message: "iterate a service's requests from one task; see ServiceRequests")
extension ServiceRequests: Sendable {}

@available(*, unavailable, message: "iterate a service's requests from one task; see ServiceRequests")
extension ServiceRequests.Iterator: Sendable {}

/// A request taken through ``ServiceRequests``: a reference that any task can answer once
/// (``respond(_:)``) or with a stream (``yield(_:)``, then ``finish()``). Released unanswered,
/// its client gets ``ServiceError/requestDropped``.
public final class IncomingRequest<Request: BitwiseCopyable, Response: BitwiseCopyable>: @unchecked Sendable {
    // @unchecked: `value` is bytes that came through shared memory from another process (a
    // `BitwiseCopyable` request carries nothing a thread could share by reference), and the
    // request itself is behind the mutex.
    /// The request.
    public let value: Request
    /// Whether the client waits for a response.
    public let expectsResponse: Bool
    private let request: Mutex<ServiceRequest<Request, Response>?>

    init(_ request: consuming ServiceRequest<Request, Response>) {
        value = request.value
        expectsResponse = request.expectsResponse
        self.request = Mutex(request)
    }

    /// Answers the request with its one (or last) response, suspending (never blocking a
    /// cooperative thread) while the client has not read earlier ones.
    /// - Throws: ``ServiceError/finished`` if it was answered; ``ServiceError/clientGone``;
    ///   ``ServiceError/cancelled`` (nothing was sent).
    public func respond(_ response: Response) async throws(ServiceError) {
        try await push(.last) { $0.initializeMemory(as: Response.self, to: response) }
    }

    /// Sends one response of a stream, suspending (never blocking a cooperative thread) while
    /// the client is ``ServiceConfiguration/responseCapacity`` responses behind.
    /// - Throws: ``ServiceError/finished``; ``ServiceError/clientGone``; ``ServiceError/cancelled``.
    public func yield(_ response: Response) async throws(ServiceError) {
        try await push(.more) { $0.initializeMemory(as: Response.self, to: response) }
    }

    /// Ends a stream of responses.
    /// - Throws: ``ServiceError/finished`` if it was answered; ``ServiceError/clientGone``;
    ///   ``ServiceError/cancelled``.
    public func finish() async throws(ServiceError) {
        try await push(.end) { _ in }
    }

    /// Pushes one entry when the ring has room: at once if it has, else after waits on an
    /// offload thread (each liveness slice checks that the client is alive).
    private func push(_ kind: ResponseKind, write: @escaping (UnsafeMutableRawPointer) -> Void)
        async throws(ServiceError)
    {
        var waited = false
        while true {
            let attempt = request.withLock {
                (held) -> Result<(Bool, WaiterGatedWake?, (@Sendable () -> Bool)?), ServiceError> in
                guard held != nil else { return .failure(.finished) }
                do throws(ServiceError) {
                    if waited && !held!.core.clientIsAlive {
                        held!.core.abandon()
                        held = nil
                        return .failure(.clientGone)
                    }
                    if try held!.core.tryPush(kind, write: write) {
                        if kind != .more { held = nil }
                        return .success((true, nil, nil))
                    }
                    let (wake, ready) = held!.core.roomWait
                    return .success((false, wake, ready))
                } catch {
                    held = nil
                    return .failure(error)
                }
            }
            let (pushed, wake, ready) = try attempt.get()
            if pushed { return }
            if Task.isCancelled { throw .cancelled }
            let outcome = await ChannelControl.waitAsync(on: wake!, strategy: .adaptive, ready!)
            waited = outcome != .ready
        }
    }
}
