import Glibc
import Interprocess
import Testing

import InterprocessTestSupport

// Request-response with real processes: many clients against two servers, a server killed
// mid-request, a client killed mid-request, a server restarted. The roles the children play
// are in `Sources/InterprocessTestPeer/ServiceRoles.swift`; every client child checks that each
// response answers its own request.

extension Scenario {
    /// Creates the service named after the scenario with no endpoint left open.
    func makeService(_ configuration: ServiceConfiguration) throws {
        try ServiceServer<ServiceTestRequest, ServiceTestResponse>(
            named: name, configuration: configuration, mode: .create
        ).close()
    }
}

extension MultiProcessTests {
    @Suite struct ServiceProcesses {
        /// Eight client processes send 10 000 requests each to two server processes: every
        /// response answers its own request, and both servers take part.
        @Test func everyResponseReachesTheClientThatAsked() throws {
            let (clients, requests) = (8, 10_000)
            let scenario = Scenario("service-many")
            defer { scenario.removeAll() }
            try scenario.makeService(ServiceConfiguration(maximumClients: 8, maximumServers: 2))
            let servers = try (0..<2).map { try Peer("service-serve", scenario.name, "\($0)", "-1") }
            for server in servers { try server.waitFor("ready") }
            let children = try (0..<clients).map { try Peer("service-request", scenario.name, "\($0)", "\(requests)") }
            for child in children { try child.waitFor("ready") }
            for child in children { try child.tell("go") }
            var answeredBy: Set<String> = []
            for child in children {
                #expect(try child.waitFor("done", timeout: .seconds(300)) == "done \(requests)")
                let line = try child.waitFor("servers")
                for server in line.dropFirst("servers ".count).split(separator: ",") {
                    answeredBy.insert(String(server))
                }
                expectExitedNormally(child)
            }
            #expect(answeredBy == ["0", "1"])
            for server in servers { server.send(SIGKILL) }
        }

        /// A server killed while it holds a request: the waiting client hears `serverDied`
        /// within a fraction of a second (its timeout is 60 s), and a server started afterwards
        /// answers its next requests without any manual step.
        @Test func aServerKilledMidRequestFailsItsClientAtOnce() throws {
            let scenario = Scenario("service-server-death")
            defer { scenario.removeAll() }
            try scenario.makeService(ServiceConfiguration())
            let doomed = try Peer("service-serve", scenario.name, "0", "-1", "hold-at", "3")
            try doomed.waitFor("ready")
            let client = try Peer("service-request", scenario.name, "7", "10", "expect-death")
            try client.waitFor("ready")
            try client.tell("go")
            #expect(try doomed.waitFor("holding") == "holding 3")
            doomed.send(SIGKILL)
            let line = try client.waitFor("serverDied", timeout: .seconds(10))
            let words = line.split(separator: " ")
            #expect(words.count == 3 && words[1] == "2")
            if words.count == 3, let waited = Int(words[2]) { #expect(waited < 5_000, "\(line)") }
            let successor = try Peer("service-serve", scenario.name, "1", "-1")
            try successor.waitFor("ready")
            try client.tell("go")
            #expect(try client.waitFor("done", timeout: .seconds(60)) == "done 10")
            #expect(try client.waitFor("servers") == "servers 0,1")
            expectExitedNormally(client)
            successor.send(SIGKILL)
        }

        /// A client killed while a server streams responses to it (the ring full, the server
        /// waiting): the server's next response fails with `clientGone` and it goes on to answer
        /// another client.
        @Test func aClientKilledMidRequestNeverHoldsTheServer() throws {
            let scenario = Scenario("service-client-death")
            defer { scenario.removeAll() }
            try scenario.makeService(ServiceConfiguration(responseCapacity: 4))
            let server = try Peer("service-serve", scenario.name, "0", "2", "stream", "64")
            try server.waitFor("ready")
            let stalled = try Peer("service-stall", scenario.name, "1")
            try stalled.waitFor("submitted")
            stalled.send(SIGKILL)
            #expect(try server.waitFor("clientGone", timeout: .seconds(10)) == "clientGone 0")
            let client = try Peer("service-request", scenario.name, "2", "1")
            try client.waitFor("ready")
            try client.tell("go")
            // A stream answers the request; `request` takes its first response.
            #expect(try client.waitFor("done", timeout: .seconds(30)) == "done 1")
            expectExitedNormally(client)
            #expect(try server.waitFor("done", timeout: .seconds(30)) == "done 2")
            expectExitedNormally(server)
        }
    }
}
