import CBenchLimits
import Glibc
import Interprocess

// The C limit rows of `shm bench` (c-flag, c-ring, c-ring-backoff, c-futex, c-mutex): the
// harness maps one segment, the C functions of `CBenchLimits` run each side's whole loop over
// it (the method of `timeRoundTrips`, `sendStream`, `receiveStream` and their 1 MiB forms,
// written again in C), and the harness summarises their samples and counts as for every row.

/// Where a C limit's rings or buffers lie in its segment: `count` parts (two for a round trip,
/// one each way; one for a stream) of `partSize` bytes, each with `capacity` slots of
/// `slotSize` bytes.
struct CLimitGeometry {
    let capacity: Int
    let slotSize: Int
    let count: Int
    let partSize: Int

    var size: Int { count * partSize }

    init(_ scenario: BenchScenario, _ workload: BenchWorkload) {
        (capacity, slotSize) = BoundedGeometry.slots(workload, roundTripSlot: scenario == .cMutex ? 8 : 64)
        count = workload == .rtt ? 2 : 1
        switch scenario {
        case .cFlag, .cFutex: partSize = cbl_words_region_size()
        case .cMutex: partSize = cbl_buffer_size(capacity, slotSize)
        default: partSize = cbl_ring_size(capacity, slotSize)
        }
    }
}

/// The capacities and slot sizes the rings and bounded buffers share with our channels: the
/// round trip's and the 64-byte stream's capacities of `ChannelCapacity`, `LargeMessage`'s for
/// 1 MiB messages.
enum BoundedGeometry {
    static func slots(_ workload: BenchWorkload, roundTripSlot: Int) -> (capacity: Int, slotSize: Int) {
        switch workload {
        case .rtt: (ChannelCapacity.roundTrip, roundTripSlot)
        case .stream: (ChannelCapacity.stream, MemoryLayout<Message64>.size)
        case .stream1MiB: (LargeMessage.capacity, LargeMessage.size)
        }
    }
}

extension StreamCount {
    init(_ c: cbl_stream_count) {
        self.init()
        sent = c.sent
        received = c.received
        outOfOrder = c.out_of_order
        timedMessages = c.timed_messages
        timedNanoseconds = c.timed_ns
    }
}

/// A C side's result: a count (≥ 0), `CBL_MISMATCH`, or −errno.
@discardableResult
private func checked<T: SignedInteger>(_ result: T, _ what: String) throws -> Int {
    let result = Int(result)
    if result >= 0 { return result }
    if result == Int(CBL_MISMATCH) { throw BenchFailure("\(what): a reply or message was not the one sent") }
    throw BenchFailure("\(what): \(String(cString: strerror(Int32(truncatingIfNeeded: -result))))")
}

extension BenchHarness {
    func runCLimitParent(
        _ scenario: BenchScenario, _ workload: BenchWorkload, base: String, arguments: [String],
        into row: inout BenchRow
    ) throws {
        let geometry = CLimitGeometry(scenario, workload)
        let name = base + ".c"
        BenchCleanup.shared.addSegment(name)
        let segment = try SharedMemory(named: name, mode: .create, size: geometry.size)
        let region = segment.bytes.baseAddress!
        let second = region + geometry.partSize
        let capacity = geometry.capacity
        let backoff: Int32 = scenario == .cRingBackoff ? 1 : 0
        if scenario == .cMutex {
            // Before the child starts: nobody else uses the buffers yet.
            for part in 0..<geometry.count {
                try checked(cbl_buffer_init(region + part * geometry.partSize), "pthread initialisation")
            }
        }
        let child = try BenchChild(self.child, arguments: arguments, input: nil, timeout: childTimeout)
        try child.waitUntilReady()
        switch workload {
        case .rtt:
            var samples = [UInt64](repeating: 1, count: timings.rounds)  // written now: no page fault later
            let n = try samples.withUnsafeMutableBufferPointer { samples in
                var run = cbl_round_trips(
                    warmup: UInt64(timings.warmup), rounds: UInt64(samples.count),
                    cap_ns: UInt64(timings.capSeconds * 1e9), samples: samples.baseAddress)
                let result: Int64
                switch scenario {
                case .cFlag: result = cbl_flag_ping(region, &run)
                case .cFutex: result = cbl_futex_ping(region, &run)
                case .cMutex: result = cbl_buffer_ping(region, second, capacity, &run)
                default: result = cbl_ring_ping(region, second, capacity, backoff, &run)
                }
                return try checked(result, "\(scenario.rawValue) round trips")
            }
            try child.finish()
            var timed = Array(samples[..<n])
            row.rtt = LatencySummary(samples: &timed)
        case .stream:
            var stream = cbl_stream(
                duration_ns: UInt64(timings.streamSeconds * 1e9), minimum: BenchMarker.firstTimed64 + 1000,
                clock_mask: 1023)
            if scenario == .cMutex {
                let message = prefaultedBuffer(MemoryLayout<Message64>.size)
                defer { message.deallocate() }
                message.initializeMemory(as: UInt8.self, repeating: 0)
                try checked(
                    cbl_buffer_send(region, capacity, message.count, &stream, message.baseAddress), "c-mutex stream")
            } else {
                try checked(cbl_ring_send64(region, capacity, backoff, &stream), "\(scenario.rawValue) stream")
            }
            let count = StreamCount(try child.readResult())
            try child.finish()
            row.stream64 = StreamSummary(count, messageSize: 64)
        case .stream1MiB:
            var stream = cbl_stream(
                duration_ns: UInt64(timings.streamSeconds * 1e9), minimum: BenchMarker.firstTimed1M + 8, clock_mask: 0)
            let buffer = prefaultedBuffer(LargeMessage.size)
            defer { buffer.deallocate() }
            let result =
                scenario == .cMutex
                ? cbl_buffer_send(region, capacity, buffer.count, &stream, buffer.baseAddress)
                : cbl_ring_send_large(region, capacity, buffer.count, backoff, &stream, buffer.baseAddress)
            try checked(result, "\(scenario.rawValue) 1 MiB stream")
            let count = StreamCount(try child.readResult())
            try child.finish()
            row.stream1MiB = StreamSummary(count, messageSize: LargeMessage.size)
        }
        withExtendedLifetime(segment) {}
    }

    static func runCLimitChild(_ scenario: BenchScenario, _ workload: BenchWorkload, base: String) throws {
        let geometry = CLimitGeometry(scenario, workload)
        let segment = try SharedMemory(named: base + ".c", mode: .open, size: geometry.size)
        let region = segment.bytes.baseAddress!
        let second = region + geometry.partSize
        let capacity = geometry.capacity
        let backoff: Int32 = scenario == .cRingBackoff ? 1 : 0
        ChildReport.ready()
        switch workload {
        case .rtt:
            let result: Int32
            switch scenario {
            case .cFlag: result = cbl_flag_pong(region)
            case .cFutex: result = cbl_futex_pong(region)
            case .cMutex: result = cbl_buffer_pong(region, second, capacity)
            default: result = cbl_ring_pong(region, second, capacity, backoff)
            }
            try checked(result, "\(scenario.rawValue) echo")
        case .stream, .stream1MiB:
            let first = workload == .stream ? BenchMarker.firstTimed64 : BenchMarker.firstTimed1M
            let buffer = prefaultedBuffer(geometry.slotSize)
            defer { buffer.deallocate() }
            var count = cbl_stream_count()
            let result: Int32
            if scenario == .cMutex {
                result = cbl_buffer_receive(region, capacity, buffer.count, first, buffer.baseAddress, &count)
            } else if workload == .stream {
                result = cbl_ring_receive64(region, capacity, backoff, first, &count)
            } else {
                result = cbl_ring_receive_large(
                    region, capacity, buffer.count, backoff, first, buffer.baseAddress, &count)
            }
            try checked(result, "\(scenario.rawValue) receive")
            StreamCount(count).report()
        }
        withExtendedLifetime(segment) {}
    }
}
