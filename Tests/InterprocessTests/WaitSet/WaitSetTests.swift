import Glibc
import Synchronization
import Testing

@testable import Interprocess

@Suite struct WaitSetTests {
    /// Runs `body` on a thread of its own after `delay`.
    private func later(_ delay: Duration = .milliseconds(30), _ body: @escaping @Sendable () -> Void) -> TestThread {
        TestThread {
            usleep(UInt32(delay / .microseconds(1)))
            body()
        }
    }

    @Test func returnsAtOnceWithoutASyscallWhenASourceIsReady() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var sender = try ChannelSender<Int>(named: name, capacity: 8)
        let receiver = try ChannelReceiver<Int>(named: name)
        var set = WaitSet()
        let token = set.add(readable: receiver)
        #expect(try sender.send(1, timeout: .zero))
        #if ENABLE_MOCKING
            // Every futex_waitv call would take this failure: none must happen.
            let box = SyscallMocking.Box(SyscallMocking([.futexWaitv: [.noFunction]]))
            let fired = SyscallMocking.$current.withValue(box) { set.wait(timeout: .seconds(5)) }
            #expect(box.injected.isEmpty)
        #else
            let fired = set.wait(timeout: .seconds(5))
        #endif
        #expect(Array(fired) == [WaitSet.Fired(token: token, count: 1)])
        #expect(set.mechanism == .vectored)
    }

    @Test func wakesForExactlyTheChannelWritten() throws {
        let names = (0..<8).map { uniqueName("wakesForExactly\($0)") }
        defer { for name in names { removeQuietly(name) } }
        let receivers = try names.map { ReceiverBox(try ChannelReceiver<Int>(named: $0, capacity: 4)) }
        var set = WaitSet()
        var tokens: [WaitSet.Token] = []
        for box in receivers { tokens.append(set.add(readable: box.receiver)) }
        // Opened here and kept open: a closed, drained channel is readable too (its receive
        // reports the close).
        let sender = SenderBox(try ChannelSender<Int>(named: names[5]))
        let writer = later { _ = try! sender.sender.send(42) }
        let fired = set.wait(timeout: .seconds(5))
        writer.join()
        #expect(fired.map(\.token) == [tokens[5]])
        #expect(try receivers[5].receiver.tryReceive() == 42)
        #expect(set.wait(timeout: .milliseconds(10)).isEmpty)
    }

    @Test func timesOutWithNothingFired() throws {
        var set = WaitSet()
        set.add(WaitSet.Notifier())
        let start = Deadline.now
        #expect(set.wait(timeout: .milliseconds(30)).isEmpty)
        #expect(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds >= 29_000_000)
    }

    @Test func senderBecomesWritableWhenTheReceiverTakes() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var sender = try ChannelSender<Int>(named: name, capacity: 2)
        let receiver = try ChannelReceiver<Int>(named: name)
        var set = WaitSet()
        let token = set.add(writable: sender)
        #expect(set.wait(timeout: .zero).contains(token))
        while try sender.trySend(0) {}
        #expect(set.wait(timeout: .milliseconds(10)).isEmpty)
        let box = ReceiverBox(receiver)
        let reader = later { _ = try! box.receiver.tryReceive() }
        #expect(set.wait(timeout: .seconds(5)).contains(token))
        reader.join()
    }

    @Test func mpmcChannelsToo() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var sender = try ChannelSender<Int>(named: name, capacity: 2, topology: .multiProducerMultiConsumer)
        var receiver = try ChannelReceiver<Int>(named: name)
        var set = WaitSet()
        let readable = set.add(readable: receiver)
        let writable = set.add(writable: sender)
        #expect(Array(set.wait(timeout: .zero)) == [WaitSet.Fired(token: writable, count: 1)])
        _ = try sender.trySend(1)
        _ = try sender.trySend(2)
        #expect(Array(set.wait(timeout: .zero)) == [WaitSet.Fired(token: readable, count: 1)])
        _ = try receiver.tryReceive()
        #expect(set.wait(timeout: .zero).count == 2)
    }

    @Test func byteChannels() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var sender = try ByteChannelSender(named: name, bufferSize: 256, maximumMessageSize: 100)
        var receiver = try ByteChannelReceiver(named: name)
        var set = WaitSet()
        let readable = set.add(readable: receiver)
        let writable = set.add(writable: sender)
        let small = set.add(writable: sender, messageSize: 8)
        #expect(Array(set.wait(timeout: .zero).map(\.token)) == [writable, small])
        #expect(try sender.send([UInt8](repeating: 1, count: 100), timeout: .zero))
        #expect(try sender.send([UInt8](repeating: 2, count: 60), timeout: .zero))
        // 112 + 72 of 256 bytes used: a 100-byte frame no longer fits, an 8-byte one does.
        #expect(Array(set.wait(timeout: .zero).map(\.token)) == [readable, small])
        _ = try receiver.receive(timeout: .zero)
        _ = try receiver.receive(timeout: .zero)
        #expect(Array(set.wait(timeout: .zero).map(\.token)) == [writable, small])
    }

    @Test func topics() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var publisher = try TopicPublisher<Int>(named: name, configuration: TopicConfiguration(capacity: 2))
        var subscriber = try TopicSubscriber<Int>(named: name)
        var set = WaitSet()
        let readable = set.add(readable: subscriber)
        let writable = set.add(writable: publisher)
        #expect(Array(set.wait(timeout: .zero).map(\.token)) == [writable])
        #expect(try publisher.tryPublish(1))
        #expect(try publisher.tryPublish(2))
        #expect(Array(set.wait(timeout: .zero).map(\.token)) == [readable])
        #expect(try subscriber.tryReceive() == 1)
        #expect(set.wait(timeout: .zero).count == 2)
        #expect(try subscriber.tryReceive() == 2)
        #expect(Array(set.wait(timeout: .zero).map(\.token)) == [writable])
        set.remove(writable)
        let publishers = PublisherBox(publisher)
        let writer = later { _ = try! publishers.publisher.tryPublish(3) }
        let fired = set.wait(timeout: .seconds(5))
        writer.join()
        #expect(fired.contains(readable))
    }

    @Test func manualEventsAreLevelAutomaticOnesAreConsumed() throws {
        let manualName = uniqueName("manual")
        let autoName = uniqueName("auto")
        defer {
            removeQuietly(manualName)
            removeQuietly(autoName)
        }
        let manual = try ProcessEvent(named: manualName, resetMode: .manual)
        let automatic = try ProcessEvent(named: autoName, resetMode: .automatic)
        var set = WaitSet()
        let m = set.add(manual)
        let a = set.add(automatic)
        #expect(set.wait(timeout: .zero).isEmpty)
        let setter = later { automatic.set() }
        #expect(Array(set.wait(timeout: .seconds(5))) == [WaitSet.Fired(token: a, count: 1)])
        setter.join()
        #expect(!automatic.isSet)
        #expect(set.wait(timeout: .zero).isEmpty)
        manual.set()
        #expect(set.wait(timeout: .zero).contains(m))
        #expect(set.wait(timeout: .zero).contains(m))
        manual.reset()
        #expect(set.wait(timeout: .zero).isEmpty)
    }

    @Test func takesOneSemaphoreUnitPerReport() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let semaphore = try ProcessSemaphore(named: name, initialValue: 0)
        var set = WaitSet()
        let token = set.add(acquiring: semaphore)
        let signaller = later { try! semaphore.signal() }
        #expect(Array(set.wait(timeout: .seconds(5))) == [WaitSet.Fired(token: token, count: 1)])
        signaller.join()
        #expect(!semaphore.tryWait())
        try semaphore.signal()
        try semaphore.signal()
        #expect(set.wait(timeout: .zero).contains(token))
        #expect(set.wait(timeout: .zero).contains(token))
        #expect(set.wait(timeout: .zero).isEmpty)
    }

    @Test func notifiersAreCountedAndConditionsChecked() {
        let notifier = WaitSet.Notifier()
        let flag = Atomic<Bool>(false)
        let condition = WaitSet.Notifier()
        var set = WaitSet()
        let n = set.add(notifier)
        let c = set.add(condition: { flag.load(ordering: .acquiring) }, signalledBy: condition)
        notifier.notify()
        notifier.notify()
        notifier.notify()
        #expect(Array(set.wait(timeout: .zero)) == [WaitSet.Fired(token: n, count: 3)])
        #expect(set.wait(timeout: .zero).isEmpty)
        let changer = later {
            flag.store(true, ordering: .releasing)
            condition.notify()
        }
        #expect(Array(set.wait(timeout: .seconds(5))) == [WaitSet.Fired(token: c, count: 1)])
        changer.join()
        // Level-triggered: still true.
        #expect(set.wait(timeout: .zero).contains(c))
        set.remove(c)
        #expect(set.wait(timeout: .zero).isEmpty)
        #expect(set.count == 1)
    }

    @Test func aDeadlineFiresOnce() {
        var set = WaitSet()
        let token = set.add(deadlineAfter: .milliseconds(20))
        let start = Deadline.now
        #expect(Array(set.wait(timeout: .seconds(5))) == [WaitSet.Fired(token: token, count: 1)])
        #expect(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds >= 19_000_000)
        #expect(set.wait(timeout: .milliseconds(30)).isEmpty)
    }

    @Test func anIntervalReportsTheDeadlinesItMissed() {
        var set = WaitSet()
        let token = set.add(interval: .milliseconds(10))
        #expect(set.wait(timeout: .seconds(5)).count(of: token) >= 1)
        usleep(55_000)
        // At least 5 periods passed while nobody waited: one report, with their count.
        let late = set.wait(timeout: .seconds(5)).count(of: token)
        #expect(late >= 5)
        #expect(late <= 8)
        var ticks = 0
        let start = Deadline.now
        while ticks < 5 { ticks += set.wait(timeout: .seconds(5)).count(of: token) }
        let elapsed = Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds
        #expect(elapsed >= 35_000_000)
    }

    @Test func fallbackWatcherThreadsWakeForTheChannelWritten() throws {
        let names = (0..<16).map { uniqueName("fallback\($0)") }
        defer { for name in names { removeQuietly(name) } }
        let receivers = try names.map { ReceiverBox(try ChannelReceiver<Int>(named: $0, capacity: 4)) }
        var set = WaitSet()
        set.mechanism = .watchers
        var tokens: [WaitSet.Token] = []
        for box in receivers { tokens.append(set.add(readable: box.receiver)) }
        let before = WaitSet.watchersStarted
        let sender = SenderBox(try ChannelSender<Int>(named: names[11]))
        let writer = later { _ = try! sender.sender.send(7) }
        let fired = set.wait(timeout: .seconds(5))
        writer.join()
        #expect(fired.map(\.token) == [tokens[11]])
        #expect(WaitSet.watchersStarted - before >= 16)
        _ = try receivers[11].receiver.tryReceive()
        #expect(set.wait(timeout: .milliseconds(20)).isEmpty)
        // Round after round: a notifier notified while other rounds' watchers stop.
        let notifier = WaitSet.Notifier()
        let n = set.add(notifier)
        for _ in 0..<5 {
            let notifying = later(.milliseconds(5)) { notifier.notify() }
            #expect(set.wait(timeout: .seconds(5)).map(\.token) == [n])
            notifying.join()
        }
    }

    #if ENABLE_MOCKING
        @Test func fallsBackWhenTheKernelLacksFutexWaitv() {
            let notifier = WaitSet.Notifier()
            var set = WaitSet()
            let token = set.add(notifier)
            let notifying = later { notifier.notify() }
            let fired = SyscallMocking.with([.futexWaitv: [.noFunction]]) { set.wait(timeout: .seconds(5)) }
            notifying.join()
            #expect(fired.contains(token))
            #expect(set.mechanism == .watchers)
        }
    #endif

    @Test func moreWordsThanOneFutexWaitvTakes() {
        let notifiers = (0..<300).map { _ in WaitSet.Notifier() }
        var set = WaitSet()
        let tokens = notifiers.map { set.add($0) }
        let before = WaitSet.watchersStarted
        let last = notifiers[299]
        let notifying = later { last.notify() }
        let fired = set.wait(timeout: .seconds(5))
        notifying.join()
        #expect(fired.map(\.token) == [tokens[299]])
        #expect(WaitSet.watchersStarted - before >= 2)
        #expect(set.mechanism == .vectored)
        let middle = notifiers[3]
        let again = later { middle.notify() }
        #expect(set.wait(timeout: .seconds(5)).map(\.token) == [tokens[3]])
        again.join()
    }

    /// A sender that closes (here: drops its handle) while the wait set sleeps wakes it through
    /// the channel's own close wake-up, long before any timed peer check, and nothing in this
    /// process is watched for an exit.
    @Test func aSenderThatClosesWakesTheWaitAtOnce() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let receiver = ReceiverBox(try ChannelReceiver<Int>(named: name, capacity: 4))
        let sender = OptionalSenderBox(try ChannelSender<Int>(named: name))
        var set = WaitSet()
        let token = set.add(readable: receiver.receiver)
        #expect(set.wait(timeout: .milliseconds(20)).isEmpty)
        let watched = set.watchedPeerCount
        #expect(watched == 0, "the only peer is this process")
        let closing = later(.milliseconds(50)) { sender.sender = nil }
        let start = Deadline.now
        let fired = set.wait(timeout: .seconds(10))
        let elapsed = (Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000
        closing.join()
        #expect(fired.map(\.token) == [token])
        #expect(elapsed < 500, "woke \(elapsed) ms after the wait began")
        #expect(throws: ChannelError.closed) { try receiver.receiver.receive(timeout: .zero) }
    }

    @Test func keepsTheChannelMappedAfterItsHandleIsDropped() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var set = WaitSet()
        var sender = try ChannelSender<Int>(named: name, capacity: 4, lifetime: .removedWithLastUser)
        do {
            let receiver = try ChannelReceiver<Int>(named: name)
            set.add(readable: receiver)
        }
        _ = try sender.trySend(5)
        #expect(set.wait(timeout: .zero).count == 1)
    }

    @Test func asyncWaitFiresAndCancels() async throws {
        let notifier = WaitSet.Notifier()
        var set = WaitSet()
        let token = set.add(notifier)
        let notifying = later { notifier.notify() }
        let fired = try await set.wait(timeout: .seconds(5))
        notifying.join()
        #expect(fired.contains(token))
        let task = Task {
            var other = WaitSet()
            other.add(WaitSet.Notifier())
            let start = Deadline.now
            do {
                _ = try await other.wait(timeout: .seconds(30))
                return (false, Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds)
            } catch {
                return (true, Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds)
            }
        }
        usleep(30_000)
        task.cancel()
        let (cancelled, elapsed) = await task.value
        #expect(cancelled)
        #expect(elapsed < 5_000_000_000)
    }

    @Test func asyncWaitOnTheFallbackFiresAndCancels() async throws {
        let notifier = WaitSet.Notifier()
        var set = WaitSet()
        set.mechanism = .watchers
        let token = set.add(notifier)
        let notifying = later { notifier.notify() }
        #expect(try await set.wait(timeout: .seconds(5)).contains(token))
        notifying.join()
        let task = Task {
            var other = WaitSet()
            other.mechanism = .watchers
            other.add(WaitSet.Notifier())
            other.add(WaitSet.Notifier())
            do {
                _ = try await other.wait(timeout: .seconds(30))
                return false
            } catch {
                return true
            }
        }
        usleep(30_000)
        task.cancel()
        #expect(await task.value)
    }
}

/// Lets another thread of a test use a handle (the tests use it from one thread at a time).
private final class ReceiverBox: @unchecked Sendable {
    var receiver: ChannelReceiver<Int>
    init(_ receiver: consuming ChannelReceiver<Int>) { self.receiver = receiver }
}

private final class SenderBox: @unchecked Sendable {
    var sender: ChannelSender<Int>
    init(_ sender: consuming ChannelSender<Int>) { self.sender = sender }
}

private final class OptionalSenderBox: @unchecked Sendable {
    var sender: ChannelSender<Int>?
    init(_ sender: consuming ChannelSender<Int>) { self.sender = Optional(sender) }
}

private final class PublisherBox: @unchecked Sendable {
    var publisher: TopicPublisher<Int>
    init(_ publisher: consuming TopicPublisher<Int>) { self.publisher = publisher }
}
