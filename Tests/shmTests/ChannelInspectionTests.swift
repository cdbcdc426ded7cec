import Foundation
import Interprocess
import Testing

/// `shm inspect` and `shm ls` on channels: capacity, depth, senders and receivers with liveness.
@Suite struct ChannelInspectionTests {
    @Test func inspectShowsChannelState() throws {
        let name = ShmTool.uniqueName("chan")
        defer { try? SharedMemory.remove(named: name) }
        var sender = try ChannelSender<Int>(named: name, capacity: 16, topology: .multiProducerMultiConsumer)
        let receiver = try ChannelReceiver<Int>(named: name)
        for i in 0..<3 { _ = try sender.trySend(i) }

        let run = try ShmTool.run(["inspect", name, "--json"])
        #expect(run.status == 0, "\(run)")
        let object = try ShmTool.jsonResult(run.stdout, of: "inspect")
        let channel = try #require(object["channel"] as? [String: Any], "\(run)")
        #expect(channel["topology"] as? String == "mpmc")
        #expect(channel["capacity"] as? Int == 16)
        #expect(channel["depth"] as? Int == 3)
        #expect(channel["liveSenders"] as? Int == 1)
        #expect(channel["liveReceivers"] as? Int == 1)
        #expect(channel["closed"] as? Bool == false)
        let participants = try #require(object["participants"] as? [[String: Any]], "\(run)")
        #expect(Set(participants.compactMap { $0["role"] as? String }) == ["sender", "receiver"])
        #expect(
            participants.allSatisfy {
                $0["alive"] as? Bool == true && $0["pid"] as? Int == Int(ProcessIdentity.current.pid)
            })

        let human = try ShmTool.run(["inspect", name])
        #expect(human.stdoutLines.contains { $0.hasPrefix("depth:") && $0.contains("3 of 16 messages") }, "\(human)")
        #expect(human.stdoutLines.contains { $0.hasPrefix("senders:") && $0.contains("1 live") }, "\(human)")

        let listing = try ShmTool.run(["ls"])
        let line = try #require(listing.stdoutLines.first { $0.hasPrefix(name + " ") }, "\(listing)")
        #expect(line.contains("channel") && line.contains("2 live"), "\(line)")
        sender.close()
        receiver.close()
    }
}
