import Foundation
import Interprocess
import Testing

/// `shm ls` and `shm inspect` on services: configuration, servers and clients with liveness,
/// and the requests waiting and in flight.
@Suite struct ServiceCommandTests {
    @Test func inspectShowsServersClientsAndRequestsInFlight() throws {
        let name = ShmTool.uniqueName("service")
        defer { try? SharedMemory.remove(named: name) }
        var server = try ServiceServer<UInt64, UInt64>(
            named: name,
            configuration: ServiceConfiguration(maximumClients: 4, maximumServers: 2, requestsPerClient: 3),
            mode: .create)
        var client = try ServiceClient<UInt64, UInt64>(named: name)
        let first = try client.submit(1)
        let second = try client.submit(2)
        // One taken (in flight), one waiting.
        let taken = try server.tryReceive()

        let run = try ShmTool.run(["inspect", name, "--json"])
        #expect(run.status == 0, "\(run)")
        let object = try ShmTool.jsonResult(run.stdout, of: "inspect")
        let service = try #require(object["service"] as? [String: Any], "\(run)")
        #expect(service["maximumClients"] as? Int == 4)
        #expect(service["maximumServers"] as? Int == 2)
        #expect(service["requestsPerClient"] as? Int == 3)
        #expect(service["liveServers"] as? Int == 1)
        #expect(service["liveClients"] as? Int == 1)
        #expect(service["waitingRequests"] as? Int == 1)
        #expect(service["requestsInFlight"] as? Int == 1)
        let servers = try #require(service["servers"] as? [[String: Any]])
        #expect(servers.count == 1 && servers.first?["inFlight"] as? Int == 1)
        let live = try #require(object["liveRegistrations"] as? [String: Int])
        #expect(live["server"] == 1 && live["client"] == 1)

        let human = try ShmTool.run(["inspect", name])
        #expect(human.status == 0, "\(human)")
        #expect(
            human.stdoutLines.contains { $0.hasPrefix("requests:") && $0.contains("1 waiting, 1 in flight") },
            "\(human)")
        #expect(human.stdoutLines.contains { $0.hasPrefix("client 0:") && $0.contains("active, alive") }, "\(human)")

        let list = try ShmTool.run(["ls"])
        #expect(
            list.stdoutLines.contains {
                $0.contains(name) && $0.contains("service") && $0.contains("1 server, 1 client")
            },
            "\(list)")
        _ = consume taken
        _ = consume first
        _ = consume second
    }
}
