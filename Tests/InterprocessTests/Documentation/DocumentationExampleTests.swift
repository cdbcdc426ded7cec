import Testing
import Interprocess

/// The examples of README.md and the DocC articles, compiled and run, so the documentation
/// cannot drift from the API.
@Suite struct DocumentationExampleTests {
    private func uniqueName(_ base: String) -> String {
        "\(base)-\(ProcessIdentity.current.pid)-\(UInt32.random(in: 0...UInt32.max))"
    }

    struct Reading: BitwiseCopyable, StablyNamed, Equatable {
        static let stableName = "example.Reading.v1"
        var sensor: UInt32
        var value: Double
    }

    /// PublishSubscribe.md, "Overview", with the two processes as two subscribers here.
    @Test func publishSubscribeOverview() throws {
        let name = uniqueName("readings")
        defer { try? SharedMemory.remove(named: name) }
        var publisher = try TopicPublisher<Reading>(
            named: name,
            configuration: TopicConfiguration(capacity: 64, maximumSubscribers: 16, history: 8))
        try publisher.publish(Reading(sensor: 1, value: 20.5))
        var plotted: [Reading] = []
        func plot(_ reading: Reading) { plotted.append(reading) }
        var subscriber = try TopicSubscriber<Reading>(named: name)
        while let reading = try subscriber.receive(timeout: .milliseconds(50)) { plot(reading) }
        #expect(plotted == [Reading(sensor: 1, value: 20.5)])
    }

    @Test func readmeCounter() throws {
        let base = uniqueName("readme")
        let counter = try SharedArray<Int>(named: base, count: 1, initialValue: 0)
        let lock = try ProcessMutex(named: base + ".lock")
        let changed = try ProcessCondition(named: base + ".changed")
        defer {
            try? counter.remove()
            try? lock.segment.remove()
            try? changed.segment.remove()
        }
        let repair = { counter[0] = max(counter[0], 0) }
        for _ in 0..<10 {
            try lock.withLock(ifPreviousOwnerDied: repair) {
                counter[0] += 1
            }
            changed.notifyAll()
        }
        let reached = try lock.withLock(timeout: .seconds(5), ifPreviousOwnerDied: repair) {
            try changed.wait(on: lock, timeout: .seconds(5)) { counter[0] >= 10 }
        }
        #expect(reached)
        #expect(counter[0] == 10)
    }

    /// LockingAndOwnerDeath.md, "A condition wait that cannot get its mutex back" (here the
    /// wait times out normally, holding the lock).
    @Test func lockingConditionWaitThatCannotRelock() throws {
        let base = uniqueName("relock")
        let lock = try ProcessMutex(named: base + ".lock")
        let ready = try ProcessCondition(named: base + ".ready")
        defer {
            try? lock.segment.remove()
            try? ready.segment.remove()
        }
        let queue: [Int] = []
        func drain() throws(ProcessMutexError) -> Bool {
            _ = try lock.lock(timeout: .seconds(5))
            do {
                while queue.isEmpty {
                    if try ready.wait(on: lock, timeout: .milliseconds(20)) == .timedOut { break }  // lock held
                }
            } catch {
                guard error == .reacquireTimedOut else { throw error }
                return false  // lock NOT held: someone kept it past our deadline
            }
            try lock.unlock()
            return true
        }
        #expect(try drain())
    }

    /// MessageChannels.md, "Restarting after a crash" (a short timeout; the sender closes).
    @Test func channelsAwaitSuccessor() throws {
        struct Sample: BitwiseCopyable { var value: Int }
        let name = uniqueName("samples")
        defer { try? SharedMemory.remove(named: name) }
        try ChannelReceiver<Sample>.createChannel(named: name, capacity: 8)
        var sender = try ChannelSender<Sample>(named: name, mode: .open)
        for value in 0..<3 { try sender.send(Sample(value: value)) }
        var plotted: [Int] = []
        func plot(_ sample: Sample) { plotted.append(sample.value) }
        var receiver = try ChannelReceiver<Sample>(named: name, senderDeath: .awaitSuccessor)
        while let sample = try receiver.receive(timeout: .milliseconds(50)) { plot(sample) }  // nil: 50 ms without one
        #expect(plotted == [0, 1, 2])
        sender.close()
        #expect(throws: ChannelError.closed) { try receiver.receive(timeout: .seconds(1)) }
    }

    @Test func placementInOwnLayout() throws {
        let name = uniqueName("layout")
        let segment = try SharedMemory(named: name, size: 4096) { payload throws(SharedMemoryError) in
            try ProcessMutex.initializeStorage(in: payload, at: 0)
            try ProcessCondition.initializeStorage(in: payload, at: 64)
        }
        defer { try? segment.remove() }
        let lock = try ProcessMutex(in: segment, at: 0)
        let ready = try ProcessCondition(in: segment, at: 64)
        #expect(try lock.lock() == .acquired)
        #expect(try ready.wait(on: lock, timeout: .milliseconds(1)) == .timedOut)
        try lock.unlock()
        #expect(throws: SharedMemoryError.self) { try ProcessMutex(in: segment, at: 4) }
        #expect(throws: SharedMemoryError.self) { try ProcessMutex(in: segment, at: 4096 - 8) }
    }
}
