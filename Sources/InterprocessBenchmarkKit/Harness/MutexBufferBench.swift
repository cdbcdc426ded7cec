import Interprocess

// The `mutex-buffer` row: the seed's scenario (a producer fills a shared array a consumer
// reads, under a mutex and a condition) as a bounded buffer built from the library's
// primitives (`MutexBuffer`, in Scenarios so the paired benchmarks share it), beside its C twin
// `c-mutex` with the same geometry, the same copies and the same notifications. A round trip
// runs over two buffers, one each way.

/// Opens the bounded buffer `name` (``MutexBuffer``), registering its objects for removal at
/// exit when it creates them.
func makeMutexBuffer(_ name: String, capacity: Int, slotSize: Int, create: Bool) throws -> MutexBuffer {
    if create { for name in MutexBuffer.names(name) { BenchCleanup.shared.addSegment(name) } }
    return try MutexBuffer(name, capacity: capacity, slotSize: slotSize, create: create)
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
                out: try makeMutexBuffer(base + ".ping", capacity: capacity, slotSize: slotSize, create: true),
                back: try makeMutexBuffer(base + ".pong", capacity: capacity, slotSize: slotSize, create: true))
            let child = try BenchChild(self.child, arguments: arguments, input: nil, timeout: childTimeout)
            try child.waitUntilReady()
            var samples = try timeRoundTrips(&ping, timings)
            try child.finish()
            row.rtt = LatencySummary(samples: &samples)
        case .stream:
            var sender = MutexBufferStreamSender(
                buffer: try makeMutexBuffer(base + ".stream", capacity: capacity, slotSize: slotSize, create: true))
            let child = try BenchChild(self.child, arguments: arguments, input: nil, timeout: childTimeout)
            try child.waitUntilReady()
            try sendStream(&sender, seconds: timings.streamSeconds, minimum: BenchMarker.firstTimed64 + 1000)
            let count = StreamCount(try child.readResult())
            try child.finish()
            row.stream64 = StreamSummary(count, messageSize: 64)
        case .stream1MiB:
            let buffer = try makeMutexBuffer(base + ".stream", capacity: capacity, slotSize: slotSize, create: true)
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
                input: try makeMutexBuffer(base + ".ping", capacity: capacity, slotSize: slotSize, create: false),
                back: try makeMutexBuffer(base + ".pong", capacity: capacity, slotSize: slotSize, create: false))
            ChildReport.ready()
            try echoRoundTrips(&pong)
        case .stream:
            var receiver = MutexBufferStreamReceiver(
                buffer: try makeMutexBuffer(base + ".stream", capacity: capacity, slotSize: slotSize, create: false))
            ChildReport.ready()
            try receiveStream(&receiver, firstTimed: BenchMarker.firstTimed64).report()
        case .stream1MiB:
            let buffer = try makeMutexBuffer(base + ".stream", capacity: capacity, slotSize: slotSize, create: false)
            ChildReport.ready()
            try receiveLargeStream { message in
                try buffer.take(into: message.baseAddress!)
                return true
            }.report()
        }
    }
}
