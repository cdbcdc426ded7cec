import Glibc
import Testing

@testable import Interprocess

/// A wait set over blackboard keys and service endpoints: each fires when its object has
/// something for its owner, and not before.
@Suite struct WaitSetObjectSourceTests {
    @Test func aBlackboardKeyFiresOncePerChangeItReports() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var writer = try BlackboardWriter(named: name, configuration: BlackboardConfiguration(keyCapacity: 4))
        let speed = try writer.addKey("speed", as: Double.self, initialValue: 0)
        let reader = try BlackboardReader(named: name)
        let key = try reader.key("speed", as: Double.self)
        var set = WaitSet()
        let token = try set.add(changesOf: key, in: reader)
        #expect(set.wait(timeout: .milliseconds(10)).isEmpty)
        try writer.write(1.5, to: speed)
        try writer.write(2.5, to: speed)
        let fired = set.wait(timeout: .seconds(5))
        #expect(fired.count(of: token) == 1)
        // Reported: nothing new until the next write.
        #expect(set.wait(timeout: .milliseconds(10)).isEmpty)
        // A write while the wait set sleeps (from a successor writer on another thread) wakes it.
        _ = consume writer
        let wake = TestThread {
            usleep(20_000)
            guard var successor = try? BlackboardWriter(named: name) else { return }
            _ = try? successor.write(3.5, forKey: "speed")
        }
        #expect(set.wait(timeout: .seconds(5)).contains(token))
        wake.join()
    }

    @Test func aServerFiresWhileARequestWaitsAndAClientWhenItsResponseCame() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var server = try ServiceServer<UInt64, UInt64>(
            named: name, configuration: ServiceConfiguration(), mode: .create)
        var client = try ServiceClient<UInt64, UInt64>(named: name)
        var serverSet = WaitSet()
        let requests = serverSet.add(requestsOf: server)
        #expect(serverSet.wait(timeout: .milliseconds(10)).isEmpty)
        let pending = try client.submit(6)
        #expect(serverSet.wait(timeout: .seconds(5)).contains(requests))
        var clientSet = WaitSet()
        let responses = clientSet.add(responsesOf: pending)
        #expect(clientSet.wait(timeout: .milliseconds(10)).isEmpty)
        guard let request = try server.tryReceive() else {
            Issue.record("no request")
            return
        }
        try request.respond(36)
        #expect(clientSet.wait(timeout: .seconds(5)).contains(responses))
        var reading = pending
        #expect(try reading.next(timeout: .zero) == 36)
    }
}
