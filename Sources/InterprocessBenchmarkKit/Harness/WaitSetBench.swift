import Interprocess

// The wait-set rows of `shm bench`: the round trip of `spsc-block` (the parent sends on an SPSC
// channel and blocks on the reply channel, both `.block`), except that the child sleeps in a
// wait set over the ping channel and N idle channels instead of in the channel's own blocking
// receive. Beside `spsc-block` in the same run, the difference is the wait set's cost per
// wake-up with N idle sources attached.

/// The echoing child of a wait-set round trip.
struct WaitSetPong: RoundTripPong, ~Copyable {
    var set: WaitSet
    var ping: ChannelReceiver<UInt64>
    var pong: ChannelSender<UInt64>
    /// The idle channels' receivers, kept open for the run.
    let idle: [IdleReceiver]

    final class IdleReceiver {
        let receiver: ChannelReceiver<UInt64>
        init(_ receiver: consuming ChannelReceiver<UInt64>) { self.receiver = receiver }
    }

    mutating func echo() throws -> Bool {
        while true {
            if let value = try ping.tryReceive() {
                if value == BenchMarker.end { return false }
                try pong.send(value)
                return true
            }
            _ = set.wait()
        }
    }
}

extension BenchHarness {
    func runWaitSetParent(idle: Int, base: String, arguments: [String], into row: inout BenchRow) throws {
        BenchCleanup.shared.addSegment(base + ".ping")
        BenchCleanup.shared.addSegment(base + ".pong")
        var ping = ChannelPing(
            ping: try ChannelSender<UInt64>(
                named: base + ".ping", capacity: ChannelCapacity.roundTrip, topology: .singleProducerSingleConsumer,
                mode: .create, waitStrategy: .block),
            pong: try ChannelReceiver<UInt64>(
                named: base + ".pong", capacity: ChannelCapacity.roundTrip, topology: .singleProducerSingleConsumer,
                mode: .create, waitStrategy: .block))
        for k in 0..<idle {
            BenchCleanup.shared.addSegment(base + ".idle\(k)")
            try ChannelReceiver<UInt64>.createChannel(named: base + ".idle\(k)", capacity: ChannelCapacity.roundTrip)
        }
        let child = try BenchChild(child, arguments: arguments, input: nil, timeout: childTimeout)
        try child.waitUntilReady()
        var samples = try timeRoundTrips(&ping, timings)
        try child.finish()
        row.rtt = LatencySummary(samples: &samples)
    }

    static func runWaitSetChild(idle: Int, base: String) throws {
        let ping = try ChannelReceiver<UInt64>(
            named: base + ".ping", topology: .singleProducerSingleConsumer, mode: .open, waitStrategy: .block)
        var set = WaitSet()
        set.add(readable: ping)
        var idleReceivers: [WaitSetPong.IdleReceiver] = []
        for k in 0..<idle {
            let receiver = WaitSetPong.IdleReceiver(try ChannelReceiver<UInt64>(named: base + ".idle\(k)", mode: .open))
            set.add(readable: receiver.receiver)
            idleReceivers.append(receiver)
        }
        var pong = WaitSetPong(
            set: set, ping: ping,
            pong: try ChannelSender<UInt64>(
                named: base + ".pong", topology: .singleProducerSingleConsumer, mode: .open, waitStrategy: .block),
            idle: idleReceivers)
        ChildReport.ready()
        try echoRoundTrips(&pong)
    }
}
