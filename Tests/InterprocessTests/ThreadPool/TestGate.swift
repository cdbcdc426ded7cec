import Synchronization
@testable import Interprocess

/// A one-shot gate tests block on without sleeping: closed until `open()`.
final class TestGate: @unchecked Sendable {
    private let word = FutexWord.allocate(initialValue: 0)
    deinit { word.deallocate() }

    func open() {
        word.atomic.pointee.store(1, ordering: .releasing)
        word.wakeAll()
    }

    var isOpen: Bool { word.atomic.pointee.load(ordering: .acquiring) == 1 }

    /// Waits until open; returns false if `timeout` passed first (a hang guard only).
    @discardableResult
    func wait(timeout: Duration = .seconds(30)) -> Bool {
        let deadline = Deadline(timeout: timeout)
        while word.atomic.pointee.load(ordering: .acquiring) == 0 {
            if word.wait(expecting: 0, deadline: deadline) == .timedOut {
                return isOpen
            }
        }
        return true
    }
}

/// A counter shared between test threads.
final class TestCounter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

/// Occupies every worker of `pool` until the returned gate opens; returns once all run.
func occupyWorkers(of pool: ThreadPool) throws -> TestGate {
    let gate = TestGate()
    let started = TestCounter()
    let allStarted = TestGate()
    let n = pool.threadCount
    for _ in 0..<n {
        try pool.execute {
            started.increment()
            if started.count == n { allStarted.open() }
            gate.wait()
        }
    }
    allStarted.wait()
    return gate
}
