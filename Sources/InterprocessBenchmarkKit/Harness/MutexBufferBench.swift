import Interprocess

// The `mutex-buffer` row: the seed's scenario (a producer fills a shared array a consumer
// reads, under a mutex and a condition) as a bounded buffer built from the library's
// primitives, beside its C twin `c-mutex` with the same geometry, the same copies and the same
// notifications. A round trip runs over two buffers, one each way.

/// A bounded buffer of `capacity` slots of `slotSize` bytes: the slots in a `SharedArray<UInt8>`,
/// the counts of messages put and taken in a `SharedArray<UInt64>` (changed only under
/// `mutex`), `notEmpty` notified after a put and `notFull` after a take (after unlocking, so
/// the woken side does not find the mutex still held).
struct MutexBuffer {
    let slots: SharedArray<UInt8>
    let counts: SharedArray<UInt64>
    let mutex: ProcessMutex
    let notEmpty: ProcessCondition
    let notFull: ProcessCondition
    let capacity: Int
    let slotSize: Int
    /// The first slot: valid while `slots` is held (the handle keeps the segment mapped).
    private let base: UnsafeMutableRawPointer

    static func names(_ base: String) -> [String] {
        [".slots", ".counts", ".lock", ".notempty", ".notfull"].map { base + $0 }
    }

    /// Creates the buffer's objects (`create`) or opens them, and checks their sizes.
    init(_ name: String, capacity: Int, slotSize: Int, create: Bool) throws {
        let names = Self.names(name)
        let mode: SharedMemory.OpenMode = create ? .create : .open
        if create { for name in names { BenchCleanup.shared.addSegment(name) } }
        slots =
            create
            ? try SharedArray<UInt8>(named: names[0], count: capacity * slotSize, initialValue: 0, mode: .create)
            : try SharedArray<UInt8>(named: names[0])
        counts =
            create
            ? try SharedArray<UInt64>(named: names[1], count: 2, initialValue: 0, mode: .create)
            : try SharedArray<UInt64>(named: names[1])
        guard slots.count == capacity * slotSize, counts.count == 2 else {
            throw BenchFailure("the bounded buffer \(name) has other sizes")
        }
        mutex = try ProcessMutex(named: names[2], mode: mode)
        notEmpty = try ProcessCondition(named: names[3], mode: mode)
        notFull = try ProcessCondition(named: names[4], mode: mode)
        self.capacity = capacity
        self.slotSize = slotSize
        base = slots.withUnsafeMutableBufferPointer { UnsafeMutableRawPointer($0.baseAddress!) }
    }

    @inline(__always)
    private func lock() throws {
        switch try mutex.lock() {
        case .acquired: return
        case .previousOwnerDied: throw BenchFailure("the other side died holding the mutex")
        case .timedOut: throw BenchFailure("the mutex timed out without a timeout")
        }
    }

    /// Copies `slotSize` bytes from `message` into the next slot, waiting while the buffer is full.
    @inline(__always)
    func put(_ message: UnsafeRawPointer) throws {
        try lock()
        // The counts are read from shared memory, but only their difference and their value
        // modulo the capacity are used: every slot address is in bounds whatever they hold.
        while counts[0] &- counts[1] >= UInt64(capacity) { _ = try notFull.wait(on: mutex) }
        let put = counts[0]
        (base + Int(put % UInt64(capacity)) * slotSize).copyMemory(from: message, byteCount: slotSize)
        counts[0] = put &+ 1
        try mutex.unlock()
        notEmpty.notifyOne()
    }

    /// Copies the oldest slot out into `message`, waiting while the buffer is empty.
    @inline(__always)
    func take(into message: UnsafeMutableRawPointer) throws {
        try lock()
        while counts[0] == counts[1] { _ = try notEmpty.wait(on: mutex) }
        let taken = counts[1]
        message.copyMemory(from: base + Int(taken % UInt64(capacity)) * slotSize, byteCount: slotSize)
        counts[1] = taken &+ 1
        try mutex.unlock()
        notFull.notifyOne()
    }
}

struct MutexBufferPing: RoundTripPing {
    let out: MutexBuffer
    let back: MutexBuffer

    @inline(__always)
    mutating func roundTrip(_ value: UInt64) throws -> UInt64 {
        var value = value
        try out.put(&value)
        var reply: UInt64 = 0
        try back.take(into: &reply)
        return reply
    }

    mutating func sendEnd() throws {
        var end = BenchMarker.end
        try out.put(&end)
    }
}

struct MutexBufferPong: RoundTripPong {
    let input: MutexBuffer
    let back: MutexBuffer

    @inline(__always)
    mutating func echo() throws -> Bool {
        var value: UInt64 = 0
        try input.take(into: &value)
        if value == BenchMarker.end { return false }
        try back.put(&value)
        return true
    }
}

struct MutexBufferStreamSender: StreamSending {
    let buffer: MutexBuffer

    @inline(__always)
    mutating func send(_ message: Message64) throws {
        var message = message
        try buffer.put(&message)
    }
}

struct MutexBufferStreamReceiver: StreamReceiving {
    let buffer: MutexBuffer

    @inline(__always)
    mutating func receive(into message: inout Message64) throws -> Bool {
        try buffer.take(into: &message)
        return true
    }
}

extension BenchHarness {
    func runMutexBufferParent(
        _ workload: BenchWorkload, base: String, arguments: [String], into row: inout BenchRow
    ) throws {
        let (capacity, slotSize) = BoundedGeometry.slots(workload, roundTripSlot: MemoryLayout<UInt64>.size)
        switch workload {
        case .rtt:
            var ping = MutexBufferPing(
                out: try MutexBuffer(base + ".ping", capacity: capacity, slotSize: slotSize, create: true),
                back: try MutexBuffer(base + ".pong", capacity: capacity, slotSize: slotSize, create: true))
            let child = try BenchChild(self.child, arguments: arguments, input: nil, timeout: childTimeout)
            try child.waitUntilReady()
            var samples = try timeRoundTrips(&ping, timings)
            try child.finish()
            row.rtt = LatencySummary(samples: &samples)
        case .stream:
            var sender = MutexBufferStreamSender(
                buffer: try MutexBuffer(base + ".stream", capacity: capacity, slotSize: slotSize, create: true))
            let child = try BenchChild(self.child, arguments: arguments, input: nil, timeout: childTimeout)
            try child.waitUntilReady()
            try sendStream(&sender, seconds: timings.streamSeconds, minimum: BenchMarker.firstTimed64 + 1000)
            let count = StreamCount(try child.readResult())
            try child.finish()
            row.stream64 = StreamSummary(count, messageSize: 64)
        case .stream1MiB:
            let buffer = try MutexBuffer(base + ".stream", capacity: capacity, slotSize: slotSize, create: true)
            let child = try BenchChild(self.child, arguments: arguments, input: nil, timeout: childTimeout)
            try child.waitUntilReady()
            try sendLargeStream(seconds: timings.streamSeconds, minimum: BenchMarker.firstTimed1M + 8) {
                try buffer.put($0.baseAddress!)
            }
            let count = StreamCount(try child.readResult())
            try child.finish()
            row.stream1MiB = StreamSummary(count, messageSize: LargeMessage.size)
        }
    }

    static func runMutexBufferChild(_ workload: BenchWorkload, base: String) throws {
        let (capacity, slotSize) = BoundedGeometry.slots(workload, roundTripSlot: MemoryLayout<UInt64>.size)
        switch workload {
        case .rtt:
            var pong = MutexBufferPong(
                input: try MutexBuffer(base + ".ping", capacity: capacity, slotSize: slotSize, create: false),
                back: try MutexBuffer(base + ".pong", capacity: capacity, slotSize: slotSize, create: false))
            ChildReport.ready()
            try echoRoundTrips(&pong)
        case .stream:
            var receiver = MutexBufferStreamReceiver(
                buffer: try MutexBuffer(base + ".stream", capacity: capacity, slotSize: slotSize, create: false))
            ChildReport.ready()
            try receiveStream(&receiver, firstTimed: BenchMarker.firstTimed64).report()
        case .stream1MiB:
            let buffer = try MutexBuffer(base + ".stream", capacity: capacity, slotSize: slotSize, create: false)
            ChildReport.ready()
            try receiveLargeStream { message in
                try buffer.take(into: message.baseAddress!)
                return true
            }.report()
        }
    }
}
