import Testing

@_spi(Layout) @testable import Interprocess

/// What inspection reads of a blackboard, intact and forged.
@Suite struct BlackboardInspectionTests {
    @Test func inspectionListsKeysAndStopsAtAForgedEntry() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let configuration = BlackboardConfiguration(keyCapacity: 3)
        do {
            var writer = try BlackboardWriter(named: name, configuration: configuration)
            try writer.addKey("a", as: UInt8.self, initialValue: 1)
            try writer.addKey("b", as: UInt64.self, initialValue: 2)
            try writer.write(UInt64(3), forKey: "b")
        }
        let state = try #require(try SharedObjectRegistry.inspect(named: name).blackboard)
        #expect(state.configuration == configuration)
        #expect(!state.hasWriter)
        #expect(state.writerGeneration == 1)
        #expect(state.keys.map(\.name) == ["a", "b"] && state.keys.map(\.version) == [1, 2])
        #expect(state.valueSpaceUsed == 2 * 192)
        #expect(state.problem == nil)

        let layout = BlackboardLayout(configuration: configuration)
        try overwrite(
            backingPath(name), at: HeaderLayout.size + layout.entry(1) + BlackboardLayout.entryNameLength,
            value: UInt32(0))
        let forged = try #require(try SharedObjectRegistry.inspect(named: name).blackboard)
        #expect(forged.keys.map(\.name) == ["a"])
        #expect(forged.problem != nil)
        try overwrite(backingPath(name), at: HeaderLayout.size + BlackboardLayout.keyCount, value: UInt32(99))
        #expect(try SharedObjectRegistry.inspect(named: name).blackboard?.problem?.contains("99") == true)
    }
}
