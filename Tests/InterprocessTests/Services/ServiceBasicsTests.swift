import Interprocess
import Synchronization
import Testing

/// In-process behaviour of services: routing, streams, requests without reply, timeouts,
/// limits, mismatches. The multi-process and crash cases are in
/// `MultiProcessTests/ServiceProcessTests.swift`.
@Suite struct ServiceBasicsTests {
    struct Query: BitwiseCopyable, Equatable {
        var client: UInt32
        var number: UInt32
    }
    struct Answer: BitwiseCopyable, Equatable {
        var client: UInt32
        var square: UInt64
    }

    /// The number asked for by `request` (which is dropped), or `nil` if there is none.
    func number(of request: consuming ServiceRequest<Query, Answer>?) -> UInt32? {
        guard let request else { return nil }
        return request.value.number
    }

    @Test func aRequestGetsItsResponse() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var server = try ServiceServer<Query, Answer>(named: name, configuration: ServiceConfiguration(), mode: .create)
        var client = try ServiceClient<Query, Answer>(named: name)
        var pending = try client.submit(Query(client: 1, number: 12))
        guard let request = try server.tryReceive() else {
            Issue.record("no request")
            return
        }
        let value = request.value
        #expect(value == Query(client: 1, number: 12))
        let expectsResponse = request.expectsResponse
        #expect(expectsResponse)
        try request.respond(Answer(client: 1, square: 144))
        #expect(try pending.next(timeout: .seconds(5)) == Answer(client: 1, square: 144))
        let finished = pending.isFinished
        #expect(finished)
        #expect(try pending.next() == nil)
        #expect(number(of: try server.tryReceive()) == nil)
    }

    @Test func aBlockingRequestIsAnsweredByAServerThread() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try ServiceServer<Query, Answer>(named: name, configuration: ServiceConfiguration(), mode: .create)
        let done = Flag()
        let thread = TestThread {
            guard var server = try? ServiceServer<Query, Answer>(named: name) else { return }
            while !done.isSet {
                guard let request = try? server.receive(timeout: .milliseconds(50)) else { continue }
                let q = request.value
                try? request.respond(Answer(client: q.client, square: UInt64(q.number) * UInt64(q.number)))
            }
        }
        defer {
            done.set()
            thread.join()
        }
        var client = try ServiceClient<Query, Answer>(named: name)
        for n in 0..<1000 as Range<UInt32> {
            #expect(
                try client.request(Query(client: 3, number: n), timeout: .seconds(5))
                    == Answer(client: 3, square: UInt64(n * n)))
        }
    }

    @Test func aStreamArrivesInOrderAndEnds() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var server = try ServiceServer<Query, Answer>(
            named: name, configuration: ServiceConfiguration(responseCapacity: 4), mode: .create)
        var client = try ServiceClient<Query, Answer>(named: name)
        var pending = try client.submit(Query(client: 0, number: 3))
        guard var request = try server.tryReceive() else {
            Issue.record("no request")
            return
        }
        for i in 0..<4 as Range<UInt64> { try request.yield(Answer(client: 0, square: i)) }
        // The ring is full: read one, then the server can go on.
        #expect(try pending.next() == Answer(client: 0, square: 0))
        try request.yield(Answer(client: 0, square: 4))
        #expect(try pending.next() == Answer(client: 0, square: 1))
        try request.finish()
        for i in 2..<5 as Range<UInt64> { #expect(try pending.next() == Answer(client: 0, square: i)) }
        #expect(try pending.next() == nil)
        let finished = pending.isFinished
        #expect(finished)
    }

    @Test func aRequestTakenAfterAWaitOutlivesItsServerHandle() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var client = try ServiceClient<Query, Answer>(
            named: name, configuration: ServiceConfiguration(maximumServers: 1), mode: .create)
        var server = try ServiceServer<Query, Answer>(named: name, waitStrategy: .spin)
        // Nothing waits yet: the server waits (and so takes its spare reference) before the
        // request comes.
        #expect(try number(of: server.receive(timeout: .milliseconds(20))) == nil)
        var pending = try client.submit(Query(client: 2, number: 7))
        guard let request = try server.receive(timeout: .seconds(5)) else {
            Issue.record("no request")
            return
        }
        server.close()
        // The request keeps its server core, its slot and the mapping alive.
        try request.respond(Answer(client: 2, square: 49))
        #expect(try pending.next(timeout: .seconds(5)) == Answer(client: 2, square: 49))
        // Now the slot is free again: a new server takes it (a service of one server).
        let next = try ServiceServer<Query, Answer>(named: name)
        next.close()
    }

    @Test func aServerThatWaitedAndClosedFreesItsSlot() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let configuration = ServiceConfiguration(maximumServers: 1)
        var first = try ServiceServer<Query, Answer>(named: name, configuration: configuration, mode: .create)
        for _ in 0..<3 { #expect(try number(of: first.receive(timeout: .milliseconds(5))) == nil) }
        first.close()
        // Its spare reference went with the handle: the core ended and gave its slot up.
        let second = try ServiceServer<Query, Answer>(named: name)
        second.close()
    }

    @Test func aRequestWithoutReplyIsHandledAndFreesItsSlot() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var server = try ServiceServer<Query, Answer>(
            named: name, configuration: ServiceConfiguration(requestsPerClient: 1), mode: .create)
        var client = try ServiceClient<Query, Answer>(named: name)
        #expect(try client.send(Query(client: 0, number: 1)))
        // Its one slot is taken until a server handled the request.
        #expect(try client.send(Query(client: 0, number: 2), timeout: .milliseconds(20)) == false)
        guard let request = try server.tryReceive() else {
            Issue.record("no request")
            return
        }
        let first = request.value.number
        #expect(first == 1)
        let expectsResponse = request.expectsResponse
        #expect(!expectsResponse)
        _ = consume request
        #expect(try client.send(Query(client: 0, number: 2), timeout: .seconds(5)))
        #expect(number(of: try server.tryReceive()) == 2)
    }

    @Test func aRequestNoServerTookIsWithdrawnAtItsTimeout() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var server = try ServiceServer<Query, Answer>(named: name, configuration: ServiceConfiguration(), mode: .create)
        var client = try ServiceClient<Query, Answer>(named: name)
        #expect(try client.request(Query(client: 0, number: 1), timeout: .milliseconds(20)) == nil)
        #expect(number(of: try server.tryReceive()) == nil)
    }

    @Test func aRequestTheClientGaveUpStopsTheServer() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var server = try ServiceServer<Query, Answer>(
            named: name, configuration: ServiceConfiguration(responseCapacity: 2), mode: .create)
        var client = try ServiceClient<Query, Answer>(named: name)
        var pending: PendingResponses<Answer>? = try client.submit(Query(client: 0, number: 1))
        guard var request = try server.tryReceive() else {
            Issue.record("no request")
            return
        }
        try request.yield(Answer(client: 0, square: 1))
        pending = nil
        #expect(throws: ServiceError.clientGone) { try request.yield(Answer(client: 0, square: 2)) }
        // The slot is recycled: the next request goes through.
        var next = try client.submit(Query(client: 0, number: 5))
        guard let second = try server.tryReceive() else {
            Issue.record("no second request")
            return
        }
        let asked = second.value.number
        #expect(asked == 5)
        try second.respond(Answer(client: 0, square: 25))
        #expect(try next.next(timeout: .seconds(5)) == Answer(client: 0, square: 25))
        _ = pending
    }

    @Test func aClientInTheSlotOfOneThatLeftUnreadResponsesIsAnswered() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var server = try ServiceServer<Query, Answer>(
            named: name,
            configuration: ServiceConfiguration(maximumClients: 1, requestsPerClient: 1, responseCapacity: 2),
            mode: .create)
        do {
            var first = try ServiceClient<Query, Answer>(named: name)
            let pending = try first.submit(Query(client: 1, number: 1))
            guard var request = try server.tryReceive() else {
                Issue.record("no request")
                return
            }
            try request.yield(Answer(client: 1, square: 1))
            try request.finish()
            _ = consume pending
        }
        // The successor takes the same slot, whose ring holds what nobody read.
        var second = try ServiceClient<Query, Answer>(named: name)
        var pending = try second.submit(Query(client: 2, number: 3))
        guard let request = try server.tryReceive() else {
            Issue.record("no request from the successor")
            return
        }
        try request.respond(Answer(client: 2, square: 9))
        #expect(try pending.next(timeout: .seconds(5)) == Answer(client: 2, square: 9))
    }

    @Test func aDroppedRequestReachesItsClient() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var server = try ServiceServer<Query, Answer>(named: name, configuration: ServiceConfiguration(), mode: .create)
        var client = try ServiceClient<Query, Answer>(named: name)
        var pending = try client.submit(Query(client: 0, number: 1))
        _ = try server.tryReceive()
        #expect(throws: ServiceError.requestDropped) { _ = try pending.next(timeout: .seconds(5)) }
        let finished = pending.isFinished
        #expect(finished)
    }

    @Test func everyRequestSlotInFlightIsALimit() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try ServiceServer<Query, Answer>(
            named: name, configuration: ServiceConfiguration(requestsPerClient: 2), mode: .create)
        var client = try ServiceClient<Query, Answer>(named: name)
        let first = try client.submit(Query(client: 0, number: 1))
        let second = try client.submit(Query(client: 0, number: 2))
        #expect(throws: ServiceError.requestLimitReached(maximum: 2)) {
            _ = try client.submit(Query(client: 0, number: 3))
        }
        _ = consume first
        _ = try client.submit(Query(client: 0, number: 3))
        _ = second
    }

    @Test func everyClientSlotTakenIsALimit() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try ServiceServer<Query, Answer>(
            named: name, configuration: ServiceConfiguration(maximumClients: 1), mode: .create)
        let client = try ServiceClient<Query, Answer>(named: name)
        #expect(throws: ServiceError.endpointLimitReached(.client, maximum: 1)) {
            _ = try ServiceClient<Query, Answer>(named: name)
        }
        _ = consume client
        _ = try ServiceClient<Query, Answer>(named: name)
    }

    @Test func anotherResponseTypeIsRefused() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try ServiceServer<Query, Answer>(named: name, configuration: ServiceConfiguration(), mode: .create)
        #expect {
            _ = try ServiceClient<Query, UInt64>(named: name)
        } throws: { error in
            guard case ServiceError.segment(.mismatch) = error else { return false }
            return true
        }
        #expect {
            _ = try ServiceClient<UInt64, Answer>(named: name)
        } throws: { error in
            guard case ServiceError.segment(.mismatch) = error else { return false }
            return true
        }
    }

    @Test func twoServersShareTheRequestsOfManyClients() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let configuration = ServiceConfiguration(maximumClients: 8, maximumServers: 2)
        _ = try ServiceServer<Query, Answer>(named: name, configuration: configuration, mode: .openOrCreate)
        let done = Flag()
        let handled = Counter()
        let servers = (0..<2).map { _ in
            TestThread {
                guard var server = try? ServiceServer<Query, Answer>(named: name) else { return }
                while !done.isSet {
                    guard let request = try? server.receive(timeout: .milliseconds(20)) else { continue }
                    let q = request.value
                    try? request.respond(Answer(client: q.client, square: UInt64(q.number) * UInt64(q.number)))
                    handled.increment()
                }
            }
        }
        let failures = Counter()
        onThreads(4) { c in
            guard var client = try? ServiceClient<Query, Answer>(named: name) else {
                failures.increment()
                return
            }
            for n in 0..<500 as Range<UInt32> {
                let answer = try? client.request(Query(client: UInt32(c), number: n), timeout: .seconds(10))
                if answer != Answer(client: UInt32(c), square: UInt64(n) * UInt64(n)) { failures.increment() }
            }
        }
        done.set()
        for server in servers { server.join() }
        #expect(failures.current == 0)
        #expect(handled.current == 2000)
    }
}

/// A flag set once, read from other threads.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
