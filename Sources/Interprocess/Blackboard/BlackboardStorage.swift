import Synchronization
import SystemPackage

/// One handle's view of a blackboard: its segment (opened by the handle itself, so its locks are
/// its own), the layout checked against the mapping, and the seqlock reads and writes of the
/// keys' slots.
///
/// Every address is computed from the checked layout and from directory entries validated by
/// ``entry(at:)``; a value read from the payload is never used as an address before that.
@usableFromInline
final class BlackboardStorage: @unchecked Sendable {
    // @unchecked Sendable: every stored property is immutable; the shared words are atomics
    // and the value buffers are read only through the seqlock.
    let segment: SharedMemory
    let layout: BlackboardLayout
    @usableFromInline let base: UnsafeMutableRawPointer
    /// This handle's identity, recorded in the key handles it makes.
    @usableFromInline let token: UInt64
    let name: String
    /// Whether the segment is mapped read-only (``SharedMemory/Access/readOnly``): then nothing
    /// here may store to it, so waits poll instead of announcing themselves (see
    /// ``sleep(on:until:waitingSince:unless:)``).
    let isReadOnly: Bool

    /// The fewest attempts a consistent read makes before ``BlackboardError/valueUnstable(key:attempts:)``.
    static let minimumReadAttempts = 4096
    /// The shortest time a consistent read keeps trying before that error: a descheduled reader
    /// or a saturated machine can see thousands of attempts overtaken by a legitimate writer in
    /// a row, seldom for this long.
    static let minimumReadEffort: Duration = .milliseconds(50)
    /// How long one sleep of a wait lasts at most before the segment is checked for damage.
    static let waitSlice: Duration = .milliseconds(100)
    /// The shortest and the longest sleep of a read-only handle's wait (see
    /// ``readOnlyPollInterval(afterWaiting:)``).
    static let readOnlyPollBounds = (shortest: Duration.milliseconds(1), longest: Duration.milliseconds(8))

    /// How long one sleep of a read-only handle's wait lasts before it re-checks, once the wait
    /// has lasted `waited`: an eighth of that, 1 to 8 ms.
    ///
    /// Such a handle cannot announce itself to the writer (the announcement is a store), so the
    /// writer's wake reaches it only when a read-write sleeper on the same word makes the writer
    /// wake; otherwise it notices a change by polling, late by an eighth of the time it had
    /// waited at most (1 ms at least, 8 ms at most). Prompt while changes come often, and
    /// about 125 wake-ups a second while none comes.
    static func readOnlyPollInterval(afterWaiting waited: Duration) -> Duration {
        min(max(waited / 8, readOnlyPollBounds.shortest), readOnlyPollBounds.longest)
    }

    /// Opens or creates the blackboard `name` (only opens it, with `access` ``SharedMemory/Access/readOnly``).
    init(
        name: String, configuration: BlackboardConfiguration?, mode: SharedMemory.OpenMode,
        permissions: FilePermissions, lifetime: SharedMemory.Lifetime, owners: SharedMemory.OwnerPolicy,
        timeout: Duration, access: SharedMemory.Access = .readWrite
    ) throws(BlackboardError) {
        if let configuration, let problem = configuration.problem { throw .invalidConfiguration(problem) }
        if configuration == nil && mode == .create {
            throw .invalidConfiguration("a configuration is required to create a blackboard")
        }
        let mode: SharedMemory.OpenMode = configuration == nil || access == .readOnly ? .open : mode
        let created = BlackboardLayout(configuration: configuration ?? BlackboardConfiguration(keyCapacity: 1))
        // Opening without a configuration expects nothing of the size: the header's layout is
        // checked against the mapping below.
        let layout = SharedMemory.Layout(
            kind: .blackboard, payloadSize: configuration == nil ? 0 : created.payloadSize,
            capacity: created.keyCapacity, elementType: .none, kindParameters: created.kindParameters,
            checksCapacity: false, lifetime: lifetime)
        let segment: SharedMemory
        do {
            segment = try SharedMemory(
                name: try SegmentName(name), mode: mode, layout: layout, permissions: permissions, owners: owners,
                timeout: timeout, access: access,
                // Every word starts at zero: no key, no writer generation, no sleeper.
                initialize: { _ in })
        } catch {
            throw .segment(error)
        }
        guard let found = BlackboardLayout(kindParameters: segment.kindParameters),
            found.payloadSize <= segment.bytes.count
        else {
            throw .corrupt("the header's blackboard geometry is out of bounds or larger than the segment")
        }
        if let configuration, configuration != found.configuration {
            throw .segment(.mismatch(name: name, .configuration("\(found.configuration), not \(configuration)")))
        }
        self.segment = segment
        self.layout = found
        self.base = segment.bytes.baseAddress!
        self.token = UInt64.random(in: 1...UInt64.max)
        self.name = name
        self.isReadOnly = access == .readOnly
    }

    func atomic<T: AtomicRepresentable>(_ offset: Int, _: T.Type = T.self) -> UnsafeMutablePointer<Atomic<T>> {
        (base + offset).assumingMemoryBound(to: Atomic<T>.self)
    }

    // MARK: - The directory

    /// What a directory entry says, validated.
    struct Entry: Sendable, Equatable {
        var name: String
        var type: ElementType
        /// The slot's offset from the payload's start.
        var slot: Int
    }

    /// The number of complete directory entries.
    /// - Throws: ``BlackboardError/corrupt(_:)`` when the count exceeds the key capacity.
    func publishedKeyCount() throws(BlackboardError) -> Int {
        // SYNC POINT: acquiring; pairs with the writer's releasing store after it wrote the
        // entries below the count, so their bytes are complete when read.
        let count = Int(atomic(BlackboardLayout.keyCount, UInt32.self).pointee.load(ordering: .acquiring))
        guard count <= layout.keyCapacity else {
            throw .corrupt("the key count \(count) exceeds the capacity \(layout.keyCapacity)")
        }
        return count
    }

    /// Directory entry `i` (below the published count), every field checked.
    /// - Throws: ``BlackboardError/corrupt(_:)`` for a name, type or slot out of bounds.
    func entry(at i: Int) throws(BlackboardError) -> Entry {
        try BlackboardStorage.entry(at: i, payload: UnsafeRawPointer(base), layout: layout)
    }

    /// Directory entry `i` of the payload at `base` of `layout`, every field checked (also for
    /// inspection, on a read-only mapping).
    static func entry(at i: Int, payload base: UnsafeRawPointer, layout: BlackboardLayout) throws(BlackboardError)
        -> Entry
    {
        let e = base + layout.entry(i)
        func word(_ offset: Int) -> Int { Int(e.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
        let nameLength = word(BlackboardLayout.entryNameLength)
        let typeNameLength = word(BlackboardLayout.entryTypeNameLength)
        guard nameLength >= 1, nameLength <= BlackboardLayout.maximumKeyNameLength,
            typeNameLength <= ElementType.maximumNameLength
        else {
            throw .corrupt("directory entry \(i) has a name of \(nameLength) bytes or a type name of \(typeNameLength)")
        }
        let name = String(
            decoding: UnsafeRawBufferPointer(start: e + BlackboardLayout.entryName, count: nameLength), as: UTF8.self)
        guard BlackboardStorage.problem(withKeyName: name) == nil, name.utf8.count == nameLength else {
            throw .corrupt("directory entry \(i) has an invalid key name")
        }
        let typeName = String(
            decoding: UnsafeRawBufferPointer(start: e + BlackboardLayout.entryTypeName, count: typeNameLength),
            as: UTF8.self)
        let size = word(BlackboardLayout.entryValueSize)
        let stride = word(BlackboardLayout.entryValueStride)
        let alignment = word(BlackboardLayout.entryValueAlignment)
        guard typeName.utf8.count == typeNameLength, size <= stride, stride >= 1,
            stride <= BlackboardConfiguration.maximumValueSpace, alignment >= 1,
            alignment <= BlackboardLayout.maximumValueAlignment, alignment & (alignment - 1) == 0,
            stride % alignment == 0
        else {
            throw .corrupt("directory entry \(i) ('\(name)') has an invalid value type")
        }
        let slot = e.loadUnaligned(fromByteOffset: BlackboardLayout.entrySlotOffset, as: UInt64.self)
        let slotSize = BlackboardLayout.slotSize(valueSize: size)
        guard slot % 64 == 0, slot <= UInt64(layout.valueSpace), slotSize <= layout.valueSpace - Int(slot) else {
            throw .corrupt("directory entry \(i) ('\(name)') has its slot at \(slot), outside the value space")
        }
        return Entry(
            name: name, type: ElementType(name: typeName, size: size, stride: stride, alignment: alignment),
            slot: layout.valueArea + Int(slot))
    }

    /// Why `name` cannot name a key, or `nil` if it can: 1 to 48 bytes of ASCII letters,
    /// digits and `._-:/`.
    static func problem(withKeyName name: String) -> String? {
        let bytes = name.utf8
        if bytes.isEmpty { return "a key name cannot be empty" }
        if bytes.count > BlackboardLayout.maximumKeyNameLength {
            return "a key name has at most \(BlackboardLayout.maximumKeyNameLength) bytes, not \(bytes.count)"
        }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"),
                UInt8(ascii: ":"), UInt8(ascii: "/"):
                continue
            default:
                return "a key name has only ASCII letters, digits and . _ - : /"
            }
        }
        return nil
    }

    // MARK: - A slot's words

    @usableFromInline
    func version(_ slot: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        atomic(slot + BlackboardLayout.slotVersion)
    }
    @usableFromInline
    func stamp(_ slot: Int, buffer b: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        atomic(slot + BlackboardLayout.slotStamps + 8 * b)
    }
    func change(_ slot: Int) -> WaiterGatedWake { WaiterGatedWake(at: base + slot + BlackboardLayout.slotChange) }
    var keysChanged: WaiterGatedWake { WaiterGatedWake(at: base + BlackboardLayout.keysChanged) }

    /// The published version of the value at `slot` (0: none yet).
    @usableFromInline
    func currentVersion(_ slot: Int) -> UInt64 {
        // Acquiring: a caller that sees a new version and then reads sees that version or later.
        version(slot).pointee.load(ordering: .acquiring)
    }

    // MARK: - The seqlock

    /// The size of each of a slot's buffers for a value of `size` bytes (``BlackboardLayout``'s
    /// rule, inlinable).
    @usableFromInline static let slotHeaderSize = BlackboardLayout.slotHeaderSize

    /// Copies `byteCount` bytes of the buffer at `buffer` (64-byte aligned, its size rounded up to
    /// 64) into `destination`, in relaxed 8-byte atomic loads: the writer may be writing the
    /// buffer meanwhile, and a copy it overtakes is discarded, but the race itself must be one
    /// the memory model (and the thread sanitizer) allows. The last word may reach into the
    /// buffer's padding; only `byteCount` bytes are stored.
    @inlinable @inline(__always)
    static func load(_ buffer: UnsafeMutableRawPointer, into destination: UnsafeMutableRawPointer, byteCount: Int) {
        let words = buffer.assumingMemoryBound(to: Atomic<UInt64>.self)
        let whole = byteCount / 8
        for i in 0..<whole {
            // Relaxed: ordered by the caller's fence and version loads.
            destination.storeBytes(
                of: (words + i).pointee.load(ordering: .relaxed), toByteOffset: 8 * i, as: UInt64.self)
        }
        let rest = byteCount % 8
        if rest > 0 {
            // Relaxed: as above.
            let last = (words + whole).pointee.load(ordering: .relaxed)
            withUnsafeBytes(of: last) { (destination + 8 * whole).copyMemory(from: $0.baseAddress!, byteCount: rest) }
        }
    }

    /// Copies `byteCount` bytes from `source` into the buffer at `buffer`, in relaxed 8-byte
    /// atomic stores (readers may be copying it; see ``load(_:into:byteCount:)``). The last word's
    /// bytes past `byteCount` are zero.
    @usableFromInline
    static func store(_ source: UnsafeRawPointer, into buffer: UnsafeMutableRawPointer, byteCount: Int) {
        let words = buffer.assumingMemoryBound(to: Atomic<UInt64>.self)
        let whole = byteCount / 8
        for i in 0..<whole {
            // Relaxed: published by the releasing store of the version.
            (words + i).pointee.store(source.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self), ordering: .relaxed)
        }
        let rest = byteCount % 8
        if rest > 0 {
            var last: UInt64 = 0
            withUnsafeMutableBytes(of: &last) { $0.baseAddress!.copyMemory(from: source + 8 * whole, byteCount: rest) }
            // Relaxed: as above.
            (words + whole).pointee.store(last, ordering: .relaxed)
        }
    }

    @inlinable
    static func bufferSize(valueSize size: Int) -> Int { (max(size, 1) + 63) / 64 * 64 }

    /// One attempt of ``read(slot:size:into:key:)``, inlined into the caller: the version of a
    /// consistent copy of the value at `slot` in `destination`, or 0 when the key has no value,
    /// the copy was overtaken or anything is amiss (the caller then reads with
    /// ``read(slot:size:into:key:)``, which retries and diagnoses).
    @inlinable @inline(__always)
    func tryRead(slot: Int, size: Int, into destination: UnsafeMutableRawPointer) -> UInt64 {
        let published = version(slot)
        // SYNC POINT: acquiring; pairs with the writer's releasing store of the version (as in
        // `read(slot:size:into:key:)`, whose comments give the whole protocol).
        let before = published.pointee.load(ordering: .acquiring)
        let b = Int(before & 1)
        BlackboardStorage.load(
            base + slot + BlackboardStorage.slotHeaderSize + b * BlackboardStorage.bufferSize(valueSize: size),
            into: destination, byteCount: size)
        // Relaxed: ordered before the second version load by the fence.
        let stamp = stamp(slot, buffer: b).pointee.load(ordering: .relaxed)
        // SYNC POINT: acquiring fence; pairs with the writer's releasing fence before it writes
        // a buffer.
        atomicMemoryFence(ordering: .acquiring)
        // Relaxed: ordered after the copy by the fence.
        let after = published.pointee.load(ordering: .relaxed)
        return before == after && stamp == before ? before : 0
    }

    /// Copies a consistent value of `size` bytes from `slot` into `destination` and returns its
    /// version (0, with nothing copied, if the key has no value yet).
    ///
    /// Never waits on the writer: a writer that died mid-write wrote the unpublished buffer,
    /// which no read copies. Bounded: once at least ``minimumReadAttempts`` copies were overtaken
    /// by a publication and at least ``minimumReadEffort`` has passed (about that long: the time
    /// is checked every 256 attempts), it throws ``BlackboardError/valueUnstable(key:attempts:)``;
    /// a published version
    /// that its buffer's stamp contradicts (which no writer of this library leaves) is
    /// ``BlackboardError/corrupt(_:)``.
    @usableFromInline
    func read(slot: Int, size: Int, into destination: UnsafeMutableRawPointer, key: @autoclosure () -> String)
        throws(BlackboardError) -> UInt64
    {
        let published = version(slot)
        let bufferSize = BlackboardLayout.bufferSize(valueSize: size)
        var contradictions = 0
        var attempt = 0
        var giveUp: Deadline? = nil
        while true {
            // SYNC POINT: acquiring; pairs with the writer's releasing store of the version, so
            // the buffer and stamp it wrote before are visible.
            let before = published.pointee.load(ordering: .acquiring)
            if before == 0 {
                // A truncated file reads as zero pages (the SIGBUS guard's), which look like "no
                // value": say so instead.
                do { try segment.checkIntact() } catch { throw .segment(error) }
                return 0
            }
            let b = Int(before & 1)
            BlackboardStorage.load(
                base + slot + BlackboardLayout.slotHeaderSize + b * bufferSize, into: destination, byteCount: size)
            // Relaxed: ordered before the second version load by the fence below.
            let stamp = stamp(slot, buffer: b).pointee.load(ordering: .relaxed)
            // SYNC POINT: acquiring fence; pairs with the writer's releasing fence before it
            // writes a buffer: if the copy saw any byte of a newer write into this buffer, the
            // version load below sees the publication that preceded that write (and differs).
            atomicMemoryFence(ordering: .acquiring)
            // Relaxed: ordered after the copy by the fence above.
            let after = published.pointee.load(ordering: .relaxed)
            if before == after {
                if stamp == before { return before }
                // A stable version whose buffer holds another: only a hostile writer leaves
                // that; a few retries rule out a racing takeover before it is reported.
                contradictions += 1
                if contradictions >= 3 {
                    throw .corrupt(
                        "key '\(key())' publishes version \(before) but its buffer holds version \(stamp)")
                }
            }
            attempt += 1
            if attempt >= 8 {
                if attempt & 15 == 0 { CurrentThread.yield() } else { CPU.relax() }
            }
            if attempt & 255 == 0 {
                let limit = giveUp ?? Deadline.after(BlackboardStorage.minimumReadEffort)
                giveUp = limit
                if attempt >= BlackboardStorage.minimumReadAttempts && limit.hasPassed {
                    throw .valueUnstable(key: key(), attempts: attempt)
                }
            }
        }
    }

    /// Writes `size` bytes from `source` as the next version of the value at `slot`, after
    /// `version` (this writer's record of the published one), and wakes the key's sleepers.
    /// Returns the version written.
    @usableFromInline
    func write(slot: Int, after version: UInt64, from source: UnsafeRawPointer, size: Int) -> UInt64 {
        // Zero means "no value"; past the end the parity still alternates (2⁶⁴ − 1 is odd).
        var next = version &+ 1
        if next == 0 { next = 2 }
        let b = Int(next & 1)
        let bufferSize = BlackboardLayout.bufferSize(valueSize: size)
        // SYNC POINT: releasing fence; pairs with the reader's acquiring fence: the earlier
        // publication (of the version that made this buffer unpublished) is ordered before
        // every byte written below, so a reader whose copy sees one of them sees that version.
        atomicMemoryFence(ordering: .releasing)
        BlackboardStorage.store(
            source, into: base + slot + BlackboardLayout.slotHeaderSize + b * bufferSize, byteCount: size)
        // Relaxed: published by the releasing store of the version below.
        stamp(slot, buffer: b).pointee.store(next, ordering: .relaxed)
        // SYNC POINT: releasing; publishes the buffer and its stamp; pairs with the reader's
        // acquiring load.
        self.version(slot).pointee.store(next, ordering: .releasing)
        // Sequence mode: one barrier and one load while nobody waits.
        change(slot).wake(count: Int32.max)
        return next
    }

    // MARK: - Waiting

    /// Waits until the version at `slot` differs from `seen`, until `deadline`; returns the new
    /// version, or `nil` at the deadline.
    ///
    /// Sleeps on the key's wake word (no spinning); checks the segment for damage every
    /// ``waitSlice``. A version word that keeps changing ends the wait at once, with that version.
    func waitForChange(slot: Int, since seen: UInt64, deadline: Deadline, cancelled: () -> Bool = { false })
        throws(BlackboardError) -> UInt64?
    {
        let gate = change(slot)
        let started = Deadline.now
        while true {
            let now = currentVersion(slot)
            if now != seen { return now }
            if cancelled() { return nil }
            if deadline.hasPassed { return nil }
            let slice = Deadline.after(BlackboardStorage.waitSlice)
            sleep(on: gate, until: min(slice, deadline), waitingSince: started) {
                // Relaxed: only decides whether to sleep; the acquiring load above decides.
                version(slot).pointee.load(ordering: .relaxed) != seen || cancelled()
            }
            do { try segment.checkIntact() } catch { throw .segment(error) }
        }
    }

    /// Waits until the key count differs from `seen`, until `deadline`; returns whether it did.
    func waitForKeys(beyond seen: Int, deadline: Deadline) throws(BlackboardError) -> Bool {
        let gate = keysChanged
        let count = atomic(BlackboardLayout.keyCount, UInt32.self)
        let started = Deadline.now
        while true {
            if try publishedKeyCount() != seen { return true }
            if deadline.hasPassed { return false }
            let slice = Deadline.after(BlackboardStorage.waitSlice)
            sleep(on: gate, until: min(slice, deadline), waitingSince: started) {
                // Relaxed: only decides whether to sleep.
                Int(count.pointee.load(ordering: .relaxed)) != seen
            }
            do { try segment.checkIntact() } catch { throw .segment(error) }
        }
    }

    /// Sleeps on `gate` until woken, `ready` holds or `deadline` passes, in a wait that began at
    /// `started`.
    ///
    /// Read-write: one round of the wake protocol's sleeper's half (announce, re-check, sleep).
    /// Read-only, the announcement (a store) is impossible, and without it the writer skips the
    /// wake: the word is slept on unannounced, in sleeps of
    /// ``readOnlyPollInterval(afterWaiting:)``, with `ready` re-checked before each. No wake-up
    /// can be lost, since none is promised; one that comes (the writer woke for a read-write
    /// sleeper, or the word changed since it was read) ends the sleep at once. The futex wait
    /// itself only reads the word, which a `PROT_READ` shared mapping allows.
    func sleep(
        on gate: WaiterGatedWake, until deadline: Deadline, waitingSince started: Deadline, unless ready: () -> Bool
    ) {
        guard isReadOnly else {
            _ = gate.sleep(until: deadline, unless: ready)
            return
        }
        while !deadline.hasPassed {
            // Relaxed: the value only has to be older than the re-check that follows; the
            // caller's acquiring loads decide what changed.
            let observed = gate.word.atomic.pointee.load(ordering: .relaxed)
            if ready() { return }
            let now = Deadline.now
            let waited = Duration.nanoseconds(Int64(clamping: now.uptimeNanoseconds &- started.uptimeNanoseconds))
            let poll = BlackboardStorage.readOnlyPollInterval(afterWaiting: now < started ? .zero : waited)
            _ = gate.word.wait(expecting: observed, deadline: min(deadline, now.advanced(by: poll)))
        }
    }

    /// Wakes every thread of this process sleeping in a wait on `slot` (an `async` wait's
    /// cancellation): bumps the word read-write; read-only, where it cannot be stored, only
    /// wakes (a sleeper that has not slept yet sees its cancellation within a poll interval).
    func interruptWaits(slot: Int) {
        if isReadOnly { _ = change(slot).word.wakeAll() } else { change(slot).wakeAll() }
    }

    /// Whether a live writer holds the role (another open file description has its lock). A
    /// failed query counts as held (see `SharedMemory.isEndpointHeld`).
    var hasWriter: Bool { segment.isEndpointHeld(BlackboardLayout.writerLockByte) }
}
