import Glibc
import Synchronization
import Testing
@testable import Interprocess

@Suite struct ChannelAsyncTests {
    private func uniqueName(_ base: String) -> String {
        "\(base)-\(ProcessIdentity.current.pid)-\(UInt32.random(in: 0...UInt32.max))"
    }

    @Test func asyncSequenceEndsWhenClosed() async throws {
        let name = uniqueName("async-seq")
        defer { try? SharedMemory.remove(named: name) }
        let receiver = try ChannelReceiver<Int>(named: name, capacity: 4)
        let producer = Task.detached {
            var sender = try ChannelSender<Int>(named: name)
            for i in 0..<1_000 { try await sender.send(i) }
            sender.close()
        }
        var received: [Int] = []
        for try await value in receiver.messages() { received.append(value) }
        try await producer.value
        #expect(received == Array(0..<1_000))
    }

    /// More waiting receivers than the cooperative pool has threads: if a wait blocked a
    /// cooperative thread, the counting task below could never run.
    @Test func waitingReceiversDoNotBlockTheCooperativePool() async throws {
        let names = (0..<(CPU.availableCount * 4)).map { uniqueName("coop-\($0)") }
        defer { for name in names { try? SharedMemory.remove(named: name) } }
        try await withThrowingTaskGroup(of: Int.self) { group in
            for name in names {
                group.addTask {
                    var receiver = try ChannelReceiver<Int>(named: name, capacity: 2)
                    return try await receiver.receive()
                }
            }
            // Every receiver has reached its offload wait (if a wait blocked a cooperative thread
            // instead, these would never start and the loop would time out).
            let before = BlockingOffload.started.load(ordering: .relaxed)
            let deadline = Deadline.after(.seconds(30))
            while BlockingOffload.started.load(ordering: .relaxed) - before < names.count && !deadline.hasPassed {
                await Task.yield()
            }
            #expect(BlockingOffload.started.load(ordering: .relaxed) - before >= names.count)
            // This task needs a cooperative thread while every receiver is waiting.
            let progress = await Task { (0..<1000).reduce(0, +) }.value
            #expect(progress == 499_500)
            for (index, name) in names.enumerated() {
                var sender = try ChannelSender<Int>(named: name)
                try await sender.send(index)
            }
            var sum = 0
            for try await value in group { sum += value }
            #expect(sum == names.indices.reduce(0, +))
        }
    }

    @Test func cancellationEndsAWait() async throws {
        let name = uniqueName("cancel")
        defer { try? SharedMemory.remove(named: name) }
        let task = Task.detached {
            var receiver = try ChannelReceiver<Int>(named: name, capacity: 2)
            return try await receiver.receive()
        }
        // Let the task reach its wait; cancellation must end it either way.
        try await Task.sleep(for: .milliseconds(20))
        task.cancel()
        await #expect(throws: ChannelError.cancelled) { try await task.value }
    }

    /// The async operations throw `ChannelError` itself: a `catch` binds it with no cast, and a
    /// cancelled wait is `ChannelError.cancelled` (the element was not sent).
    @Test func asyncErrorsAreTypedAndCancellationIsAChannelError() async throws {
        let name = uniqueName("typed")
        defer { try? SharedMemory.remove(named: name) }
        var receiver = try ChannelReceiver<Int>(named: name, capacity: 2)
        let sending = Task.detached { () async -> ChannelError? in
            do throws(ChannelError) {
                var sender = try ChannelSender<Int>(named: name, mode: .open)
                while try sender.trySend(0) {}
                try await sender.send(1)  // the ring is full: waits until cancelled
                return nil
            } catch {
                let typed: ChannelError = error
                return typed
            }
        }
        try await Task.sleep(for: .milliseconds(20))
        sending.cancel()
        #expect(await sending.value == .cancelled)
        // Only the two messages that fitted were sent; the sender is gone (closed) since.
        #expect(try receiver.tryReceive() == 0)
        #expect(try receiver.tryReceive() == 0)
        #expect(throws: ChannelError.closed) { try receiver.tryReceive() }
    }

    /// A cancelled iteration throws `ChannelError.cancelled` and loses nothing: the task that
    /// owns the sequence iterates it again and gets what was sent meanwhile.
    @Test func cancelledIterationLosesNoMessage() async throws {
        final class Flags: Sendable {
            let cancelled = Atomic<Bool>(false)
            let sent = Atomic<Bool>(false)
        }
        let name = uniqueName("iter-cancel")
        defer { try? SharedMemory.remove(named: name) }
        let messages = try ChannelReceiver<Int>(named: name, capacity: 4).messages()
        var sender = try ChannelSender<Int>(named: name, mode: .open)
        let flags = Flags()
        // The sequence is given away to the iterating task: it is not Sendable, so the task
        // that gave it cannot touch it any more.
        let iteration = Task.detached { () async -> (ChannelError?, [Int]) in
            var first: ChannelError? = nil
            do throws(ChannelError) {
                for try await message in messages { Issue.record("received \(message)") }
            } catch {
                first = error
            }
            // Relaxed flags: test choreography; the channel orders the messages.
            flags.cancelled.store(true, ordering: .relaxed)
            // A cancelled task's `Task.sleep` throws at once: yield instead (never block a
            // cooperative thread).
            while !flags.sent.load(ordering: .relaxed) { await Task.yield() }
            var received: [Int] = []
            do throws(ChannelError) {
                for try await message in messages { received.append(message) }
            } catch {
                Issue.record("second iteration: \(error)")
            }
            return (first, received)
        }
        try await Task.sleep(for: .milliseconds(20))
        iteration.cancel()
        while !flags.cancelled.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(1)) }
        #expect(try sender.trySend(7))
        sender.close()
        flags.sent.store(true, ordering: .relaxed)
        let (error, received) = await iteration.value
        #expect(error == .cancelled)
        #expect(received == [7])
    }

    /// The iterator runs in its caller's isolation: an actor iterates a sequence it owns
    /// without sending it anywhere.
    @Test func anActorIteratesTheMessagesItOwns() async throws {
        actor Collector {
            var messages: ChannelMessages<Int>
            init(_ messages: consuming ChannelMessages<Int>) { self.messages = messages }
            func collect() async throws(ChannelError) -> [Int] {
                var received: [Int] = []
                for try await message in messages { received.append(message) }
                return received
            }
        }
        let name = uniqueName("actor")
        defer { try? SharedMemory.remove(named: name) }
        let collector = Collector(try ChannelReceiver<Int>(named: name, capacity: 4).messages())
        var sender = try ChannelSender<Int>(named: name, mode: .open)
        for i in 0..<3 { #expect(try sender.trySend(i)) }
        sender.close()
        #expect(try await collector.collect() == [0, 1, 2])
    }
}
