import Glibc
import Testing

@_spi(Layout) @testable import Interprocess

@Suite struct ProcessEventTests {
    @Test func manualEventReleasesAllWaitersAndStaysSet() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let event = try ProcessEvent(named: name, resetMode: .manual, mode: .create)
        #expect(event.resetMode == .manual)
        #expect(!event.isSet)
        let results = Collector<Bool>()
        let waiters = (0..<3).map { _ in TestThread { results.append(event.wait(timeout: .seconds(20))) } }
        #expect(eventually { event.gate.waiters.pointee.load(ordering: .relaxed) == 3 })
        event.set()
        for waiter in waiters { waiter.join() }
        #expect(results.all == [true, true, true])
        // Stays set until reset.
        #expect(event.isSet)
        #expect(event.tryWait())
        #expect(event.tryWait())
        #expect(event.wait(timeout: .zero))
        event.reset()
        #expect(!event.isSet)
        #expect(!event.tryWait())
        let start = Deadline.now
        #expect(!event.wait(timeout: .milliseconds(50)))
        #expect(millisecondsSince(start) >= 50)
    }

    @Test func autoEventReleasesExactlyOneWaiterPerSet() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let event = try ProcessEvent(named: name, resetMode: .automatic, mode: .create)
        let released = Counter()
        let waiters = (0..<3).map { _ in
            TestThread { if event.wait(timeout: .seconds(20)) { released.increment() } }
        }
        #expect(eventually { event.gate.waiters.pointee.load(ordering: .relaxed) == 3 })
        for round in 1...3 {
            event.set()
            #expect(eventually { released.current == round })
            usleep(100_000)
            #expect(released.current == round, "one set released more than one waiter")
            #expect(!event.isSet, "the released waiter consumed the set")
        }
        for waiter in waiters { waiter.join() }
    }

    @Test func autoEventSetWithoutWaitersIsConsumedOnce() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let event = try ProcessEvent(named: name, resetMode: .automatic)
        event.set()
        event.set()
        #expect(event.isSet)
        #expect(event.tryWait())
        #expect(!event.tryWait())
        #expect(!event.wait(timeout: .milliseconds(10)))
    }

    @Test func initiallySet() throws {
        let name = uniqueName()
        defer {
            removeQuietly(name)
            removeQuietly(name + ".auto")
        }
        let manual = try ProcessEvent(named: name, initiallySet: true)
        #expect(manual.isSet && manual.tryWait() && manual.tryWait())
        let auto = try ProcessEvent(named: name + ".auto", resetMode: .automatic, initiallySet: true)
        #expect(auto.tryWait())
        #expect(!auto.tryWait())
    }

    @Test func resetModeIsRecordedAndCheckedOnOpen() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let created = try ProcessEvent(named: name, resetMode: .automatic, mode: .create)
        #expect(created.segment.wasCreated)
        let any = try ProcessEvent(named: name, resetMode: nil, mode: .open)
        #expect(any.resetMode == .automatic)
        let same = try ProcessEvent(named: name, resetMode: .automatic, mode: .open)
        #expect(same.resetMode == .automatic)
        #expect(
            sharedMemoryError { _ = try ProcessEvent(named: name, resetMode: .manual) }
                == .mismatch(name: name, .configuration("reset mode automatic, not manual")))
        // Setting through one handle is seen through another.
        created.set()
        #expect(any.tryWait())
        #expect(!same.tryWait())
    }

    @Test func corruptResetModeIsCorruptHeader() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try ProcessEvent(named: name, mode: .create)
        // The mode word is payload (after the header), not checksummed header.
        try overwrite(backingPath(name), at: HeaderLayout.size + 8, value: UInt32(7))
        let error = sharedMemoryError { _ = try ProcessEvent(named: name, resetMode: nil) }
        guard case let .corruptContents(reported, detail)? = error else {
            Issue.record("expected corruptHeader, got \(String(describing: error))")
            return
        }
        #expect(reported == name)
        #expect(detail.contains("reset mode 7"))
    }
}
