import Testing
@testable import Interprocess

@Suite struct AsyncWaitTests {
    private func uniqueName(_ base: String) -> String {
        "\(base)-\(ProcessIdentity.current.pid)-\(UInt32.random(in: 0...UInt32.max))"
    }

    @Test func semaphoreAsyncWaitIsSignalled() async throws {
        let name = uniqueName("async-sem")
        defer { try? SharedMemory.remove(named: name) }
        let semaphore = try ProcessSemaphore(named: name, mode: .create)
        async let taken = semaphore.wait(timeout: .seconds(10))
        try semaphore.signal()
        #expect(try await taken)
        #expect(try await semaphore.wait(timeout: .milliseconds(30)) == false)
    }

    @Test func eventAsyncWaitAndCancellation() async throws {
        let name = uniqueName("async-event")
        defer { try? SharedMemory.remove(named: name) }
        let event = try ProcessEvent(named: name, resetMode: .manual, mode: .create)
        let waiter = Task { try await event.wait() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        let second = Task { try await event.wait(timeout: .seconds(10)) }
        event.set()
        #expect(try await second.value)
    }
}
