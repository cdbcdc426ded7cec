import Glibc
import Synchronization
import Testing

@testable import Interprocess

/// Topics under concurrent threads (run under the thread sanitizer in CI): no torn message,
/// none lost or repeated with `block`, exact gaps with `dropOldest`, samples held across drops,
/// several publishers, a publisher blocked by a subscriber that leaves.
@Suite struct TopicConcurrencyTests {
    /// Eight words that all carry the sequence number: a torn copy shows as words that differ.
    struct Stamp: BitwiseCopyable, Equatable {
        var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
        init(_ value: UInt64) { words = (value, value, value, value, value, value, value, value) }
        var value: UInt64 { words.0 }
        var isWhole: Bool {
            let w = words
            return w.1 == w.0 && w.2 == w.0 && w.3 == w.0 && w.4 == w.0 && w.5 == w.0 && w.6 == w.0 && w.7 == w.0
        }
        static func == (a: Stamp, b: Stamp) -> Bool { a.value == b.value && a.isWhole && b.isWhole }
    }

    @Test(.timeLimit(.minutes(2)))
    func blockingFanOutDeliversEveryMessageWholeAndInOrder() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let count: UInt64 = 20_000
        var publisher = try TopicPublisher<Stamp>(
            named: name, configuration: TopicConfiguration(capacity: 16, maximumSubscribers: 3), mode: .create)
        let problems = Mutex<[String]>([])
        let ready = Atomic<Int>(0)
        let threads = (0..<3).map { index in
            TestThread {
                do {
                    var subscriber = try TopicSubscriber<Stamp>(named: name)
                    ready.add(1, ordering: .sequentiallyConsistent)
                    var expected: UInt64 = 0
                    while expected < count {
                        // Every third subscriber reads in place.
                        if index == 2 {
                            guard let sample = try subscriber.receiveSample(timeout: .seconds(20)) else {
                                problems.withLock { $0.append("subscriber \(index): no message after \(expected)") }
                                return
                            }
                            let stamp = sample.value
                            guard stamp.isWhole, stamp.value == expected else {
                                problems.withLock { $0.append("subscriber \(index): \(stamp.value) for \(expected)") }
                                return
                            }
                        } else {
                            guard let stamp = try subscriber.receive(timeout: .seconds(20)) else {
                                problems.withLock { $0.append("subscriber \(index): no message after \(expected)") }
                                return
                            }
                            guard stamp.isWhole, stamp.value == expected else {
                                problems.withLock { $0.append("subscriber \(index): \(stamp.value) for \(expected)") }
                                return
                            }
                        }
                        expected += 1
                    }
                } catch {
                    problems.withLock { $0.append("subscriber \(index): \(error)") }
                }
            }
        }
        #expect(eventually { ready.load(ordering: .sequentiallyConsistent) == 3 })
        for i in 0..<count { try publisher.publish(Stamp(i)) }
        for thread in threads { thread.join() }
        #expect(problems.withLock { $0 } == [])
    }

    @Test(.timeLimit(.minutes(2)))
    func dropOldestNeverTearsAHeldSampleAndCountsEveryGap() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let count: UInt64 = 50_000
        var publisher = try TopicPublisher<Stamp>(
            named: name,
            configuration: TopicConfiguration(
                capacity: 4, maximumSubscribers: 2, overflow: .dropOldest, maximumHeldSamples: 2),
            mode: .create)
        let problems = Mutex<[String]>([])
        let done = Atomic<Bool>(false)
        let ready = Atomic<Int>(0)
        let threads = (0..<2).map { index in
            TestThread {
                do {
                    var subscriber = try TopicSubscriber<Stamp>(named: name, waitStrategy: .spin)
                    ready.add(1, ordering: .sequentiallyConsistent)
                    var last: UInt64? = nil
                    var received = 0
                    var missed = 0
                    var held: TopicSubscriber<Stamp>.Sample? = nil
                    while true {
                        guard let sample = try subscriber.receiveSample(timeout: .milliseconds(200)) else {
                            if done.load(ordering: .sequentiallyConsistent) { break }
                            continue
                        }
                        let stamp = sample.value
                        if !stamp.isWhole { problems.withLock { $0.append("torn sample \(stamp.words)") } }
                        if let last, stamp.value <= last {
                            problems.withLock { $0.append("\(stamp.value) after \(last)") }
                        }
                        if let last, Int(stamp.value - last - 1) != sample.missedBefore {
                            problems.withLock {
                                $0.append("gap \(stamp.value - last - 1), reported \(sample.missedBefore)")
                            }
                        }
                        missed += sample.missedBefore
                        received += 1
                        last = stamp.value
                        // Keep one sample across many publishes, then check it was not overwritten.
                        if let kept = held.take(), !kept.value.isWhole || kept.value.value >= stamp.value {
                            problems.withLock { $0.append("a held sample changed") }
                        }
                        if index == 1 { held = consume sample }
                        if stamp.value == count - 1 { break }
                    }
                    if subscriber.missedMessages != missed {
                        problems.withLock {
                            $0.append("missedMessages \(subscriber.missedMessages), samples said \(missed)")
                        }
                    }
                    if received == 0 { problems.withLock { $0.append("subscriber \(index) received nothing") } }
                } catch {
                    problems.withLock { $0.append("subscriber \(index): \(error)") }
                }
            }
        }
        #expect(eventually { ready.load(ordering: .sequentiallyConsistent) == 2 })
        for i in 0..<count { #expect(try publisher.tryPublish(Stamp(i))) }
        done.store(true, ordering: .sequentiallyConsistent)
        for thread in threads { thread.join() }
        #expect(problems.withLock { $0 } == [])
    }

    @Test(.timeLimit(.minutes(1)))
    func severalPublishersEachArriveInTheirOrder() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let configuration = TopicConfiguration(capacity: 8, maximumSubscribers: 2, maximumPublishers: 3, history: 2)
        var subscriber = try TopicSubscriber<UInt64>(named: name, configuration: configuration, mode: .create)
        let perPublisher: UInt64 = 5_000
        let threads = (0..<3 as Range<UInt64>).map { p in
            TestThread {
                guard var publisher = try? TopicPublisher<UInt64>(named: name) else { return }
                for i in 0..<perPublisher { _ = try? publisher.publish(p << 32 | i, timeout: .seconds(20)) }
            }
        }
        var next: [UInt64: UInt64] = [:]
        var total: UInt64 = 0
        var disorder = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while total < 3 * perPublisher, ContinuousClock.now < deadline {
            // `.closed`: every publisher that had opened closed, and another may still open (the
            // topic is closed only for now).
            let outcome = Result { () throws(TopicError) in try subscriber.receive(timeout: .seconds(20)) }
            if case .failure(.closed) = outcome {
                usleep(1000)
                continue
            }
            guard let value = try outcome.get() else { break }
            let p = value >> 32
            if value & 0xFFFF_FFFF != next[p, default: 0] { disorder += 1 }
            next[p] = (value & 0xFFFF_FFFF) + 1
            total += 1
        }
        for thread in threads { thread.join() }
        #expect(total == 3 * perPublisher)
        #expect(disorder == 0)
        // A publisher that opens after the others closed takes a slot and reopens the topic; a
        // subscriber that joins now gets each slot's history.
        var late = try TopicSubscriber<UInt64>(named: name)
        var history: [UInt64] = []
        // Then `.closed`: the three publishers closed and this subscriber took everything.
        while case .success(let value?) = Result(catching: { () throws(TopicError) in try late.tryReceive() }) {
            history.append(value)
        }
        #expect(throws: TopicError.closed) { _ = try late.tryReceive() }
        #expect(history.count == 6)
        var successor = try TopicPublisher<UInt64>(named: name)
        try successor.publish(99)
        #expect(try late.receive(timeout: .seconds(5)) == 99)
        #expect(try subscriber.receive(timeout: .seconds(5)) == 99)
    }

    @Test(.timeLimit(.minutes(1)))
    func aBlockedPublisherGoesOnWhenItsSubscriberLeaves() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var publisher = try TopicPublisher<UInt64>(
            named: name, configuration: TopicConfiguration(capacity: 2, maximumSubscribers: 1), mode: .create,
            waitStrategy: .block)
        let box = SubscriberBox(try TopicSubscriber<UInt64>(named: name))
        try publisher.publish(1)
        try publisher.publish(2)
        let leaver = TestThread {
            usleep(100_000)
            box.subscriber = nil
        }
        let start = ContinuousClock.now
        #expect(try publisher.publish(3, timeout: .seconds(10)))
        // Woken by the leaving subscriber, not by the 1 ms liveness check or a 100 ms slice.
        #expect(ContinuousClock.now - start < .seconds(5))
        leaver.join()
    }

    final class SubscriberBox: @unchecked Sendable {
        var subscriber: TopicSubscriber<UInt64>?
        init(_ subscriber: consuming TopicSubscriber<UInt64>) { self.subscriber = consume subscriber }
    }
}
