import Glibc
import Interprocess

// The topic rows of `shm bench`: one publisher (the parent) and N subscriber processes. In a
// round trip only subscriber 0 echoes (over an SPSC channel back), the others receive every
// message too; in a stream every subscriber receives every message and the row shows the
// slowest subscriber's rate.

/// The parent's side of a topic round trip.
struct TopicPing: RoundTripPing, ~Copyable {
    var publisher: TopicPublisher<UInt64>
    var pong: ChannelReceiver<UInt64>

    @inline(__always)
    mutating func roundTrip(_ value: UInt64) throws -> UInt64 {
        try publisher.publish(value)
        guard let reply = try pong.receive() else { throw BenchFailure("no reply") }
        return reply
    }

    mutating func sendEnd() throws { try publisher.publish(BenchMarker.end) }
}

/// Subscriber 0 of a topic round trip: echoes every message.
struct TopicPong: RoundTripPong, ~Copyable {
    var subscriber: TopicSubscriber<UInt64>
    var pong: ChannelSender<UInt64>

    mutating func echo() throws -> Bool {
        guard let value = try subscriber.receive() else { throw BenchFailure("no message") }
        if value == BenchMarker.end { return false }
        try pong.send(value)
        return true
    }
}

struct TopicStreamSender: StreamSending, ~Copyable {
    var publisher: TopicPublisher<Message64>
    mutating func send(_ message: Message64) throws { try publisher.publish(message) }
}

struct TopicStreamReceiver: StreamReceiving, ~Copyable {
    var subscriber: TopicSubscriber<Message64>
    mutating func receive(into message: inout Message64) throws -> Bool {
        do {
            guard let next = try subscriber.receive() else { return false }
            message = next
            return true
        } catch .closed {
            return false
        }
    }
}

extension BenchHarness {
    /// The subscriber processes of a topic row, started and ready.
    private func startSubscribers(_ count: Int, arguments: [String]) throws -> [BenchChild] {
        var children: [BenchChild] = []
        for index in 0..<count {
            // Only subscriber 0 is pinned (to the core a channel's receiver gets): the others
            // share the machine with it.
            var own = arguments + ["--subscriber-index", "\(index)"]
            if index > 0, let core = own.firstIndex(of: "--child-core") { own.removeSubrange(core...(core + 1)) }
            children.append(try BenchChild(child, arguments: own, input: nil, timeout: childTimeout))
        }
        for child in children { try child.waitUntilReady() }
        return children
    }

    func runTopicParent(
        subscribers: Int, _ workload: BenchWorkload, base: String, arguments: [String], into row: inout BenchRow
    ) throws {
        switch workload {
        case .rtt:
            BenchCleanup.shared.addSegment(base + ".ping")
            BenchCleanup.shared.addSegment(base + ".pong")
            var ping = TopicPing(
                publisher: try TopicPublisher<UInt64>(
                    named: base + ".ping",
                    configuration: TopicConfiguration(
                        capacity: ChannelCapacity.roundTrip, maximumSubscribers: subscribers),
                    mode: .create),
                pong: try ChannelReceiver<UInt64>(
                    named: base + ".pong", capacity: ChannelCapacity.roundTrip, topology: .singleProducerSingleConsumer,
                    mode: .create))
            let children = try startSubscribers(subscribers, arguments: arguments)
            var samples = try timeRoundTrips(&ping, timings)
            for child in children { try child.finish() }
            row.rtt = LatencySummary(samples: &samples)
        case .stream:
            BenchCleanup.shared.addSegment(base + ".stream")
            var sender = TopicStreamSender(
                publisher: try TopicPublisher<Message64>(
                    named: base + ".stream",
                    configuration: TopicConfiguration(
                        capacity: ChannelCapacity.stream, maximumSubscribers: subscribers),
                    mode: .create))
            let children = try startSubscribers(subscribers, arguments: arguments)
            try sendStream(&sender, seconds: timings.streamSeconds, minimum: BenchMarker.firstTimed64 + 1000)
            let counts = try children.map { child in
                defer { _ = try? child.finish() }
                return StreamCount(try child.readResult())
            }
            row.stream64 = StreamSummary(Self.slowest(counts), messageSize: 64)
        case .stream1MiB:
            BenchCleanup.shared.addSegment(base + ".bytes")
            var publisher = try ByteTopicPublisher(
                named: base + ".bytes", maximumMessageSize: LargeMessage.size,
                configuration: TopicConfiguration(capacity: LargeMessage.capacity, maximumSubscribers: subscribers),
                mode: .create)
            let children = try startSubscribers(subscribers, arguments: arguments)
            try sendLargeStream(seconds: timings.streamSeconds, minimum: BenchMarker.firstTimed1M + 8) {
                try publisher.publish($0)
            }
            let counts = try children.map { child in
                defer { _ = try? child.finish() }
                return StreamCount(try child.readResult())
            }
            row.stream1MiB = StreamSummary(Self.slowest(counts), messageSize: LargeMessage.size)
        }
    }

    /// The count of the subscriber with the lowest timed rate (its loss and order problems, and
    /// everyone's, included).
    static func slowest(_ counts: [StreamCount]) -> StreamCount {
        func rate(_ c: StreamCount) -> Double {
            c.timedNanoseconds == 0 ? 0 : Double(c.timedMessages) / Double(c.timedNanoseconds)
        }
        var slowest = counts.min { rate($0) < rate($1) } ?? StreamCount()
        slowest.outOfOrder = counts.reduce(0) { $0 + $1.outOfOrder }
        slowest.received = counts.map(\.received).min() ?? 0
        return slowest
    }

    static func runTopicChild(_ workload: BenchWorkload, base: String, index: Int) throws {
        switch workload {
        case .rtt:
            var subscriber = try TopicSubscriber<UInt64>(named: base + ".ping", mode: .open)
            guard index == 0 else {
                ChildReport.ready()
                while try subscriber.receive(timeout: nil) != BenchMarker.end {}
                return
            }
            var pong = TopicPong(
                subscriber: subscriber,
                pong: try ChannelSender<UInt64>(
                    named: base + ".pong", topology: .singleProducerSingleConsumer, mode: .open))
            ChildReport.ready()
            try echoRoundTrips(&pong)
        case .stream:
            var receiver = TopicStreamReceiver(
                subscriber: try TopicSubscriber<Message64>(named: base + ".stream", mode: .open))
            ChildReport.ready()
            try receiveStream(&receiver, firstTimed: BenchMarker.firstTimed64).report()
        case .stream1MiB:
            var subscriber = try ByteTopicSubscriber(named: base + ".bytes", mode: .open)
            ChildReport.ready()
            try receiveLargeStream { buffer in
                do {
                    guard let sample = try subscriber.receiveSample(timeout: .seconds(30)) else { return false }
                    guard sample.count == buffer.count else {
                        throw BenchFailure("a \(sample.count)-byte message instead of 1 MiB")
                    }
                    sample.withUnsafeBytes { buffer.copyMemory(from: $0) }
                    return true
                } catch let error as TopicError where error == .closed {
                    return false
                }
            }.report()
        }
    }
}
