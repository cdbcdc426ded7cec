import Foundation
import Interprocess
import Testing

/// `shm ls` and `shm inspect` on topics: configuration, publishers and subscribers with
/// liveness, lag and missed counts.
@Suite struct TopicCommandTests {
    @Test func inspectShowsPublishersAndSubscribersWithLagAndMissed() throws {
        let name = ShmTool.uniqueName("topic")
        defer { try? SharedMemory.remove(named: name) }
        let configuration = TopicConfiguration(
            capacity: 4, maximumSubscribers: 3, maximumPublishers: 2, history: 1, overflow: .dropOldest)
        var publisher = try TopicPublisher<UInt64>(named: name, configuration: configuration, mode: .create)
        var first = try TopicSubscriber<UInt64>(named: name)
        let second = try TopicSubscriber<UInt64>(named: name)
        for i in 0..<10 as Range<UInt64> { try publisher.publish(i) }
        #expect(try first.tryReceive() == 6)

        let run = try ShmTool.run(["inspect", name, "--json"])
        #expect(run.status == 0, "\(run)")
        let object = try ShmTool.jsonResult(run.stdout, of: "inspect")
        #expect(object["channel"] is NSNull)
        let topic = try #require(object["topic"] as? [String: Any], "\(run)")
        #expect(topic["capacity"] as? Int == 4)
        #expect(topic["maximumSubscribers"] as? Int == 3)
        #expect(topic["maximumPublishers"] as? Int == 2)
        #expect(topic["history"] as? Int == 1)
        #expect(topic["overflow"] as? String == "drop-oldest")
        #expect(topic["maximumMessageSize"] as? Int == 8)
        #expect(topic["livePublishers"] as? Int == 1)
        #expect(topic["liveSubscribers"] as? Int == 2)
        let publishers = try #require(topic["publishers"] as? [[String: Any]])
        #expect(publishers.count == 1)
        #expect(publishers.first?["state"] as? String == "open")
        #expect(publishers.first?["alive"] as? Bool == true)
        #expect(publishers.first?["nextSequence"] as? Int == 10)
        let subscribers = try #require(topic["subscribers"] as? [[String: Any]])
        #expect(subscribers.compactMap { $0["slot"] as? Int } == [0, 1])
        #expect(subscribers.compactMap { $0["lag"] as? Int } == [3, 4])
        #expect(subscribers.compactMap { $0["missed"] as? Int } == [6, 6])
        #expect(subscribers.allSatisfy { $0["alive"] as? Bool == true && $0["active"] as? Bool == true })
        #expect(subscribers.allSatisfy { $0["state"] as? String == "active" })
        let live = try #require(object["liveRegistrations"] as? [String: Int])
        #expect(live["publisher"] == 1 && live["subscriber"] == 2)

        let human = try ShmTool.run(["inspect", name])
        #expect(human.status == 0, "\(human)")
        #expect(human.stdoutLines.contains { $0.hasPrefix("overflow:") && $0.contains("drop-oldest") }, "\(human)")
        #expect(
            human.stdoutLines.contains { $0.hasPrefix("publisher 0:") && $0.contains("open, alive, 10 published") },
            "\(human)")
        #expect(
            human.stdoutLines.contains {
                $0.hasPrefix("subscriber 0:") && $0.contains("active, alive, lag 3, missed 6")
            },
            "\(human)")
        #expect(
            human.stdoutLines.contains { $0.hasPrefix("subscriber 1:") && $0.contains("lag 4, missed 6") },
            "\(human)")

        let listing = try ShmTool.run(["ls"])
        let line = try #require(listing.stdoutLines.first { $0.hasPrefix(name + " ") }, "\(listing)")
        #expect(line.contains("topic") && line.contains("1 pub, 2 sub") && line.contains("4 × "), "\(line)")

        let listed = try ShmTool.jsonResult(try ShmTool.run(["ls", "--json"]).stdout, of: "ls")
        let entry = try #require((listed["objects"] as? [[String: Any]])?.first { $0["name"] as? String == name })
        #expect((entry["topic"] as? [String: Any])?["liveSubscribers"] as? Int == 2)
        second.close()
        first.close()
        publisher.close()
    }

    @Test func listShowsAByteTopicsMaximumMessage() throws {
        let name = ShmTool.uniqueName("bytetopic")
        defer { try? SharedMemory.remove(named: name) }
        let publisher = try ByteTopicPublisher(
            named: name, maximumMessageSize: 2048, configuration: TopicConfiguration(capacity: 8), mode: .create)
        let listing = try ShmTool.run(["ls"])
        let line = try #require(listing.stdoutLines.first { $0.hasPrefix(name + " ") }, "\(listing)")
        #expect(line.contains("byte-topic") && line.contains("8 × ≤ 2 KiB") && line.contains("1 pub, 0 sub"), "\(line)")
        publisher.close()
    }
}
