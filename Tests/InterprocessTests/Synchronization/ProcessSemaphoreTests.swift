import Testing

@testable import Interprocess

@Suite struct ProcessSemaphoreTests {
    @Test func initialValueAndTryWait() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let semaphore = try ProcessSemaphore(named: name, initialValue: 3, mode: .create)
        #expect(semaphore.segment.kind == .semaphore)
        #expect(semaphore.value == 3)
        #expect(semaphore.tryWait())
        #expect(semaphore.tryWait())
        #expect(semaphore.tryWait())
        #expect(!semaphore.tryWait())
        #expect(semaphore.value == 0)
        try semaphore.signal()
        #expect(semaphore.value == 1)
        #expect(semaphore.wait(timeout: .zero))
    }

    @Test func openingIgnoresTheInitialValue() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let created = try ProcessSemaphore(named: name, initialValue: 2)
        let opened = try ProcessSemaphore(named: name, initialValue: 5)
        #expect(!opened.segment.wasCreated)
        #expect(opened.value == 2)
        #expect(opened.tryWait())
        #expect(created.value == 1)
    }

    @Test func waitTimesOut() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let semaphore = try ProcessSemaphore(named: name)
        let start = Deadline.now
        #expect(!semaphore.wait(timeout: .milliseconds(50)))
        let elapsed = millisecondsSince(start)
        #expect(elapsed >= 50)
        #expect(elapsed < 5_000)
        #expect(semaphore.value == 0)
    }

    @Test func signalFromAnotherThreadReleasesTheWaiter() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let semaphore = try ProcessSemaphore(named: name)
        let results = Collector<Bool>()
        let tids = Collector<Int32>()
        let waiter = TestThread {
            tids.append(CurrentThread.id)
            results.append(semaphore.wait(timeout: .seconds(20)))
        }
        #expect(
            eventually {
                semaphore.gate.waiters.pointee.load(ordering: .relaxed) == 1 && tids.all.allSatisfy(threadIsSleeping)
            })
        try semaphore.signal()
        waiter.join()
        #expect(results.all == [true])
        #expect(semaphore.value == 0)
    }

    @Test func unitsAreNeitherLostNorDuplicated() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let semaphore = try ProcessSemaphore(named: name)
        let taken = Counter()
        let failures = Counter()
        onThreads(8) { index in
            for _ in 0..<250 {
                if index % 2 == 0 {
                    if (try? semaphore.signal()) == nil { failures.increment() }
                } else if semaphore.wait(timeout: .seconds(20)) {
                    taken.increment()
                } else {
                    failures.increment()
                }
            }
        }
        #expect(failures.current == 0)
        #expect(taken.current == 1_000)
        #expect(semaphore.value == 0)
    }

    @Test func signallingAtTheMaximumOverflows() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let semaphore = try ProcessSemaphore(named: name, initialValue: ProcessSemaphore.maximumValue)
        #expect(semaphore.value == ProcessSemaphore.maximumValue)
        #expect(throws: ProcessSemaphoreError.overflow) { try semaphore.signal() }
        #expect(semaphore.value == ProcessSemaphore.maximumValue)
        #expect(semaphore.tryWait())
        try semaphore.signal()
        #expect(throws: ProcessSemaphoreError.overflow) { try semaphore.signal() }
        #expect(!ProcessSemaphoreError.overflow.description.isEmpty)
    }

    @Test(arguments: [-1, Int.min, ProcessSemaphore.maximumValue + 1, Int.max])
    func invalidInitialValueCreatesNothing(value: Int) {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let error = sharedMemoryError { _ = try ProcessSemaphore(named: name, initialValue: value, mode: .create) }
        guard case let .invalidSize(reported, _)? = error else {
            Issue.record("expected invalidSize, got \(String(describing: error))")
            return
        }
        #expect(reported == value)
        #expect(!SharedMemory.exists(named: name))
    }
}
