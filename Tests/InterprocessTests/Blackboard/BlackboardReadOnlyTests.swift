import Glibc
import Synchronization
import Testing

@_spi(Layout) @testable import Interprocess

/// A reader that opened its blackboard read-only (`O_RDONLY`, `PROT_READ`): it does everything a
/// reader does that needs no write, and never stores to the mapping (a store would be a
/// `SIGSEGV`, so each of these tests would crash the suite instead of failing). The other-user
/// case, where write permission is really missing, is in
/// `MultiProcessTests/BlackboardReadOnlyTests.swift`.
@Suite struct BlackboardReadOnlyTests {
    @Test func aReadOnlyReaderReadsListsAndSeesTheWriter() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var writer: BlackboardWriter? = try BlackboardWriter(
            named: name, configuration: BlackboardConfiguration(keyCapacity: 4), mode: .create,
            permissions: [.ownerReadWrite, .groupRead, .otherRead])
        let speed = try writer!.addKey("speed", as: Double.self, initialValue: 1.5)
        let reader = try BlackboardReader(named: name, access: .readOnly)
        #expect(reader.access == .readOnly && reader.segment.access == .readOnly)
        #expect(try BlackboardReader(named: name).access == .readWrite)
        #expect(try reader.value(forKey: "speed", as: Double.self) == 1.5)
        try writer!.write(2.5, to: speed)
        let key = try reader.key("speed", as: Double.self)
        let read = try #require(try reader.read(key))
        #expect(read.value == 2.5 && read.version == 2)
        #expect(try reader.version(of: key) == 2)
        #expect(
            throws: BlackboardError.typeMismatch(
                key: "speed", expected: ElementType(Int.self), found: ElementType(Double.self))
        ) {
            _ = try reader.value(forKey: "speed", as: Int.self)
        }
        try writer!.addKey("heading", as: Float.self, initialValue: 90)
        #expect(try reader.keys().map(\.name) == ["speed", "heading"])
        #expect(try reader.value(forKey: "heading", as: Float.self) == 90)
        #expect(reader.hasWriter)
        // The polling rule: an eighth of the time waited, 1 to 8 ms.
        #expect(BlackboardReader.readOnlyPollInterval(afterWaiting: .zero) == .milliseconds(1))
        #expect(BlackboardReader.readOnlyPollInterval(afterWaiting: .milliseconds(32)) == .milliseconds(4))
        #expect(BlackboardReader.readOnlyPollInterval(afterWaiting: .seconds(60)) == .milliseconds(8))
        writer = nil
        #expect(!reader.hasWriter)
        // The role stays free for a real writer: the read-only reader holds no lock.
        var successor = try BlackboardWriter(named: name)
        #expect(reader.hasWriter)
        try successor.write(3.5, to: try successor.key("speed", as: Double.self))
        #expect(try reader.value(key) == 3.5)
        // It is no registered user, and says so when asked to be one.
        #expect(throws: SharedMemoryError.readOnly(name: name)) { _ = try reader.segment.register(as: .opener) }
    }

    /// Waits poll (the reader cannot announce itself, so the writer does not wake it): a change
    /// and a new key are noticed within a few poll intervals, the sleeper counts stay zero, and
    /// a timeout is kept.
    @Test func aReadOnlyReaderWaitsForChangesAndKeysByPolling() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let writerBox = Mutex<BlackboardWriter?>(
            try BlackboardWriter(named: name, configuration: BlackboardConfiguration(keyCapacity: 4), mode: .create))
        let tick = try writerBox.withLock { try $0!.addKey("tick", as: UInt64.self, initialValue: 0) }
        let reader = try BlackboardReader(named: name, access: .readOnly)
        let key = try reader.key("tick", as: UInt64.self)
        // The key's wake word as a writable mapping shows it.
        let watcher = try BlackboardReader(named: name)
        let gate = watcher.storage.change(key.slot)

        let start = Deadline.now
        #expect(try reader.waitForChange(of: key, since: 1, timeout: .milliseconds(30)) == nil)
        #expect(millisecondsSince(start) >= 29)
        #expect(try reader.waitForChange(of: key, since: 0, timeout: .zero) == 1)

        let sleptMeanwhile = Atomic<UInt32>(0)
        let written = Atomic<UInt64>(0)
        let thread = TestThread {
            usleep(50_000)
            // Relaxed: a snapshot.
            sleptMeanwhile.store(gate.waiters.pointee.load(ordering: .relaxed), ordering: .relaxed)
            writerBox.withLock { _ = try? $0!.write(UInt64(5), to: tick) }
            written.store(Deadline.now.uptimeNanoseconds, ordering: .releasing)
        }
        defer { thread.join() }
        #expect(try reader.waitForChange(of: key, since: 1, timeout: .seconds(10)) == 2)
        let noticedAfter = Int64(Deadline.now.uptimeNanoseconds) - Int64(written.load(ordering: .acquiring))
        #expect(noticedAfter < 500_000_000, "noticed \(noticedAfter) ns after the write")
        #expect(sleptMeanwhile.load(ordering: .relaxed) == 0, "the read-only reader announced itself")
        withExtendedLifetime(watcher) {}
        #expect(try reader.value(key) == 5)

        // A key added later.
        #expect(try reader.waitForKey("late", as: Int.self, timeout: .milliseconds(20)) == nil)
        let adder = TestThread {
            usleep(30_000)
            writerBox.withLock { _ = try? $0!.addKey("late", as: Int.self, initialValue: 42) }
        }
        defer { adder.join() }
        let late = try #require(try reader.waitForKey("late", as: Int.self, timeout: .seconds(10)))
        #expect(try reader.value(late) == 42)
    }

    /// The polling is sleeps, not spinning: an idle read-only wait of 1 s costs its thread
    /// well under a tenth of a core (a futex wait that failed at once on the `PROT_READ`
    /// mapping would make it spin at 100 %).
    @Test func anIdleReadOnlyWaitSleeps() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var writer = try BlackboardWriter(
            named: name, configuration: BlackboardConfiguration(keyCapacity: 2), mode: .create)
        try writer.addKey("tick", as: UInt64.self, initialValue: 0)
        let reader = try BlackboardReader(named: name, access: .readOnly)
        let key = try reader.key("tick", as: UInt64.self)
        func threadCPUNanoseconds() -> Int64 {
            var time = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
            return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
        }
        let cpuBefore = threadCPUNanoseconds()
        let start = Deadline.now
        #expect(try reader.waitForChange(of: key, since: 1, timeout: .seconds(1)) == nil)
        let elapsed = millisecondsSince(start)
        let cpu = Double(threadCPUNanoseconds() - cpuBefore) / 1e6
        #expect(elapsed >= 999)
        #expect(cpu < 100, "an idle read-only wait of \(elapsed) ms used \(cpu) ms of CPU")
        print("blackboard read-only idle wait: \(cpu) ms of CPU over \(elapsed) ms")
    }

    /// How late a read-only wait notices a write that comes 2, 20 or 150 ms into the wait: an
    /// eighth of the time waited, 1 to 8 ms, plus scheduling (the figures are printed; the bound
    /// checked is loose, for loaded machines).
    @Test func aReadOnlyWaitNoticesAChangeWithinItsPollInterval() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let writerBox = Mutex<BlackboardWriter?>(
            try BlackboardWriter(named: name, configuration: BlackboardConfiguration(keyCapacity: 2), mode: .create))
        let tick = try writerBox.withLock { try $0!.addKey("tick", as: UInt64.self, initialValue: 0) }
        let reader = try BlackboardReader(named: name, access: .readOnly)
        let key = try reader.key("tick", as: UInt64.self)
        var report: [String] = []
        for delay in [2, 20, 150] {
            var late: [Double] = []
            for round in 0..<5 {
                let seen = try reader.version(of: key)
                let written = Atomic<UInt64>(0)
                let thread = TestThread {
                    usleep(UInt32(delay * 1000))
                    writerBox.withLock { _ = try? $0!.write(UInt64(round), to: tick) }
                    written.store(Deadline.now.uptimeNanoseconds, ordering: .releasing)
                }
                #expect(try reader.waitForChange(of: key, since: seen, timeout: .seconds(10)) != nil)
                let noticed = Deadline.now.uptimeNanoseconds
                thread.join()
                late.append(Double(Int64(noticed) - Int64(written.load(ordering: .acquiring))) / 1e6)
            }
            late.sort()
            #expect(late.last! < 200, "a change \(delay) ms into the wait was noticed \(late) ms late")
            report.append("\(delay) ms: median \(late[2]) max \(late[4])")
        }
        print("blackboard read-only wait, late by (ms) for a write ", report.joined(separator: "; "))
    }

    @Test func aWaitSetPollsAReadOnlyReadersKey() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let writerBox = Mutex<BlackboardWriter?>(
            try BlackboardWriter(named: name, configuration: BlackboardConfiguration(keyCapacity: 2), mode: .create))
        let tick = try writerBox.withLock { try $0!.addKey("tick", as: UInt64.self, initialValue: 0) }
        let reader = try BlackboardReader(named: name, access: .readOnly)
        let key = try reader.key("tick", as: UInt64.self)
        let watcher = try BlackboardReader(named: name)
        var waitSet = WaitSet()
        let token = try waitSet.add(changesOf: key, in: reader)
        #expect(waitSet.wait(timeout: .milliseconds(20)).isEmpty)
        let thread = TestThread {
            usleep(30_000)
            writerBox.withLock { _ = try? $0!.write(UInt64(5), to: tick) }
        }
        defer { thread.join() }
        let fired = waitSet.wait(timeout: .seconds(10))
        #expect(fired.map(\.token) == [token])
        #expect(watcher.storage.change(key.slot).waiters.pointee.load(ordering: .relaxed) == 0)
        #expect(waitSet.wait(timeout: .zero).isEmpty)
    }

    @Test func aReadOnlyAsyncWaitAndItsCancellation() async throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let writerBox = Mutex<BlackboardWriter?>(
            try BlackboardWriter(named: name, configuration: BlackboardConfiguration(keyCapacity: 2), mode: .create))
        let tick = try writerBox.withLock { try $0!.addKey("tick", as: UInt64.self, initialValue: 0) }
        let reader = try BlackboardReader(named: name, access: .readOnly)
        let key = try reader.key("tick", as: UInt64.self)
        let thread = TestThread {
            usleep(30_000)
            writerBox.withLock { _ = try? $0!.write(UInt64(5), to: tick) }
        }
        defer { thread.join() }
        #expect(try await reader.waitForChange(of: key, since: 1, timeout: .seconds(10)) == 2)
        let waiter = Task {
            let own = try BlackboardReader(named: name, access: .readOnly)
            let k = try own.key("tick", as: UInt64.self)
            return try await own.waitForChange(of: k, since: 2)
        }
        try await Task.sleep(for: .milliseconds(30))
        waiter.cancel()
        await #expect(throws: BlackboardError.cancelled) { _ = try await waiter.value }
    }

    /// Forged shared state gives a read-only reader the same typed errors as any reader.
    @Test func forgedStateIsATypedErrorReadOnly() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var writer = try BlackboardWriter(
            named: name, configuration: BlackboardConfiguration(keyCapacity: 2), mode: .create)
        try writer.addKey("tick", as: UInt64.self, initialValue: 1)
        let base = writer.core.storage.base
        base.storeBytes(of: UInt32(1000), toByteOffset: BlackboardLayout.keyCount, as: UInt32.self)
        let reader = try BlackboardReader(named: name, access: .readOnly)
        #expect {
            _ = try reader.keys()
        } throws: { error in
            guard case BlackboardError.corrupt = error else { return false }
            return true
        }
        base.storeBytes(of: UInt32(1), toByteOffset: BlackboardLayout.keyCount, as: UInt32.self)
        let entry = base + writer.core.storage.layout.entry(0)
        entry.storeBytes(of: UInt64.max, toByteOffset: BlackboardLayout.entrySlotOffset, as: UInt64.self)
        let fresh = try BlackboardReader(named: name, access: .readOnly)
        #expect {
            _ = try fresh.value(forKey: "tick", as: UInt64.self)
        } throws: { error in
            guard case BlackboardError.corrupt = error else { return false }
            return true
        }
    }
}
