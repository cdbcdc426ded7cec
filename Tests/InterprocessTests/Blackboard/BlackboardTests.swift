import Glibc
import Synchronization
import Testing

@_spi(Layout) @testable import Interprocess

/// A 4 KiB value: every word the same counter when written whole.
struct BlackboardPage: BitwiseCopyable, StablyNamed {
    static let stableName = "interprocess.tests.BlackboardPage.v1"
    var words: InlineArray<512, UInt64>
    init(_ counter: UInt64) { words = InlineArray(repeating: counter) }
    var isUniform: Bool {
        let first = words[0]
        for i in words.indices where words[i] != first { return false }
        return true
    }
}

struct Celsius: BitwiseCopyable, StablyNamed {
    static let stableName = "interprocess.tests.Temperature.v1"
    var value: Double
}

/// The same stable name, another layout.
struct WideCelsius: BitwiseCopyable, StablyNamed {
    static let stableName = "interprocess.tests.Temperature.v1"
    var value: Double
    var error: Double
}

/// Single-process behaviour of blackboards: keys, types, versions, the writer role, waiting, and
/// what forged shared state gives. The multi-process and crash cases are in
/// `MultiProcessTests/BlackboardProcessTests.swift`.
@Suite struct BlackboardTests {
    /// The file offset of payload byte `offset`.
    func fileOffset(_ offset: Int) -> Int { HeaderLayout.size + offset }

    @Test func valuesWrittenAreReadWithTheirVersions() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var writer = try BlackboardWriter(
            named: name, configuration: BlackboardConfiguration(keyCapacity: 4), mode: .create)
        let speed = try writer.addKey("speed", as: Double.self)
        let reader = try BlackboardReader(named: name)
        #expect(try reader.value(forKey: "speed", as: Double.self) == nil)
        #expect(try writer.write(1.5, to: speed) == 1)
        #expect(try reader.value(forKey: "speed", as: Double.self) == 1.5)
        #expect(try writer.write(2.5, forKey: "speed") == 2)
        let key = try reader.key("speed", as: Double.self)
        let read = try #require(try reader.read(key))
        #expect(read.value == 2.5 && read.version == 2)
        #expect(try reader.version(of: key) == 2)
        #expect(reader.hasWriter)
        #expect(
            try reader.keys() == [BlackboardKeyInfo(name: "speed", valueType: ElementType(Double.self), version: 2)])
    }

    @Test func anInitialValueIsVersionOne() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var writer = try BlackboardWriter(named: name, configuration: BlackboardConfiguration(keyCapacity: 2))
        try writer.addKey("mode", as: UInt32.self, initialValue: 7)
        let reader = try BlackboardReader(named: name)
        let read = try #require(try reader.read(forKey: "mode", as: UInt32.self))
        #expect(read.value == 7 && read.version == 1)
        #expect(try writer.write(UInt32(8), forKey: "mode") == 2)
        #expect(try reader.value(forKey: "mode", as: UInt32.self) == 8)
    }

    @Test func keysAddedLaterAreFoundByAnOpenReader() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var writer = try BlackboardWriter(named: name, configuration: BlackboardConfiguration(keyCapacity: 8))
        let reader = try BlackboardReader(named: name)
        #expect(throws: BlackboardError.keyNotFound("later")) { _ = try reader.value(forKey: "later", as: Int.self) }
        for i in 0..<8 { try writer.addKey("k\(i)", as: Int.self, initialValue: i * 10) }
        for i in 0..<8 { #expect(try reader.value(forKey: "k\(i)", as: Int.self) == i * 10) }
        #expect(throws: BlackboardError.keyCapacityReached(maximum: 8)) { try writer.addKey("k8", as: Int.self) }
    }

    @Test func aKeyOfAnotherTypeIsATypedErrorNeverAReinterpretation() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var writer = try BlackboardWriter(named: name, configuration: BlackboardConfiguration(keyCapacity: 4))
        try writer.addKey("count", as: Int64.self, initialValue: -1)
        try writer.addKey("temperature", as: Celsius.self, initialValue: Celsius(value: 20))
        let reader = try BlackboardReader(named: name)
        #expect(
            throws: BlackboardError.typeMismatch(
                key: "count", expected: ElementType(UInt64.self), found: ElementType(Int64.self))
        ) { _ = try reader.value(forKey: "count", as: UInt64.self) }
        // Same stable name, other layout: refused too.
        #expect(
            throws: BlackboardError.typeMismatch(
                key: "temperature", expected: ElementType(WideCelsius.self), found: ElementType(Celsius.self))
        ) { _ = try reader.key("temperature", as: WideCelsius.self) }
        #expect(try reader.value(forKey: "temperature", as: Celsius.self)?.value == 20)
        // After a successful read as Int64, another type is still refused (the check is per type).
        #expect(try reader.value(forKey: "count", as: Int64.self) == -1)
        #expect(throws: BlackboardError.self) { _ = try reader.value(forKey: "count", as: Double.self) }
        // The writer refuses too, and adding the name with another type.
        #expect(throws: BlackboardError.self) { try writer.write(1.0, forKey: "count") }
        #expect(throws: BlackboardError.self) { try writer.addKey("count", as: UInt64.self) }
        // Re-adding with the same type returns the key and keeps its value.
        let again = try writer.addKey("count", as: Int64.self, initialValue: 99)
        #expect(try reader.value(forKey: "count", as: Int64.self) == -1)
        try writer.write(5, to: again)
        #expect(try reader.value(forKey: "count", as: Int64.self) == 5)
    }

    @Test func namesAndSpaceAreChecked() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var writer = try BlackboardWriter(
            named: name, configuration: BlackboardConfiguration(keyCapacity: 8, valueSpace: 2 * 192))
        for bad in ["", "has space", String(repeating: "x", count: 49), "ünïcode", "semi;colon"] {
            #expect(throws: BlackboardError.self) { try writer.addKey(bad, as: Int.self) }
        }
        try writer.addKey(String(repeating: "x", count: 48), as: Int.self)
        try writer.addKey("ok.name_with-all:chars/1", as: Int.self)
        // Two 192-byte slots fill 384 bytes.
        #expect(throws: BlackboardError.valueSpaceExhausted(needed: 64 + 2 * 4096, available: 0)) {
            try writer.addKey("page", as: BlackboardPage.self)
        }
        #expect(throws: BlackboardError.self) {
            _ = try BlackboardWriter(named: uniqueName(), configuration: BlackboardConfiguration(keyCapacity: 0))
        }
        #expect(throws: BlackboardError.self) {
            _ = try BlackboardWriter(
                named: uniqueName(), configuration: BlackboardConfiguration(keyCapacity: 1, valueSpace: 100))
        }
    }

    @Test func oneWriterAtATimeAndTheNextTakesOver() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var first: BlackboardWriter? = try BlackboardWriter(
            named: name, configuration: BlackboardConfiguration(keyCapacity: 4))
        _ = try first!.addKey("a", as: Int.self, initialValue: 1)
        #expect(throws: BlackboardError.writerActive) { _ = try BlackboardWriter(named: name) }
        first = nil
        let reader = try BlackboardReader(named: name)
        #expect(!reader.hasWriter)
        var second = try BlackboardWriter(named: name)
        #expect(reader.hasWriter)
        #expect(second.keys.map(\.name) == ["a"])
        #expect(try second.write(2, forKey: "a") == 2)
        try second.addKey("b", as: Int.self, initialValue: 3)
        #expect(try reader.value(forKey: "a", as: Int.self) == 2)
        #expect(try reader.value(forKey: "b", as: Int.self) == 3)
        second.close()
        #expect(!reader.hasWriter)
    }

    @Test func aConfigurationMismatchIsRefused() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        do {
            _ = try BlackboardWriter(named: name, configuration: BlackboardConfiguration(keyCapacity: 4))
        }
        #expect(throws: BlackboardError.self) {
            _ = try BlackboardWriter(named: name, configuration: BlackboardConfiguration(keyCapacity: 5))
        }
        #expect(throws: BlackboardError.segment(.notFound(name: name + "-absent"))) {
            _ = try BlackboardReader(named: name + "-absent")
        }
    }

    @Test func aKeyHandleBelongsToItsMaker() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var writer = try BlackboardWriter(named: name, configuration: BlackboardConfiguration(keyCapacity: 2))
        let written = try writer.addKey("x", as: Int.self, initialValue: 1)
        let reader = try BlackboardReader(named: name)
        let other = try BlackboardReader(named: name)
        let key = try reader.key("x", as: Int.self)
        #expect(throws: BlackboardError.foreignKey("x")) { _ = try other.read(key) }
        #expect(throws: BlackboardError.foreignKey("x")) { _ = try reader.read(written) }
        #expect(throws: BlackboardError.foreignKey("x")) { try writer.write(2, to: key) }
    }

    // MARK: - Waiting

    @Test func waitingForAChangeTimesOutAndWakesOnAWrite() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let writerBox = Mutex<BlackboardWriter?>(
            try BlackboardWriter(named: name, configuration: BlackboardConfiguration(keyCapacity: 2)))
        let key = try writerBox.withLock { try $0!.addKey("tick", as: UInt64.self, initialValue: 0) }
        let reader = try BlackboardReader(named: name)
        let readerKey = try reader.key("tick", as: UInt64.self)
        let start = Deadline.now
        #expect(try reader.waitForChange(of: readerKey, since: 1, timeout: .milliseconds(30)) == nil)
        #expect(millisecondsSince(start) >= 29)
        // A version other than the one seen returns at once.
        #expect(try reader.waitForChange(of: readerKey, since: 0, timeout: .zero) == 1)
        let thread = TestThread {
            usleep(50_000)
            writerBox.withLock { _ = try? $0!.write(UInt64(5), to: key) }
        }
        defer { thread.join() }
        #expect(try reader.waitForChange(of: readerKey, since: 1, timeout: .seconds(10)) == 2)
        #expect(try reader.value(readerKey) == 5)
        // The wait set's view: the wake word and the readiness check.
        #expect(reader.hasChanged(readerKey, since: 1))
        #expect(!reader.hasChanged(readerKey, since: 2))
        _ = try reader.changeWake(of: readerKey)
    }

    @Test func asyncWaitForAChangeAndCancellation() async throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let writerBox = Mutex<BlackboardWriter?>(
            try BlackboardWriter(named: name, configuration: BlackboardConfiguration(keyCapacity: 2)))
        let key = try writerBox.withLock { try $0!.addKey("tick", as: UInt64.self, initialValue: 0) }
        let reader = try BlackboardReader(named: name)
        let readerKey = try reader.key("tick", as: UInt64.self)
        #expect(try await reader.waitForChange(of: readerKey, since: 1, timeout: .milliseconds(20)) == nil)
        let thread = TestThread {
            usleep(30_000)
            writerBox.withLock { _ = try? $0!.write(UInt64(5), to: key) }
        }
        defer { thread.join() }
        #expect(try await reader.waitForChange(of: readerKey, since: 1, timeout: .seconds(10)) == 2)
        let waiter = Task {
            let own = try BlackboardReader(named: name)
            let k = try own.key("tick", as: UInt64.self)
            return try await own.waitForChange(of: k, since: 2)
        }
        try await Task.sleep(for: .milliseconds(30))
        waiter.cancel()
        await #expect(throws: BlackboardError.cancelled) { _ = try await waiter.value }
    }

    @Test func waitingForAKeyTheWriterAddsLater() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let writerBox = Mutex<BlackboardWriter?>(
            try BlackboardWriter(named: name, configuration: BlackboardConfiguration(keyCapacity: 2)))
        let reader = try BlackboardReader(named: name)
        #expect(try reader.waitForKey("late", as: Int.self, timeout: .milliseconds(20)) == nil)
        let thread = TestThread {
            usleep(30_000)
            writerBox.withLock { _ = try? $0!.addKey("late", as: Int.self, initialValue: 42) }
        }
        defer { thread.join() }
        let key = try #require(try reader.waitForKey("late", as: Int.self, timeout: .seconds(10)))
        #expect(try reader.value(key) == 42)
    }

    // MARK: - Torn values and hostile state

    @Test func concurrentReadersNeverSeeATornValue() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var writer = try BlackboardWriter(
            named: name,
            configuration: BlackboardConfiguration(
                keyCapacity: 1, valueSpace: BlackboardConfiguration.bytesNeeded(forValueOfSize: 4096)))
        let key = try writer.addKey("page", as: BlackboardPage.self, initialValue: BlackboardPage(0))
        let stop = Atomic<Bool>(false)
        let torn = Atomic<Int>(0)
        let reads = Atomic<Int>(0)
        let readers = (0..<2).map { _ in
            TestThread {
                guard let reader = try? BlackboardReader(named: name),
                    let k = try? reader.key("page", as: BlackboardPage.self)
                else {
                    torn.add(1_000_000, ordering: .relaxed)
                    return
                }
                var last: UInt64 = 0
                while !stop.load(ordering: .relaxed) {
                    guard let read = try? reader.read(k) else { continue }
                    if !read.value.isUniform || read.value.words[0] + 1 != read.version || read.version < last {
                        torn.add(1, ordering: .relaxed)
                    }
                    last = read.version
                    reads.add(1, ordering: .relaxed)
                }
            }
        }
        for counter in 1..<20_000 as Range<UInt64> { try writer.write(BlackboardPage(counter), to: key) }
        stop.store(true, ordering: .relaxed)
        for thread in readers { thread.join() }
        #expect(torn.load(ordering: .relaxed) == 0)
        #expect(reads.load(ordering: .relaxed) > 0)
    }

    /// A writer that dies mid-write has written the unpublished buffer (and maybe its stamp), not
    /// the version: readers keep reading the published value, and the next writer's write
    /// replaces the half-written buffer.
    @Test func aHalfWrittenBufferIsNeverPublished() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var writer: BlackboardWriter? = try BlackboardWriter(
            named: name, configuration: BlackboardConfiguration(keyCapacity: 1))
        try writer!.addKey("v", as: UInt64.self, initialValue: 11)  // version 1, buffer 1
        writer = nil
        let layout = BlackboardLayout(configuration: BlackboardConfiguration(keyCapacity: 1))
        let slot = layout.valueArea
        // Buffer 0 (version 2's) half written, stamped, unpublished.
        try overwrite(backingPath(name), at: fileOffset(slot + 64), value: UInt64(0xdead_beef))
        try overwrite(backingPath(name), at: fileOffset(slot + BlackboardLayout.slotStamps), value: UInt64(2))
        let reader = try BlackboardReader(named: name)
        #expect(try reader.read(forKey: "v", as: UInt64.self)?.value == 11)
        var next = try BlackboardWriter(named: name)
        #expect(try next.write(UInt64(12), forKey: "v") == 2)
        #expect(try reader.value(forKey: "v", as: UInt64.self) == 12)
    }

    @Test func forgedVersionAndDirectoryWordsAreTypedErrors() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let configuration = BlackboardConfiguration(keyCapacity: 2)
        do {
            var writer = try BlackboardWriter(named: name, configuration: configuration)
            try writer.addKey("v", as: UInt64.self, initialValue: 1)
        }
        let layout = BlackboardLayout(configuration: configuration)
        let path = backingPath(name)
        // A version its buffer's stamp contradicts.
        try overwrite(path, at: fileOffset(layout.valueArea), value: UInt64(7))
        var reader = try BlackboardReader(named: name)
        #expect {
            _ = try reader.value(forKey: "v", as: UInt64.self)
        } throws: { error in
            guard case BlackboardError.corrupt = error else { return false }
            return true
        }
        try overwrite(path, at: fileOffset(layout.valueArea), value: UInt64(1))
        #expect(try reader.value(forKey: "v", as: UInt64.self) == 1)

        // A key count beyond the capacity.
        try overwrite(path, at: fileOffset(BlackboardLayout.keyCount), value: UInt32(3))
        reader = try BlackboardReader(named: name)
        #expect(throws: BlackboardError.corrupt("the key count 3 exceeds the capacity 2")) {
            _ = try reader.value(forKey: "v", as: UInt64.self)
        }
        #expect(throws: BlackboardError.self) { _ = try BlackboardWriter(named: name) }
        try overwrite(path, at: fileOffset(BlackboardLayout.keyCount), value: UInt32(1))

        // Entries out of bounds: each field in turn.
        let entry = fileOffset(layout.entry(0))
        let forgeries: [(Int, [UInt8])] = [
            (BlackboardLayout.entryNameLength, [0, 0, 0, 0]),
            (BlackboardLayout.entryNameLength, [200, 0, 0, 0]),
            (BlackboardLayout.entryTypeNameLength, [65, 0, 0, 0]),
            (BlackboardLayout.entryName, [0x20]),
            (BlackboardLayout.entryValueSize, [0xff, 0xff, 0xff, 0x7f]),
            (BlackboardLayout.entryValueAlignment, [3, 0, 0, 0]),
            (BlackboardLayout.entrySlotOffset, [0x40, 0, 0, 0, 0, 0, 0, 0x10]),
            (BlackboardLayout.entrySlotOffset, [1, 0, 0, 0, 0, 0, 0, 0])
        ]
        for (field, bytes) in forgeries {
            let original = try readFile(path, at: entry + field, count: bytes.count)
            try overwrite(path, at: entry + field, with: bytes)
            let fresh = try BlackboardReader(named: name)
            #expect(throws: BlackboardError.self, "field \(field) = \(bytes)") {
                _ = try fresh.value(forKey: "v", as: UInt64.self)
            }
            #expect(throws: BlackboardError.self) { _ = try BlackboardWriter(named: name) }
            try overwrite(path, at: entry + field, with: original)
        }
        #expect(try BlackboardReader(named: name).value(forKey: "v", as: UInt64.self) == 1)
    }

    /// A version word that changes on every read ends the read after a bounded effort.
    @Test func aVersionThatNeverSettlesIsValueUnstable() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        var writer = try BlackboardWriter(named: name, configuration: BlackboardConfiguration(keyCapacity: 1))
        try writer.addKey("v", as: UInt64.self, initialValue: 1)
        let reader = try BlackboardReader(named: name)
        let key = try reader.key("v", as: UInt64.self)
        let storage = reader.storage
        let slot = key.slot
        let stop = Atomic<Bool>(false)
        let scribbler = TestThread {
            var v: UInt64 = 1
            while !stop.load(ordering: .relaxed) {
                v &+= 1
                storage.version(slot).pointee.store(v, ordering: .relaxed)
            }
        }
        defer {
            stop.store(true, ordering: .relaxed)
            scribbler.join()
        }
        let start = Deadline.now
        var outcomes: Set<String> = []
        for _ in 0..<20 {
            do { _ = try reader.read(key) } catch { outcomes.insert("\(error)") }
        }
        // Every read ended (with a typed error or, when it caught the word between two stores
        // with a matching stamp, a value), well within a second each.
        #expect(millisecondsSince(start) < 20_000)
        #expect(outcomes.allSatisfy { $0.contains("attempts") || $0.contains("corrupt") })
    }
}

/// `count` bytes at `offset` of the file at `path`.
func readFile(_ path: String, at offset: Int, count: Int) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    try #require(fd >= 0)
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: count)
    let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, count, off_t(offset)) }
    try #require(n == count)
    return bytes
}
