import Interprocess
import Testing

/// This module's own declaration of the reading the test peer sends as its `PeerReading`: the
/// same stable name and layout in another module of another executable.
struct TestReading: StablyNamed, Equatable {
    static let stableName = "interprocess.tests.Reading.v1"
    var sequence: UInt64
    var celsius: Double
}

/// The same layout without a stable name: identified by its module-qualified name.
struct UnnamedReading: Equatable {
    var sequence: UInt64
    var celsius: Double
}

extension MultiProcessTests {
    /// Two separately built programs share a channel through a stable type name: the child
    /// (the test peer executable) sends its own `PeerReading`, this process receives its own
    /// `TestReading`.
    @Suite struct StableIdentity {
        @Test func aChannelIsSharedAcrossExecutablesByStableName() throws {
            let scenario = Scenario("stable-name")
            defer { scenario.removeAll() }
            var receiver = try ChannelReceiver<TestReading>(named: scenario.name, capacity: 64, mode: .create)
            let producer = try Peer("stable-produce", scenario.name, "100")
            try producer.waitFor("opened")
            for sequence in 0..<UInt64(100) {
                let reading = try receiver.receive(timeout: .seconds(10))
                #expect(reading == TestReading(sequence: sequence, celsius: Double(sequence) / 4))
            }
            #expect(try producer.waitFor("done") == "done 100")
            #expect(try producer.waitForExit() == .exited(0))
            #expect(throws: ChannelError.closed) { try receiver.receive(timeout: .seconds(10)) }
        }

        /// Without a stable name the same layout is another type: the child's open is refused
        /// with the element type mismatch, naming both module-qualified names.
        @Test func withoutAStableNameTheModulesDiffer() throws {
            let scenario = Scenario("stable-unnamed")
            defer { scenario.removeAll() }
            let receiver = try ChannelReceiver<UnnamedReading>(named: scenario.name, capacity: 64, mode: .create)
            let producer = try Peer("stable-produce", scenario.name, "1")
            #expect(try producer.waitForExit() != .exited(0))
            #expect(ElementType(UnnamedReading.self).name.hasSuffix("UnnamedReading"))
            receiver.close()
        }
    }
}
