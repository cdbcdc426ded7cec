import Foundation
import Interprocess
import Testing

/// `shm ls` and `shm inspect` on blackboards: configuration, writer, keys with types and versions.
@Suite struct BlackboardCommandTests {
    @Test func inspectShowsKeysTypesVersionsAndTheWriter() throws {
        let name = ShmTool.uniqueName("blackboard")
        defer { try? SharedMemory.remove(named: name) }
        var writer = try BlackboardWriter(
            named: name, configuration: BlackboardConfiguration(keyCapacity: 4), mode: .create)
        try writer.addKey("speed", as: Double.self, initialValue: 1)
        try writer.write(2.0, forKey: "speed")
        try writer.addKey("gear", as: Int32.self)

        let run = try ShmTool.run(["inspect", name, "--json"])
        #expect(run.status == 0, "\(run)")
        let object = try ShmTool.jsonResult(run.stdout, of: "inspect")
        #expect((object["header"] as? [String: Any])?["kind"] as? String == "blackboard")
        let board = try #require(object["blackboard"] as? [String: Any], "\(run)")
        #expect(board["keyCapacity"] as? Int == 4)
        #expect(board["writer"] as? Bool == true)
        #expect(board["writerGeneration"] as? Int == 1)
        #expect(board["problem"] is NSNull)
        let keys = try #require(board["keys"] as? [[String: Any]])
        #expect(keys.compactMap { $0["name"] as? String } == ["speed", "gear"])
        #expect(keys.compactMap { $0["version"] as? Int } == [2, 0])
        #expect(
            keys.compactMap { ($0["type"] as? [String: Any])?["name"] as? String } == ["Swift.Double", "Swift.Int32"])

        let human = try ShmTool.run(["inspect", name])
        #expect(human.status == 0, "\(human)")
        #expect(human.stdoutLines.contains { $0.hasPrefix("keys:") && $0.contains("2 of 4") }, "\(human)")
        #expect(human.stdoutLines.contains { $0.hasPrefix("writer:") && $0.contains("alive") }, "\(human)")
        #expect(
            human.stdoutLines.contains {
                $0.hasPrefix("key speed:") && $0.contains("Swift.Double") && $0.contains("version 2")
            },
            "\(human)")

        writer.close()
        let listing = try ShmTool.run(["ls"])
        #expect(
            listing.stdoutLines.contains {
                $0.contains(name) && $0.contains("blackboard") && $0.contains("2 of 4 keys")
            }, "\(listing)")
        let listed = try ShmTool.jsonResult(try ShmTool.run(["ls", "--json"]).stdout, of: "ls")
        let entry = try #require((listed["objects"] as? [[String: Any]])?.first { $0["name"] as? String == name })
        #expect((entry["blackboard"] as? [String: Any])?["writer"] as? Bool == false)
    }
}
