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
        let sender = try segment.register(as: .sender)
        let receiver = try segment.register(as: .receiver)
        #expect(Set(segment.participants.map(\.role)) == [.opener, .sender, .receiver])
        #expect(sender.slot != receiver.slot)
        segment.deregister(sender)
        #expect(Set(segment.participants.map(\.role)) == [.opener, .receiver])
        let again = try segment.register(as: .sender)
        #expect(again.slot == sender.slot)
    }

    @Test func registrationsBeyondTheTableStillCountAsLive() throws {
        let name = uniqueName("full")
        let segment = try SharedMemory(named: name, mode: .create, size: 64)
        defer { try? segment.remove() }
        // The opener holds one slot; fill the rest, then register ten more.
        var registrations: [ParticipantRegistration] = []
        for _ in 0..<(ParticipantTable.slotCount - 1 + 10) { registrations.append(try segment.register(as: .receiver)) }
        #expect(registrations.filter { $0.slot != nil }.count == ParticipantTable.slotCount - 1)
        #expect(registrations.filter { $0.slot == nil }.count == 10)
        #expect(segment.liveRegistrations(of: .receiver) == ParticipantTable.slotCount - 1 + 10)
        let other = try SharedMemory(named: name, mode: .open, size: nil)
        #expect(other.participants.count == ParticipantTable.slotCount)
        #expect(other.liveRegistrations(of: .receiver) == ParticipantTable.slotCount - 1 + 10)
        let info = try SharedObjectRegistry.inspect(named: name)
        #expect(info.participantTableIsFull)
        #expect(info.liveRegistrations[.receiver] == ParticipantTable.slotCount - 1 + 10)
        #expect(info.liveRegistrations[.opener] == 2)
        registrations.forEach(segment.deregister)
        #expect(other.liveRegistrations(of: .receiver) == 0)
    }

    /// Every registration and deregistration, with a table slot or without one, bumps the
    /// header's change word, on which a wait set learns of participants that join.
    @Test func everyRegistrationAndDeregistrationBumpsTheChangeWord() throws {
        let name = uniqueName("change")
        let segment = try SharedMemory(named: name, mode: .create, size: 64)
        defer { try? segment.remove() }
        let word = ParticipantTable(base: segment.region.base).changeWake.word
        var last = word.atomic.pointee.load(ordering: .relaxed)
        func moved() -> Bool {
            let now = word.atomic.pointee.load(ordering: .relaxed)
            defer { last = now }
            return now != last
        }
        var registrations: [ParticipantRegistration] = []
        for _ in 0..<(ParticipantTable.slotCount + 2) {
            registrations.append(try segment.register(as: .receiver))
            #expect(moved())
        }
        #expect(registrations.last?.slot == nil)
        for registration in registrations {
            segment.deregister(registration)
            #expect(moved())
        }
        // A registration ended twice is ended once.
        segment.deregister(registrations[0])
        #expect(!moved())
        // An opener registers and deregisters too.
        let other = try SharedMemory(named: name, mode: .open, size: nil)
        withExtendedLifetime(other) { #expect(moved()) }
        _ = consume other
        #expect(moved())
    }
}
