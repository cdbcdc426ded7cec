import Testing

@testable import Interprocess

/// The examples of the Blackboard article and of the writer's and reader's documentation, run.
@Suite struct BlackboardDocumentationTests {
    struct Pose: BitwiseCopyable, StablyNamed {
        static let stableName = "example.Pose.v1"
        var x: Double, y: Double, heading: Double
    }

    @Test func blackboardOverview() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var writer = try BlackboardWriter(named: name, configuration: BlackboardConfiguration(keyCapacity: 64))
        let pose = try writer.addKey("pose", as: Pose.self)
        let speed = try writer.addKey("speed", as: Double.self, initialValue: 0)
        try writer.write(Pose(x: 1, y: 2, heading: 0.5), to: pose)
        try writer.write(12.5, to: speed)

        let reader = try BlackboardReader(named: name)
        let current = try reader.value(forKey: "speed", as: Double.self)
        #expect(current == 12.5)
        let poseKey = try reader.key("pose", as: Pose.self)
        let latest = try #require(try reader.read(poseKey))
        #expect(latest.value.heading == 0.5 && latest.version == 1)
        #expect(try reader.waitForChange(of: poseKey, since: latest.version, timeout: .milliseconds(10)) == nil)
    }
}
