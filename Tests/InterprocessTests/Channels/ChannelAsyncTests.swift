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
}
