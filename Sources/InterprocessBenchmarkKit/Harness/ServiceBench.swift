import Interprocess

// The service rows of `shm bench`: the parent is a client, the child a server; a round trip is
// one request and its response, beside the SPSC channel's round trip (two channels, one each
// way) with the same wait strategy.

/// The client's side of a service round trip.
struct ServicePing: RoundTripPing, ~Copyable {
    var client: ServiceClient<UInt64, UInt64>

    @inline(__always)
    mutating func roundTrip(_ value: UInt64) throws -> UInt64 {
        guard let reply = try client.request(value) else { throw BenchFailure("no reply") }
        return reply
    }

    mutating func sendEnd() throws { _ = try client.request(BenchMarker.end) }
}

/// The server's side: answers every request with its value.
struct ServicePong: RoundTripPong, ~Copyable {
    var server: ServiceServer<UInt64, UInt64>

    mutating func echo() throws -> Bool {
        guard let request = try server.receive() else { throw BenchFailure("no request") }
        let value = request.value
        try request.respond(value)
        return value != BenchMarker.end
    }
}

extension BenchHarness {
    func runServiceParent(strategy: WaitStrategy, base: String, arguments: [String], into row: inout BenchRow) throws {
        BenchCleanup.shared.addSegment(base + ".service")
        // The service exists before the server child opens it; the client opens it after.
        try ServiceServer<UInt64, UInt64>(
            named: base + ".service", configuration: ServiceConfiguration(maximumClients: 1, maximumServers: 1),
            mode: .create
        ).close()
        let child = try BenchChild(self.child, arguments: arguments, input: nil, timeout: childTimeout)
        try child.waitUntilReady()
        var ping = ServicePing(
            client: try ServiceClient<UInt64, UInt64>(named: base + ".service", waitStrategy: strategy))
        var samples = try timeRoundTrips(&ping, timings)
        try child.finish()
        row.rtt = LatencySummary(samples: &samples)
    }

    static func runServiceChild(strategy: WaitStrategy, base: String) throws {
        var pong = ServicePong(
            server: try ServiceServer<UInt64, UInt64>(named: base + ".service", mode: .open, waitStrategy: strategy))
        ChildReport.ready()
        try echoRoundTrips(&pong)
    }
}
