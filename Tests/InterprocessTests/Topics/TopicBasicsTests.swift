import Interprocess
import Testing

/// In-process behaviour of topics: fan-out, order, history, policies, loans, samples, limits.
/// The multi-process and crash cases are in `MultiProcessTests/TopicProcessTests.swift`.
@Suite struct TopicBasicsTests {
    @Test func everySubscriberReceivesEveryMessageInOrder() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let configuration = TopicConfiguration(capacity: 16, maximumSubscribers: 3)
        var publisher = try TopicPublisher<UInt64>(named: name, configuration: configuration, mode: .create)
        var first = try TopicSubscriber<UInt64>(named: name)
        var second = try TopicSubscriber<UInt64>(named: name)
        for i in 0..<10 as Range<UInt64> { try publisher.publish(i) }
        for i in 0..<10 as Range<UInt64> {
            #expect(try first.tryReceive() == i)
            #expect(try second.tryReceive() == i)
        }
        #expect(try first.tryReceive() == nil)
        #expect(publisher.subscriberCount == 2)
    }

    @Test func aFullSubscriberHoldsABlockingPublisherBack() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var publisher = try TopicPublisher<UInt64>(
            named: name, configuration: TopicConfiguration(capacity: 4), mode: .create)
        var subscriber = try TopicSubscriber<UInt64>(named: name)
        for i in 0..<4 as Range<UInt64> { #expect(try publisher.tryPublish(i)) }
        #expect(try publisher.tryPublish(4) == false)
        #expect(try publisher.publish(4, timeout: .milliseconds(20)) == false)
        #expect(try subscriber.tryReceive() == 0)
        #expect(try publisher.tryPublish(4))
        for i in 1...4 as ClosedRange<UInt64> { #expect(try subscriber.tryReceive() == i) }
    }

    @Test func dropOldestCountsExactlyWhatASubscriberMissed() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var publisher = try TopicPublisher<UInt64>(
            named: name, configuration: TopicConfiguration(capacity: 8, overflow: .dropOldest), mode: .create)
        var subscriber = try TopicSubscriber<UInt64>(named: name)
        for i in 0..<100 as Range<UInt64> { #expect(try publisher.tryPublish(i)) }
        var received: [UInt64] = []
        while let value = try subscriber.tryReceive() { received.append(value) }
        #expect(received == Array(92..<100))
        // The first message it took was its first: nothing counted before it.
        #expect(subscriber.missedMessages == 0)
        try publisher.publish(100)
        #expect(try subscriber.tryReceive() == 100)
        for i in 101..<120 as Range<UInt64> { try publisher.publish(i) }
        guard let sample = try subscriber.tryReceiveSample() else {
            Issue.record("no sample")
            return
        }
        #expect(sample.value == 112)
        #expect(sample.missedBefore == 11)
        #expect(subscriber.missedMessages == 11)
    }

    @Test func aLateJoinerReceivesExactlyTheHistory() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var publisher = try TopicPublisher<UInt64>(
            named: name, configuration: TopicConfiguration(capacity: 8, history: 3), mode: .create)
        for i in 0..<10 as Range<UInt64> { try publisher.publish(i) }
        var late = try TopicSubscriber<UInt64>(named: name)
        #expect(try late.tryReceive() == 7)
        #expect(try late.tryReceive() == 8)
        #expect(try late.tryReceive() == 9)
        #expect(try late.tryReceive() == nil)
        try publisher.publish(10)
        #expect(try late.tryReceive() == 10)
        #expect(try late.tryReceive() == nil)
    }

    @Test func loansAreWrittenInPlaceAndGivenBackWhenDropped() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var publisher = try TopicPublisher<UInt64>(
            named: name, configuration: TopicConfiguration(capacity: 8, maximumLoans: 2), mode: .create)
        var subscriber = try TopicSubscriber<UInt64>(named: name)
        for round in 0..<100 as Range<UInt64> {
            let loan = try publisher.loan()
            loan.value = round
            let dropped = try publisher.loan()
            dropped.value = 999
            _ = consume dropped
            #expect(try publisher.publish(loan) == nil)
            #expect(try subscriber.tryReceive() == round)
        }
        let a = try publisher.loan()
        let b = try publisher.loan()
        #expect(throws: TopicError.loanLimitReached(maximum: 2)) { _ = try publisher.loan() }
        _ = consume a
        _ = consume b
    }

    @Test func samplesHoldTheirSlotWhileThePublisherDrops() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var publisher = try TopicPublisher<UInt64>(
            named: name, configuration: TopicConfiguration(capacity: 4, overflow: .dropOldest, maximumHeldSamples: 2),
            mode: .create)
        var subscriber = try TopicSubscriber<UInt64>(named: name)
        try publisher.publish(42)
        guard let held = try subscriber.tryReceiveSample() else {
            Issue.record("no sample")
            return
        }
        for i in 0..<1000 as Range<UInt64> { try publisher.publish(i) }
        #expect(held.value == 42)
        guard let second = try subscriber.tryReceiveSample() else {
            Issue.record("no sample")
            return
        }
        #expect(throws: TopicError.sampleLimitReached(maximum: 2)) { _ = try subscriber.tryReceiveSample() }
        #expect(second.value == 996)
        #expect(held.value == 42)
    }

    @Test func theLimitsAreTheConfiguredOnes() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let configuration = TopicConfiguration(capacity: 2, maximumSubscribers: 256, maximumPublishers: 2)
        var publishers: [TopicPublisherBox] = []
        for _ in 0..<2 {
            publishers.append(TopicPublisherBox(try TopicPublisher<UInt32>(named: name, configuration: configuration)))
        }
        #expect(throws: TopicError.endpointLimitReached(.publisher, maximum: 2)) {
            _ = try TopicPublisher<UInt32>(named: name)
        }
        var subscribers: [TopicSubscriberBox] = []
        for _ in 0..<256 { subscribers.append(TopicSubscriberBox(try TopicSubscriber<UInt32>(named: name))) }
        #expect(throws: TopicError.endpointLimitReached(.subscriber, maximum: 256)) {
            _ = try TopicSubscriber<UInt32>(named: name)
        }
        try publishers[0].publisher.publish(7)
        for box in subscribers { #expect(try box.subscriber.tryReceive() == 7) }
        subscribers.removeLast()
        _ = try TopicSubscriber<UInt32>(named: name)
    }

    @Test func closingEveryPublisherEndsTheSubscription() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var publisher = try TopicPublisher<UInt64>(
            named: name, configuration: TopicConfiguration(capacity: 8), mode: .create)
        var subscriber = try TopicSubscriber<UInt64>(named: name)
        // No publisher has ever closed: waiting for one is not an error.
        try publisher.publish(1)
        publisher.close()
        #expect(try subscriber.receive(timeout: .seconds(1)) == 1)
        #expect(throws: TopicError.closed) { _ = try subscriber.receive(timeout: .seconds(1)) }
    }

    @Test func aMismatchedConfigurationIsRefused() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let publisher = try TopicPublisher<UInt64>(
            named: name, configuration: TopicConfiguration(capacity: 8), mode: .create)
        #expect(throws: TopicError.self) {
            _ = try TopicSubscriber<UInt64>(named: name, configuration: TopicConfiguration(capacity: 16))
        }
        #expect(throws: TopicError.self) { _ = try TopicSubscriber<UInt32>(named: name) }
        #expect(throws: TopicError.invalidConfiguration("a topic's capacity is a power of two in 1...16777216")) {
            _ = try TopicSubscriber<UInt64>(named: uniqueName(), configuration: TopicConfiguration(capacity: 3))
        }
        _ = publisher
    }
}

extension TopicBasicsTests {
    @Test func byteMessagesOfEverySizeUpToTheMaximum() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var publisher = try ByteTopicPublisher(
            named: name, maximumMessageSize: 1000, configuration: TopicConfiguration(capacity: 8, history: 2),
            mode: .create)
        var subscriber = try ByteTopicSubscriber(named: name)
        for size in [0, 1, 63, 64, 65, 999, 1000] {
            try publisher.publish((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ size) })
            #expect(try subscriber.tryReceive() == (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ size) })
        }
        #expect(throws: TopicError.messageTooLarge(size: 1001, maximum: 1000)) {
            try publisher.publish([UInt8](repeating: 0, count: 1001))
        }
        let loan = try publisher.loan()
        loan.withUnsafeMutableBytes { $0.copyBytes(from: [9, 8, 7]) }
        #expect(try publisher.publish(loan, count: 3) == nil)
        guard let sample = try subscriber.receiveSample(timeout: .seconds(1)) else {
            Issue.record("no sample")
            return
        }
        #expect(sample.withUnsafeBytes { Array($0) } == [9, 8, 7])
        // A late joiner gets the last two, copied.
        var late = try ByteTopicSubscriber(named: name, maximumMessageSize: 1000)
        #expect(try late.tryReceive()?.count == 1000)
        #expect(try late.tryReceive() == [9, 8, 7])
        #expect(throws: TopicError.self) { _ = try ByteTopicSubscriber(named: name, maximumMessageSize: 999) }
    }

    @Test func theAsyncSequenceEndsWhenThePublisherCloses() async throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var publisher = try TopicPublisher<UInt64>(
            named: name, configuration: TopicConfiguration(capacity: 4), mode: .create)
        let subscriber = try TopicSubscriber<UInt64>(named: name)
        let messages = subscriber.messages()
        let reader = Task {
            var received: [UInt64] = []
            for try await value in messages { received.append(value) }
            return received
        }
        for i in 0..<100 as Range<UInt64> { try await publisher.publish(i) }
        publisher.close()
        #expect(try await reader.value == Array(0..<100))
    }

    @Test func anAsyncReceiveIsCancelledWithoutTakingAnything() async throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var publisher = try TopicPublisher<UInt64>(
            named: name, configuration: TopicConfiguration(capacity: 4), mode: .create)
        let box = TopicSubscriberBox64(try TopicSubscriber<UInt64>(named: name))
        let waiter = Task { try await box.receive() }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await #expect(throws: TopicError.cancelled) { try await waiter.value }
        #expect(try publisher.tryPublish(5))
        #expect(try box.subscriber.tryReceive() == 5)
    }
}

extension TopicBasicsTests {
    @Test func aClosedSubscriberHoldingASampleHoldsNoPublisherBack() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var publisher = try TopicPublisher<UInt64>(
            named: name, configuration: TopicConfiguration(capacity: 2, maximumSubscribers: 1), mode: .create)
        var subscriber = try TopicSubscriber<UInt64>(named: name)
        try publisher.publish(7)
        guard let sample = try subscriber.tryReceiveSample() else {
            Issue.record("no sample")
            return
        }
        subscriber.close()
        // Its queue is not filled any more, and the slot stays taken while the sample lives.
        for i in 0..<100 as Range<UInt64> {
            #expect(try publisher.tryPublish(i))
            if sample.value != 7 {
                Issue.record("overwritten at \(i)")
                break
            }
        }
        #expect(sample.value == 7)
        #expect(throws: TopicError.endpointLimitReached(.subscriber, maximum: 1)) {
            _ = try TopicSubscriber<UInt64>(named: name)
        }
        _ = consume sample
        var next = try TopicSubscriber<UInt64>(named: name)
        try publisher.publish(1000)
        #expect(try next.tryReceive() == 1000)
    }
}

final class TopicSubscriberBox64: @unchecked Sendable {
    var subscriber: TopicSubscriber<UInt64>
    init(_ subscriber: consuming TopicSubscriber<UInt64>) { self.subscriber = subscriber }
    func receive() async throws(TopicError) -> UInt64 { try await subscriber.receive() }
}

/// Boxes so that tests can keep many `~Copyable` handles in an array.
final class TopicPublisherBox {
    var publisher: TopicPublisher<UInt32>
    init(_ publisher: consuming TopicPublisher<UInt32>) { self.publisher = publisher }
}

final class TopicSubscriberBox {
    var subscriber: TopicSubscriber<UInt32>
    init(_ subscriber: consuming TopicSubscriber<UInt32>) { self.subscriber = subscriber }
}
