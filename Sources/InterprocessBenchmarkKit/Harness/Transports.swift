import Glibc
import Interprocess
import Synchronization

// The transports the bench harness measures, each as a ping side (parent) and a pong side (child)
// for round trips, and a sender (parent) and a receiver (child) for streams. The timed loops
// are generic over these protocols so each is specialised for its transport (no dynamic
// dispatch in a loop).

/// The parent's side of a round trip.
protocol RoundTripPing: ~Copyable {
    /// Sends `value` and returns the reply.
    mutating func roundTrip(_ value: UInt64) throws -> UInt64
    /// Sends the end marker (no reply).
    mutating func sendEnd() throws
}

/// The child's side of a round trip.
protocol RoundTripPong: ~Copyable {
    /// Receives one value and echoes it unchanged; returns `false` for the end marker.
    mutating func echo() throws -> Bool
}

/// The parent's side of a 64-byte stream.
protocol StreamSending: ~Copyable {
    /// Copies `message` into the transport, waiting while it is full.
    mutating func send(_ message: Message64) throws
}

/// The child's side of a 64-byte stream.
protocol StreamReceiving: ~Copyable {
    /// Copies the next message out into `message`; `false` when the transport ended.
    mutating func receive(into message: inout Message64) throws -> Bool
}

// MARK: - Timed loops

/// `warmup` untimed round trips, then up to `rounds` timed ones (stopping after
/// `capSeconds`); one clock read after each reply, sample i = t(i) − t(i−1).
func timeRoundTrips<P: RoundTripPing & ~Copyable>(_ ping: inout P, _ settings: BenchTimings) throws -> [UInt64] {
    var sequence: UInt64 = 0
    // The warm-up stops after the same cap as the timed part: on a machine so loaded that a
    // spinning peer waits for time slices, 20 000 round trips could take minutes.
    let warmupEnd = monotonicNanoseconds() &+ UInt64(settings.capSeconds * 1e9)
    for i in 0..<settings.warmup {
        sequence += 1
        let reply = try ping.roundTrip(sequence)
        guard reply == sequence else { throw BenchFailure("round trip \(sequence) came back as \(reply)") }
        if i & 255 == 255 && monotonicNanoseconds() >= warmupEnd { break }
    }
    var samples = [UInt64](repeating: 1, count: settings.rounds)  // written now: no page fault later
    var n = 0
    let capEnd = monotonicNanoseconds() &+ UInt64(settings.capSeconds * 1e9)
    try samples.withUnsafeMutableBufferPointer { samples in
        var previous = monotonicNanoseconds()
        while n < samples.count {
            sequence += 1
            let reply = try ping.roundTrip(sequence)
            let now = monotonicNanoseconds()
            guard reply == sequence else { throw BenchFailure("round trip \(sequence) came back as \(reply)") }
            samples[n] = now &- previous
            previous = now
            n += 1
            if now >= capEnd { break }
        }
    }
    try ping.sendEnd()
    return Array(samples[..<n])
}

/// Echoes until the end marker.
func echoRoundTrips<P: RoundTripPong & ~Copyable>(_ pong: inout P) throws {
    while try pong.echo() {}
}

/// Sends messages 1, 2, 3, … for `seconds` (and at least `minimum`), then the end message
/// (`word1` = the count sent).
func sendStream<S: StreamSending & ~Copyable>(_ sender: inout S, seconds: Double, minimum: UInt64) throws {
    var message = Message64()
    let end = monotonicNanoseconds() &+ UInt64(seconds * 1e9)
    var sequence: UInt64 = 0
    while true {
        sequence &+= 1
        message.sequence = sequence
        try sender.send(message)
        // The clock is read every 1024 messages.
        if sequence & 1023 == 0 && sequence >= minimum && monotonicNanoseconds() >= end { break }
    }
    message.sequence = BenchMarker.end
    message.word1 = sequence
    try sender.send(message)
}

/// What the receiver of a stream measured.
struct StreamCount {
    var sent: UInt64 = 0
    var received: UInt64 = 0
    var outOfOrder: UInt64 = 0
    var timedMessages: UInt64 = 0
    var timedNanoseconds: UInt64 = 0

    var loss: UInt64 { sent > received ? sent - received : 0 }

    func report() {
        ChildReport.result([
            "sent": sent, "received": received, "outoforder": outOfOrder, "timed": timedMessages,
            "ns": timedNanoseconds
        ])
    }

    init() {}
    init(_ values: [String: UInt64]) {
        sent = values["sent"] ?? 0
        received = values["received"] ?? 0
        outOfOrder = values["outoforder"] ?? 0
        timedMessages = values["timed"] ?? 0
        timedNanoseconds = values["ns"] ?? 0
    }
}

/// Receives until the end message, copying every message out and checking its sequence; the
/// clock starts at message `firstTimed`.
func receiveStream<R: StreamReceiving & ~Copyable>(_ receiver: inout R, firstTimed: UInt64) throws -> StreamCount {
    var count = StreamCount()
    var message = Message64()
    var expected: UInt64 = 1
    var start: UInt64 = 0
    var last: UInt64 = 0
    while true {
        guard try receiver.receive(into: &message) else {
            throw BenchFailure("the stream ended without its end message")
        }
        let sequence = message.sequence
        if sequence == BenchMarker.end { break }
        if sequence != expected { count.outOfOrder += 1 }
        if sequence == firstTimed { start = monotonicNanoseconds() }
        expected = sequence &+ 1
        last = sequence
        count.received += 1
    }
    let stop = monotonicNanoseconds()
    count.sent = message.word1
    if start != 0 && last > firstTimed {
        count.timedMessages = last - firstTimed
        count.timedNanoseconds = stop - start
    }
    return count
}

// MARK: - Our channels

struct ChannelPing: RoundTripPing, ~Copyable {
    var ping: ChannelSender<UInt64>
    var pong: ChannelReceiver<UInt64>

    @inline(__always)
    mutating func roundTrip(_ value: UInt64) throws -> UInt64 {
        try ping.send(value)
        guard let reply = try pong.receive() else { throw BenchFailure("no reply") }
        return reply
    }

    mutating func sendEnd() throws { try ping.send(BenchMarker.end) }
}

struct ChannelPong: RoundTripPong, ~Copyable {
    var ping: ChannelReceiver<UInt64>
    var pong: ChannelSender<UInt64>

    @inline(__always)
    mutating func echo() throws -> Bool {
        guard let value = try ping.receive() else { throw BenchFailure("no message") }
        if value == BenchMarker.end { return false }
        try pong.send(value)
        return true
    }
}

struct ChannelStreamSender: StreamSending, ~Copyable {
    var sender: ChannelSender<Message64>

    @inline(__always)
    mutating func send(_ message: Message64) throws { try sender.send(message) }
}

struct ChannelStreamReceiver: StreamReceiving, ~Copyable {
    var receiver: ChannelReceiver<Message64>

    @inline(__always)
    mutating func receive(into message: inout Message64) throws -> Bool {
        do {
            guard let received = try receiver.receive() else { return false }
            message = received
            return true
        } catch .closed {
            return false
        }
    }
}

// MARK: - Limits: atomic flags and futex words in a shared segment

/// Two 64-bit words 256 bytes apart (separate cache lines and prefetch pairs) in a segment:
/// the parent writes `ping`, the child writes `pong`.
struct SharedWordPair {
    static let size = 512
    static let pongOffset = 256
    let segment: SharedMemory

    var ping: UnsafeMutablePointer<Atomic<UInt64>> {
        segment.bytes.baseAddress!.assumingMemoryBound(to: Atomic<UInt64>.self)
    }
    var pong: UnsafeMutablePointer<Atomic<UInt64>> {
        (segment.bytes.baseAddress! + SharedWordPair.pongOffset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
    /// The futex words: the low-address 32 bits of each word (little-endian: its low half).
    var pingWord32: UnsafeMutablePointer<Atomic<UInt32>> {
        segment.bytes.baseAddress!.assumingMemoryBound(to: Atomic<UInt32>.self)
    }
    var pongWord32: UnsafeMutablePointer<Atomic<UInt32>> {
        (segment.bytes.baseAddress! + SharedWordPair.pongOffset).assumingMemoryBound(to: Atomic<UInt32>.self)
    }
    var pingFutex: UnsafeMutablePointer<UInt32> { segment.bytes.baseAddress!.assumingMemoryBound(to: UInt32.self) }
    var pongFutex: UnsafeMutablePointer<UInt32> {
        (segment.bytes.baseAddress! + SharedWordPair.pongOffset).assumingMemoryBound(to: UInt32.self)
    }
}

/// The cache-line ping-pong limit: store, then poll the other line (no PAUSE, no backoff).
struct FlagPing: RoundTripPing {
    let words: SharedWordPair

    @inline(__always)
    mutating func roundTrip(_ value: UInt64) throws -> UInt64 {
        // SYNC POINT: releasing / acquiring pairs with the child's; nothing else is published.
        words.ping.pointee.store(value, ordering: .releasing)
        while true {
            let reply = words.pong.pointee.load(ordering: .acquiring)
            if reply == value { return reply }
        }
    }

    mutating func sendEnd() throws { words.ping.pointee.store(BenchMarker.end, ordering: .releasing) }
}

struct FlagPong: RoundTripPong {
    let words: SharedWordPair
    var last: UInt64 = 0

    @inline(__always)
    mutating func echo() throws -> Bool {
        var value: UInt64
        repeat { value = words.ping.pointee.load(ordering: .acquiring) } while value == last
        last = value
        if value == BenchMarker.end { return false }
        words.pong.pointee.store(value, ordering: .releasing)
        return true
    }
}

/// The blocking limit: each side stores its word and wakes the other unconditionally, then
/// sleeps on the other's word until it changes (32-bit futex words carry the sequence's low
/// half).
struct FutexPing: RoundTripPing {
    let words: SharedWordPair

    @inline(__always)
    mutating func roundTrip(_ value: UInt64) throws -> UInt64 {
        let v = UInt32(truncatingIfNeeded: value)
        words.pingWord32.pointee.store(v, ordering: .releasing)
        Futex.wake(words.pingFutex, count: 1)
        while true {
            let reply = words.pongWord32.pointee.load(ordering: .acquiring)
            if reply == v { return value }
            _ = Futex.wait(words.pongFutex, expecting: reply, deadline: .never)
        }
    }

    mutating func sendEnd() throws {
        words.pingWord32.pointee.store(UInt32.max, ordering: .releasing)
        Futex.wake(words.pingFutex, count: 1)
    }
}

struct FutexPong: RoundTripPong {
    let words: SharedWordPair
    var last: UInt32 = 0

    @inline(__always)
    mutating func echo() throws -> Bool {
        var value: UInt32
        while true {
            value = words.pingWord32.pointee.load(ordering: .acquiring)
            if value != last { break }
            _ = Futex.wait(words.pingFutex, expecting: value, deadline: .never)
        }
        last = value
        if value == UInt32.max { return false }
        words.pongWord32.pointee.store(value, ordering: .releasing)
        Futex.wake(words.pongFutex, count: 1)
        return true
    }
}

// MARK: - Kernel baselines: a pipe pair (named FIFOs) and a Unix stream socket pair

/// Writes to `output`, reads from `input` (the same descriptor for a socket).
struct DescriptorPing: RoundTripPing {
    let output: Int32
    let input: Int32

    @inline(__always)
    mutating func roundTrip(_ value: UInt64) throws -> UInt64 {
        var value = value
        try writeFully(output, &value, 8)
        var reply: UInt64 = 0
        guard try readFully(input, &reply, 8) else { throw BenchFailure("the peer closed") }
        return reply
    }

    mutating func sendEnd() throws {
        var end = BenchMarker.end
        try writeFully(output, &end, 8)
    }
}

struct DescriptorPong: RoundTripPong {
    let input: Int32
    let output: Int32

    @inline(__always)
    mutating func echo() throws -> Bool {
        var value: UInt64 = 0
        guard try readFully(input, &value, 8) else { return false }
        if value == BenchMarker.end { return false }
        try writeFully(output, &value, 8)
        return true
    }
}

struct DescriptorStreamSender: StreamSending {
    let output: Int32

    @inline(__always)
    mutating func send(_ message: Message64) throws {
        var message = message
        try writeFully(output, &message, MemoryLayout<Message64>.size)
    }
}

struct DescriptorStreamReceiver: StreamReceiving {
    let input: Int32

    @inline(__always)
    mutating func receive(into message: inout Message64) throws -> Bool {
        try readFully(input, &message, MemoryLayout<Message64>.size)
    }
}

// MARK: - 1 MiB messages

/// Sends 1 MiB messages from a pre-faulted buffer for `seconds` (at least `minimum`), then an
/// end message; `send` copies the buffer into the transport.
func sendLargeStream(seconds: Double, minimum: UInt64, _ send: (UnsafeRawBufferPointer) throws -> Void) throws {
    let buffer = prefaultedBuffer(LargeMessage.size)
    defer { buffer.deallocate() }
    let end = monotonicNanoseconds() &+ UInt64(seconds * 1e9)
    var sequence: UInt64 = 0
    while true {
        sequence += 1
        buffer.storeBytes(of: sequence, as: UInt64.self)
        try send(UnsafeRawBufferPointer(buffer))
        if sequence >= minimum && monotonicNanoseconds() >= end { break }
    }
    buffer.storeBytes(of: BenchMarker.end, as: UInt64.self)
    buffer.storeBytes(of: sequence, toByteOffset: 8, as: UInt64.self)
    try send(UnsafeRawBufferPointer(buffer))
}

/// Receives 1 MiB messages into a pre-faulted buffer; `receive` copies the next message out
/// into the buffer and returns `false` at the end of input.
func receiveLargeStream(_ receive: (UnsafeMutableRawBufferPointer) throws -> Bool) throws -> StreamCount {
    let buffer = prefaultedBuffer(LargeMessage.size)
    defer { buffer.deallocate() }
    var count = StreamCount()
    return try receiveLarge(into: &count) {
        guard try receive(buffer) else { return nil }
        return (buffer.load(as: UInt64.self), buffer.load(fromByteOffset: 8, as: UInt64.self))
    }
}

/// The receiving loop of a 1 MiB stream; `next` copies the next message out and returns its
/// first two words (sequence, count for the end message), `nil` at end of input.
func receiveLarge(into count: inout StreamCount, _ next: () throws -> (UInt64, UInt64)?) throws -> StreamCount {
    var expected: UInt64 = 1
    var start: UInt64 = 0
    var last: UInt64 = 0
    while true {
        guard let (sequence, word1) = try next() else { throw BenchFailure("the stream ended without its end message") }
        if sequence == BenchMarker.end {
            count.sent = word1
            break
        }
        if sequence != expected { count.outOfOrder += 1 }
        if sequence == BenchMarker.firstTimed1M { start = monotonicNanoseconds() }
        expected = sequence &+ 1
        last = sequence
        count.received += 1
    }
    let stop = monotonicNanoseconds()
    if start != 0 && last > BenchMarker.firstTimed1M {
        count.timedMessages = last - BenchMarker.firstTimed1M
        count.timedNanoseconds = stop - start
    }
    return count
}
