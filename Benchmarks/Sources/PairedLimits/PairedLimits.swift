// The channel rows of issue 13's targets beside the C limits of `shm bench`, measured in
// alternating chunks by the same two threads, pinned to cores 0 and 1: every row of a round
// sees the same placement of the two vCPUs, so the per-round ratios compare like with like on a
// virtual machine whose placements move `shm bench`'s rows (measured one after the other) by up
// to 3×. The C rows are `shm bench`'s own code (`Sources/CBenchLimits`, linked as `CLimitRows`)
// run on threads instead of processes; the Swift rows follow their method exactly:
//
// - round trips: 100 untimed, then CHUNK timed ones, one clock read per reply (sample i =
//   t(i) − t(i−1)); 8-byte values, rings of 256;
// - streams: CHUNK 64-byte messages (the C sender rounds up to a multiple of 1024 and adds its
//   end message), timed on the sender from its first message until the receiver has taken the
//   last; capacity 256.
//
// Usage: PairedLimits [ROUNDS] [RTT-CHUNK] [STREAM-CHUNK]   (defaults: 30, 20000, 300000)
// Prints, per target, the median of the per-round ratios (and their quartiles); p99.9 from every
// sample of a row pooled over the rounds.
import BenchmarkScenarios
import CLimitRows
import Glibc
import Interprocess
import PairedSupport
import Synchronization

struct Message: BitwiseCopyable {
    var sequence: UInt64 = 0
    var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0)
}

/// A row: what both threads run for one chunk.
enum Row: Int, CaseIterable {
    case cFlag, cRing, spscSpin, spscAdaptive, mpmcSpin, cMutex, mutexBuffer, cFutex, spscBlock  // round trips
    case cRingStream, cRingBackoffStream, spscSpinStream, spscAdaptiveStream, mpmcSpinStream  // streams
    case cMutexStream, mutexBufferStream

    var isStream: Bool { rawValue >= Row.cRingStream.rawValue }
    var label: String {
        switch self {
        case .cFlag: "c-flag"
        case .cRing: "c-ring"
        case .spscSpin: "spsc-spin"
        case .spscAdaptive: "spsc-adaptive"
        case .mpmcSpin: "mpmc-spin"
        case .cFutex: "c-futex"
        case .spscBlock: "spsc-block"
        case .cMutex, .cMutexStream: "c-mutex"
        case .mutexBuffer, .mutexBufferStream: "mutex-buffer"
        case .cRingStream: "c-ring"
        case .cRingBackoffStream: "c-ring-backoff"
        case .spscSpinStream: "spsc-spin"
        case .spscAdaptiveStream: "spsc-adaptive"
        case .mpmcSpinStream: "mpmc-spin"
        }
    }
}

let warmup = 100

/// Memory the C rows use, zeroed before each chunk (their positions start at 0).
final class Regions: @unchecked Sendable {
    let words = UnsafeMutableRawPointer.allocate(byteCount: cbl_words_region_size(), alignment: 128)
    let out = UnsafeMutableRawPointer.allocate(byteCount: cbl_ring_size(256, 64), alignment: 128)
    let back = UnsafeMutableRawPointer.allocate(byteCount: cbl_ring_size(256, 64), alignment: 128)
    /// `c-mutex`'s bounded buffers: two of 256 × 8 bytes (round trips), one of 256 × 64 (streams).
    let bufferOut = UnsafeMutableRawPointer.allocate(byteCount: cbl_buffer_size(256, 8), alignment: 128)
    let bufferBack = UnsafeMutableRawPointer.allocate(byteCount: cbl_buffer_size(256, 8), alignment: 128)
    let bufferStream = UnsafeMutableRawPointer.allocate(byteCount: cbl_buffer_size(256, 64), alignment: 128)
    func reset() {
        for (buffer, size) in [
            (bufferOut, cbl_buffer_size(256, 8)), (bufferBack, cbl_buffer_size(256, 8)),
            (bufferStream, cbl_buffer_size(256, 64))
        ] {
            buffer.initializeMemory(as: UInt8.self, repeating: 0, count: size)
            guard cbl_buffer_init(buffer) == 0 else { fatalError("cbl_buffer_init") }
        }
        words.initializeMemory(as: UInt8.self, repeating: 0, count: cbl_words_region_size())
        out.initializeMemory(as: UInt8.self, repeating: 0, count: cbl_ring_size(256, 64))
        back.initializeMemory(as: UInt8.self, repeating: 0, count: cbl_ring_size(256, 64))
    }
}

/// The two threads' hand-over: the row to run next (with a generation), and the receiver's
/// completion count.
final class Shared: Sendable {
    let name: String, rounds: Int, rttChunk: Int, streamChunk: Int
    let regions: Regions
    /// generation << 8 | row, set by the main thread to start a chunk.
    let command = Atomic<Int>(0)
    /// Chunks the echo thread finished.
    let finished = Atomic<Int>(0)
    /// Messages the stream receiver took in the current chunk.
    let received = Atomic<Int>(0)
    init(name: String, rounds: Int, rttChunk: Int, streamChunk: Int, regions: Regions) {
        (self.name, self.rounds, self.rttChunk, self.streamChunk, self.regions) =
            (name, rounds, rttChunk, streamChunk, regions)
    }

    /// The echo / receiving side of every chunk.
    func run() throws {
        pin(1)
        var spinPing = try ChannelReceiver<UInt64>(named: name + ".spin-ping", waitStrategy: .spin)
        var spinPong = try ChannelSender<UInt64>(named: name + ".spin-pong", mode: .open, waitStrategy: .spin)
        var blockPing = try ChannelReceiver<UInt64>(named: name + ".block-ping", waitStrategy: .block)
        var blockPong = try ChannelSender<UInt64>(named: name + ".block-pong", mode: .open, waitStrategy: .block)
        var adaptivePing = try ChannelReceiver<UInt64>(named: name + ".adaptive-ping", waitStrategy: .adaptive)
        var adaptivePong = try ChannelSender<UInt64>(
            named: name + ".adaptive-pong", mode: .open, waitStrategy: .adaptive)
        var mpmcPing = try ChannelReceiver<UInt64>(named: name + ".mpmc-ping", waitStrategy: .spin)
        var mpmcPong = try ChannelSender<UInt64>(named: name + ".mpmc-pong", mode: .open, waitStrategy: .spin)
        var spinStream = try ChannelReceiver<Message>(named: name + ".spin-stream", waitStrategy: .spin)
        var adaptiveStream = try ChannelReceiver<Message>(named: name + ".adaptive-stream", waitStrategy: .adaptive)
        var mpmcStream = try ChannelReceiver<Message>(named: name + ".mpmc-stream", waitStrategy: .spin)
        let mutexIn = try MutexBuffer(name + ".mutex-ping", capacity: 256, slotSize: 8, create: false)
        let mutexBack = try MutexBuffer(name + ".mutex-pong", capacity: 256, slotSize: 8, create: false)
        let mutexStream = try MutexBuffer(name + ".mutex-stream", capacity: 256, slotSize: 64, create: false)
        var generation = 0
        var last: UInt64 = 0
        while true {
            generation += 1
            var command = 0
            repeat { command = self.command.load(ordering: .acquiring) } while command >> 8 != generation
            guard let row = Row(rawValue: command & 0xFF) else { return }  // the end
            let trips = warmup + rttChunk
            func echo(_ receiver: inout ChannelReceiver<UInt64>, _ sender: inout ChannelSender<UInt64>) throws {
                for _ in 0..<trips {
                    guard let value = try receiver.receive() else { fatalError("no message") }
                    try sender.send(value)
                }
            }
            func take(_ receiver: inout ChannelReceiver<Message>) throws {
                for _ in 0..<streamChunk {
                    guard let message = try receiver.receive(), message.sequence == last &+ 1 else {
                        fatalError("lost or out of order")
                    }
                    last = message.sequence
                }
                received.store(streamChunk, ordering: .releasing)
            }
            switch row {
            case .cFlag: guard cbl_flag_pong(regions.words) == 0 else { fatalError("c-flag pong") }
            case .cRing: guard cbl_ring_pong(regions.out, regions.back, 256, 0) == 0 else { fatalError("c-ring pong") }
            case .spscSpin: try echo(&spinPing, &spinPong)
            case .spscBlock: try echo(&blockPing, &blockPong)
            case .cFutex: guard cbl_futex_pong(regions.words) == 0 else { fatalError("c-futex pong") }
            case .spscAdaptive: try echo(&adaptivePing, &adaptivePong)
            case .mpmcSpin: try echo(&mpmcPing, &mpmcPong)
            case .cMutex:
                guard cbl_buffer_pong(regions.bufferOut, regions.bufferBack, 256) == 0 else {
                    fatalError("c-mutex pong")
                }
            case .mutexBuffer:
                var value: UInt64 = 0
                for _ in 0..<trips {
                    try mutexIn.take(into: &value)
                    try mutexBack.put(&value)
                }
            case .cMutexStream:
                var count = cbl_stream_count()
                var message = Message()
                guard cbl_buffer_receive(regions.bufferStream, 256, 64, 1, &message, &count) == 0,
                    count.out_of_order == 0
                else { fatalError("c-mutex receive") }
                received.store(Int(count.received), ordering: .releasing)
            case .mutexBufferStream:
                var message = Message()
                for _ in 0..<streamChunk {
                    try mutexStream.take(into: &message)
                    guard message.sequence == last &+ 1 else { fatalError("lost or out of order") }
                    last = message.sequence
                }
                received.store(streamChunk, ordering: .releasing)
            case .cRingStream, .cRingBackoffStream:
                var count = cbl_stream_count()
                guard cbl_ring_receive64(regions.out, 256, row == .cRingBackoffStream ? 1 : 0, 1, &count) == 0,
                    count.out_of_order == 0
                else { fatalError("c-ring receive") }
                received.store(Int(count.received), ordering: .releasing)
            case .spscSpinStream: try take(&spinStream)
            case .spscAdaptiveStream: try take(&adaptiveStream)
            case .mpmcSpinStream: try take(&mpmcStream)
            }
            finished.store(generation, ordering: .releasing)
        }
    }
}

@main
struct PairedLimits {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        let rounds = arguments.first.flatMap { Int($0) } ?? 30
        let rttChunk = arguments.dropFirst().first.flatMap { Int($0) } ?? 20_000
        let streamChunk = arguments.dropFirst(2).first.flatMap { Int($0) } ?? 300_000
        let name = "paired-limits-\(getpid())"
        let channels: [(String, ChannelTopology)] = [
            ("spin-ping", .singleProducerSingleConsumer), ("spin-pong", .singleProducerSingleConsumer),
            ("block-ping", .singleProducerSingleConsumer), ("block-pong", .singleProducerSingleConsumer),
            ("adaptive-ping", .singleProducerSingleConsumer), ("adaptive-pong", .singleProducerSingleConsumer),
            ("mpmc-ping", .multiProducerMultiConsumer), ("mpmc-pong", .multiProducerMultiConsumer)
        ]
        let streams: [(String, ChannelTopology)] = [
            ("spin-stream", .singleProducerSingleConsumer), ("adaptive-stream", .singleProducerSingleConsumer),
            ("mpmc-stream", .multiProducerMultiConsumer)
        ]
        defer { for (suffix, _) in channels + streams { try? SharedMemory.remove(named: name + "." + suffix) } }
        for (suffix, topology) in channels {
            try ChannelSender<UInt64>(named: name + "." + suffix, capacity: 256, topology: topology, mode: .create)
                .close()
        }
        for (suffix, topology) in streams {
            try ChannelSender<Message>(named: name + "." + suffix, capacity: 256, topology: topology, mode: .create)
                .close()
        }
        let mutexNames = [".mutex-ping", ".mutex-pong", ".mutex-stream"].flatMap { MutexBuffer.names(name + $0) }
        defer { for object in mutexNames { try? SharedMemory.remove(named: object) } }
        let mutexOut = try MutexBuffer(name + ".mutex-ping", capacity: 256, slotSize: 8, create: true)
        let mutexBack = try MutexBuffer(name + ".mutex-pong", capacity: 256, slotSize: 8, create: true)
        let mutexStream = try MutexBuffer(name + ".mutex-stream", capacity: 256, slotSize: 64, create: true)
        let regions = Regions()
        let shared = Shared(name: name, rounds: rounds, rttChunk: rttChunk, streamChunk: streamChunk, regions: regions)
        let thread = startThread(named: "echo") { try shared.run() }
        pin(0)
        var spinPing = try ChannelSender<UInt64>(named: name + ".spin-ping", mode: .open, waitStrategy: .spin)
        var spinPong = try ChannelReceiver<UInt64>(named: name + ".spin-pong", waitStrategy: .spin)
        var blockPing = try ChannelSender<UInt64>(named: name + ".block-ping", mode: .open, waitStrategy: .block)
        var blockPong = try ChannelReceiver<UInt64>(named: name + ".block-pong", waitStrategy: .block)
        var adaptivePing = try ChannelSender<UInt64>(
            named: name + ".adaptive-ping", mode: .open, waitStrategy: .adaptive)
        var adaptivePong = try ChannelReceiver<UInt64>(named: name + ".adaptive-pong", waitStrategy: .adaptive)
        var mpmcPing = try ChannelSender<UInt64>(named: name + ".mpmc-ping", mode: .open, waitStrategy: .spin)
        var mpmcPong = try ChannelReceiver<UInt64>(named: name + ".mpmc-pong", waitStrategy: .spin)
        var spinStream = try ChannelSender<Message>(named: name + ".spin-stream", mode: .open, waitStrategy: .spin)
        var adaptiveStream = try ChannelSender<Message>(
            named: name + ".adaptive-stream", mode: .open, waitStrategy: .adaptive)
        var mpmcStream = try ChannelSender<Message>(named: name + ".mpmc-stream", mode: .open, waitStrategy: .spin)

        var p50: [Row: [Double]] = [:]
        var pooled: [Row: [UInt64]] = [:]
        var rates: [Row: [Double]] = [:]
        var samples = [UInt64](repeating: 0, count: rttChunk)
        var generation = 0
        var sequence: UInt64 = 0
        func start(_ row: Row) {
            generation += 1
            shared.received.store(0, ordering: .relaxed)
            shared.command.store(generation << 8 | row.rawValue, ordering: .releasing)
        }
        func awaitEcho() { while shared.finished.load(ordering: .acquiring) != generation {} }
        /// Round trips with the C harness's method.
        func trips(_ sender: inout ChannelSender<UInt64>, _ receiver: inout ChannelReceiver<UInt64>) throws {
            for i in 0..<warmup {
                try sender.send(UInt64(i))
                guard try receiver.receive() == UInt64(i) else { fatalError("wrong echo") }
            }
            var previous = now()
            for i in 0..<rttChunk {
                try sender.send(UInt64(i))
                guard try receiver.receive() == UInt64(i) else { fatalError("wrong echo") }
                let t = now()
                samples[i] = t - previous
                previous = t
            }
        }
        func stream(_ sender: inout ChannelSender<Message>) throws {
            for _ in 0..<streamChunk {
                sequence &+= 1
                try sender.send(Message(sequence: sequence))
            }
        }
        // `ROWS=a,b`: only the rows whose "label rtt" or "label stream" contains one of them (the
        // summary then prints only the ratios of the rows that ran).
        let filters = getenv("ROWS").map { String(cString: $0).split(separator: ",").map(String.init) } ?? []
        let selected = Row.allCases.filter { row in
            filters.isEmpty || filters.contains { "\(row.label) \(row.isStream ? "stream" : "rtt")".contains($0) }
        }
        for _ in 0..<rounds {
            for row in selected {
                regions.reset()
                start(row)
                if row.isStream {
                    let begin = now()
                    switch row {
                    case .cRingStream, .cRingBackoffStream:
                        var run = cbl_stream(duration_ns: 0, minimum: UInt64(streamChunk), clock_mask: 1023)
                        guard cbl_ring_send64(regions.out, 256, row == .cRingBackoffStream ? 1 : 0, &run) == 0 else {
                            fatalError("c-ring send")
                        }
                    case .spscSpinStream: try stream(&spinStream)
                    case .spscAdaptiveStream: try stream(&adaptiveStream)
                    case .mpmcSpinStream: try stream(&mpmcStream)
                    case .cMutexStream:
                        var run = cbl_stream(duration_ns: 0, minimum: UInt64(streamChunk), clock_mask: 1023)
                        var message = Message()
                        guard cbl_buffer_send(regions.bufferStream, 256, 64, &run, &message) == 0 else {
                            fatalError("c-mutex send")
                        }
                    case .mutexBufferStream:
                        for _ in 0..<streamChunk {
                            sequence &+= 1
                            var message = Message(sequence: sequence)
                            try mutexStream.put(&message)
                        }
                    default: fatalError("not a stream")
                    }
                    var got = 0
                    repeat { got = shared.received.load(ordering: .acquiring) } while got == 0
                    rates[row, default: []].append(Double(got) / Double(now() - begin) * 1e3)
                } else {
                    switch row {
                    case .cFlag, .cRing, .cFutex:
                        let timed = samples.withUnsafeMutableBufferPointer { buffer in
                            var run = cbl_round_trips(
                                warmup: UInt64(warmup), rounds: UInt64(rttChunk), cap_ns: 10_000_000_000,
                                samples: buffer.baseAddress)
                            switch row {
                            case .cFlag: return cbl_flag_ping(regions.words, &run)
                            case .cFutex: return cbl_futex_ping(regions.words, &run)
                            default: return cbl_ring_ping(regions.out, regions.back, 256, 0, &run)
                            }
                        }
                        guard timed == rttChunk else { fatalError("\(row.label) ping: \(timed)") }
                    case .spscSpin: try trips(&spinPing, &spinPong)
                    case .spscBlock: try trips(&blockPing, &blockPong)
                    case .spscAdaptive: try trips(&adaptivePing, &adaptivePong)
                    case .mpmcSpin: try trips(&mpmcPing, &mpmcPong)
                    case .cMutex:
                        let timed = samples.withUnsafeMutableBufferPointer { buffer in
                            var run = cbl_round_trips(
                                warmup: UInt64(warmup), rounds: UInt64(rttChunk), cap_ns: 10_000_000_000,
                                samples: buffer.baseAddress)
                            return cbl_buffer_ping(regions.bufferOut, regions.bufferBack, 256, &run)
                        }
                        guard timed == rttChunk else { fatalError("c-mutex ping: \(timed)") }
                    case .mutexBuffer:
                        func trip(_ i: Int) throws {
                            var value = UInt64(i)
                            try mutexOut.put(&value)
                            var reply: UInt64 = 0
                            try mutexBack.take(into: &reply)
                            guard reply == UInt64(i) else { fatalError("wrong mutex echo") }
                        }
                        for i in 0..<warmup { try trip(i) }
                        var previous = now()
                        for i in 0..<rttChunk {
                            try trip(i)
                            let t = now()
                            samples[i] = t - previous
                            previous = t
                        }
                    default: fatalError("not a round trip")
                    }
                    pooled[row, default: []].append(contentsOf: samples)
                    p50[row, default: []].append(median(&samples))
                }
                awaitEcho()
            }
        }
        shared.command.store((generation + 1) << 8 | 0xFF, ordering: .releasing)
        pthread_join(thread, nil)

        func ratios(_ a: [Double], _ b: [Double]) -> String {
            let r = zip(a, b).map { $0 / $1 }
            return "\(format(quantile(r, 0.5), digits: 3)) (quartiles \(format(quantile(r, 0.25), digits: 3))–"
                + "\(format(quantile(r, 0.75), digits: 3)))"
        }
        func p999(_ row: Row) -> Double {
            let sorted = pooled[row]!.sorted()
            return Double(sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.999).rounded(.up)) - 1)])
        }
        print("\(rounds) rounds; round trips of \(rttChunk), streams of \(streamChunk) 64 B messages")
        for row in selected where !row.isStream {
            print(
                "  RTT \(row.label): p50 median \(format(quantile(p50[row]!, 0.5), digits: 0)) ns, "
                    + "pooled p99.9 \(format(p999(row), digits: 0)) ns, "
                    + "\(pooled[row]!.filter { $0 >= 2000 }.count) of \(pooled[row]!.count) samples at 2 µs or more")
        }
        if getenv("TAILS") != nil {
            for row in selected where !row.isStream {
                var bins = [Int](repeating: 0, count: 12)
                for v in pooled[row]! where v >= 1000 { bins[min(11, Int(v - 1000) / 250)] += 1 }
                print("  tail \(row.label) (1 µs + 250 ns bins): \(bins)")
            }
        }
        for row in selected where row.isStream {
            print("  64 B \(row.label): median \(format(quantile(rates[row]!, 0.5))) M msg/s")
        }
        /// One target's line, when both of its rows ran.
        func compare(_ text: String, _ a: [Double]?, _ b: [Double]?) {
            if let a, let b { print("\(text): \(ratios(a, b))") }
        }
        compare("spsc-spin RTT p50 / c-ring (target <= 1.10)", p50[.spscSpin], p50[.cRing])
        compare("spsc-spin RTT p50 / c-flag", p50[.spscSpin], p50[.cFlag])
        if pooled[.spscSpin] != nil && pooled[.cFlag] != nil {
            print(
                "spsc-spin RTT p99.9 / c-flag p99.9, pooled (target <= 1.5): "
                    + format(p999(.spscSpin) / p999(.cFlag), digits: 3))
        }
        compare("spsc-adaptive RTT p50 / spsc-spin (target <= 1.10)", p50[.spscAdaptive], p50[.spscSpin])
        compare("mpmc-spin RTT p50 / c-ring", p50[.mpmcSpin], p50[.cRing])
        compare("spsc-spin 64 B / c-ring-backoff (target >= 1.0)", rates[.spscSpinStream], rates[.cRingBackoffStream])
        compare("spsc-adaptive 64 B / c-ring-backoff", rates[.spscAdaptiveStream], rates[.cRingBackoffStream])
        compare("spsc-spin 64 B / c-ring", rates[.spscSpinStream], rates[.cRingStream])
        compare("spsc-spin 64 B / mpmc-spin (target >= 1.0)", rates[.spscSpinStream], rates[.mpmcSpinStream])
        compare("spsc-block RTT p50 / c-futex (target <= 1.05)", p50[.spscBlock], p50[.cFutex])
        compare("mutex-buffer RTT p50 / c-mutex (target <= 1.0)", p50[.mutexBuffer], p50[.cMutex])
        compare("mutex-buffer 64 B / c-mutex (target >= 1.0)", rates[.mutexBufferStream], rates[.cMutexStream])
        _ = consume spinPing
        _ = consume spinPong
        _ = consume blockPing
        _ = consume blockPong
        _ = consume adaptivePing
        _ = consume adaptivePong
        _ = consume mpmcPing
        _ = consume mpmcPong
        _ = consume spinStream
        _ = consume adaptiveStream
        _ = consume mpmcStream
    }
}
