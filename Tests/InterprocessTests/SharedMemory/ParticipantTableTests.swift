import Testing
@testable import Interprocess

@Suite struct ParticipantTableTests {
    private func uniqueName(_ base: String) -> String {
        "\(base)-\(ProcessIdentity.current.pid)-\(UInt32.random(in: 0...UInt32.max))"
    }

    @Test func everyOpenRegistersAndDeregisters() throws {
        let name = uniqueName("participants")
        let first = try SharedMemory(named: name, mode: .create, size: 64)
        defer { try? first.remove() }
        #expect(first.participants.map(\.role) == [.opener])
        #expect(first.participants.allSatisfy { $0.isAlive })
        do {
            let second = try SharedMemory(named: name, mode: .open, size: nil)
            let seen = first.participants
            #expect(seen.count == 2)
            #expect(seen.allSatisfy { $0.isAlive && $0.process == .current })
            #expect(second.participants.count == 2)
        }
        // The second handle is released: its slot is free again.
        #expect(first.participants.count == 1)
        let info = try SharedObjectRegistry.inspect(named: name)
        #expect(info.participants.count == 1)
        #expect(info.participants.first?.isAlive == true)
    }

    @Test func explicitRolesAndSlotReuse() throws {
        let name = uniqueName("roles")
        let segment = try SharedMemory(named: name, mode: .create, size: 64)
        defer { try? segment.remove() }
        let sender = try #require(try segment.register(as: .sender))
        let receiver = try #require(try segment.register(as: .receiver))
        #expect(Set(segment.participants.map(\.role)) == [.opener, .sender, .receiver])
        #expect(sender.slot != receiver.slot)
        segment.deregister(sender)
        #expect(Set(segment.participants.map(\.role)) == [.opener, .receiver])
        let again = try #require(try segment.register(as: .sender))
        #expect(again.slot == sender.slot)
    }

    @Test func tableFullLeavesObjectUsable() throws {
        let name = uniqueName("full")
        let segment = try SharedMemory(named: name, mode: .create, size: 64)
        defer { try? segment.remove() }
        var registrations: [ParticipantRegistration] = []
        while let r = try segment.register(as: .receiver) { registrations.append(r) }
        #expect(registrations.count == ParticipantTable.slotCount - 1)
        let other = try SharedMemory(named: name, mode: .open, size: nil)
        #expect(other.participants.count == ParticipantTable.slotCount)
        registrations.forEach(segment.deregister)
    }
}
