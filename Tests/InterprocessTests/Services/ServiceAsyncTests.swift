import Interprocess
import Testing

/// Services from Swift concurrency: async requests, a server iterating its requests, and
/// cancellation on both sides.
@Suite struct ServiceAsyncTests {
    func isSome(_ request: consuming ServiceRequest<UInt64, UInt64>?) -> Bool {
        guard request != nil else { return false }
        return true
    }

    @Test func anAsyncServerAnswersAsyncRequests() async throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        try ServiceServer<UInt64, UInt64>(named: name, configuration: ServiceConfiguration(), mode: .create).close()
        let serving = Task {
            let server = try ServiceServer<UInt64, UInt64>(named: name, mode: .open)
            for try await request in server.requests() {
                try await request.respond(request.value * 2)
            }
        }
        var client = try ServiceClient<UInt64, UInt64>(named: name)
        for n in 0..<200 as Range<UInt64> {
            #expect(try await client.request(n) == 2 * n)
        }
        serving.cancel()
        await #expect(throws: ServiceError.cancelled) { try await serving.value }
    }

    @Test func aStreamIsReadAsynchronously() async throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        try ServiceServer<UInt64, UInt64>(
            named: name, configuration: ServiceConfiguration(responseCapacity: 2), mode: .create
        ).close()
        let serving = Task {
            let server = try ServiceServer<UInt64, UInt64>(named: name, mode: .open)
            for try await request in server.requests() {
                for i in 0..<request.value { try await request.yield(i) }
                try await request.finish()
            }
        }
        var client = try ServiceClient<UInt64, UInt64>(named: name)
        var pending = try client.submit(10)
        var received: [UInt64] = []
        while let response = try await pending.next() { received.append(response) }
        #expect(received == Array(0..<10))
        serving.cancel()
    }

    @Test func aCancelledAsyncRequestIsWithdrawn() async throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var server = try ServiceServer<UInt64, UInt64>(
            named: name, configuration: ServiceConfiguration(), mode: .create)
        let asking = Task {
            var client = try ServiceClient<UInt64, UInt64>(named: name)
            return try await client.request(1)
        }
        try await Task.sleep(for: .milliseconds(20))
        asking.cancel()
        await #expect(throws: ServiceError.cancelled) { try await asking.value }
        // Withdrawn: no server ever sees it.
        #expect(try !isSome(server.tryReceive()))
    }
}
