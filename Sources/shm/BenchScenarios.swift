import Foundation
import Glibc
import Interprocess

/// What `shm bench` measures: one row of the table each.
enum BenchScenario: String, CaseIterable, Codable {
    case flag
    case futex
    case spscSpin = "spsc-spin"
    case spscBlock = "spsc-block"
    case spscAdaptive = "spsc-adaptive"
    case mpmcSpin = "mpmc-spin"
    case mpmcBlock = "mpmc-block"
    case mpmcAdaptive = "mpmc-adaptive"
    case bytesAdaptive = "bytes-adaptive"
    case pipe
    case socket

    var title: String {
        switch self {
        case .flag: "atomic flags in shared memory (spin limit)"
        case .futex: "futex ping-pong (blocking limit)"
        case .spscSpin: "Interprocess SPSC channel"
        case .spscBlock: "Interprocess SPSC channel"
        case .spscAdaptive: "Interprocess SPSC channel"
        case .mpmcSpin: "Interprocess MPMC channel"
        case .mpmcBlock: "Interprocess MPMC channel"
        case .mpmcAdaptive: "Interprocess MPMC channel"
        case .bytesAdaptive: "Interprocess byte channel (SPSC)"
        case .pipe: "pipe pair"
        case .socket: "Unix stream socket pair"
        }
    }

    var mode: String {
        switch self {
        case .flag, .spscSpin, .mpmcSpin: "spin"
        case .futex, .spscBlock, .mpmcBlock, .pipe, .socket: "blocking"
        case .spscAdaptive, .mpmcAdaptive, .bytesAdaptive: "adaptive"
        }
    }

    /// The limit a row's round trip is compared with: spinning and adaptive rows with the
    /// atomic flags, blocking rows with the futex ping-pong.
    var limit: BenchScenario? {
        switch self {
        case .flag, .futex, .bytesAdaptive: nil
        case .spscSpin, .mpmcSpin, .spscAdaptive, .mpmcAdaptive: .flag
        case .spscBlock, .mpmcBlock, .pipe, .socket: .futex
        }
    }

    var workloads: [BenchWorkload] {
        switch self {
        case .flag, .futex: [.rtt]
        case .spscSpin, .spscBlock, .spscAdaptive, .mpmcSpin, .mpmcBlock, .mpmcAdaptive: [.rtt, .stream]
        case .bytesAdaptive: [.stream1MiB]
        case .pipe, .socket: [.rtt, .stream, .stream1MiB]
        }
    }

    /// The channel's topology and wait strategy, for channel rows.
    var channel: (ChannelTopology, WaitStrategy)? {
        switch self {
        case .spscSpin: (.singleProducerSingleConsumer, .spin)
        case .spscBlock: (.singleProducerSingleConsumer, .block)
        case .spscAdaptive: (.singleProducerSingleConsumer, .adaptive)
        case .mpmcSpin: (.multiProducerMultiConsumer, .spin)
        case .mpmcBlock: (.multiProducerMultiConsumer, .block)
        case .mpmcAdaptive: (.multiProducerMultiConsumer, .adaptive)
        default: nil
        }
    }

    /// What this build cannot measure, said in the output rather than left out silently.
    static func gaps(workloads: [BenchWorkload]) -> [String] { [] }
}

enum BenchWorkload: String, CaseIterable, Codable {
    case rtt
    case stream
    case stream1MiB = "stream-1mib"
}

// MARK: - Results

struct StreamSummary: Codable {
    var messagesPerSecond: Double
    var gigabytesPerSecond: Double?
    var sent: UInt64
    var received: UInt64
    var loss: UInt64
    var outOfOrder: UInt64
    var timedSeconds: Double

    init(_ count: StreamCount, messageSize: Int) {
        let seconds = Double(count.timedNanoseconds) / 1e9
        timedSeconds = seconds
        messagesPerSecond = seconds > 0 ? Double(count.timedMessages) / seconds : 0
        gigabytesPerSecond = messageSize >= 1 << 20 ? messagesPerSecond * Double(messageSize) / 1e9 : nil
        sent = count.sent
        received = count.received
        loss = count.loss
        outOfOrder = count.outOfOrder
    }
}

struct BenchRow: Codable {
    var id: String
    var name: String
    var mode: String
    var limit: String?
    var rtt: LatencySummary?
    /// RTT p50 divided by the same run's limit p50.
    var rttP50RatioToLimit: Double?
    var stream64: StreamSummary?
    var stream1MiB: StreamSummary?

    init(_ scenario: BenchScenario) {
        id = scenario.rawValue
        name = scenario.title
        mode = scenario.mode
        limit = scenario.limit?.rawValue
    }

    static func computeRatios(_ rows: inout [BenchRow]) {
        let p50 = Dictionary(rows.compactMap { r in r.rtt.map { (r.id, $0.p50_ns) } }, uniquingKeysWith: { a, _ in a })
        for i in rows.indices {
            guard let limit = rows[i].limit, let mine = rows[i].rtt?.p50_ns, let theirs = p50[limit], theirs > 0 else {
                continue
            }
            rows[i].rttP50RatioToLimit = Double(mine) / Double(theirs)
        }
    }
}

struct BenchReport: Codable {
    struct Settings: Codable {
        var warmup: Int
        var roundTrips: Int
        var roundTripCapSeconds: Double
        var streamSeconds: Double
        var capacity64: Int
        var capacity1MiB: Int
    }
    var machine: MachineDescription
    var settings: Settings
    var rows: [BenchRow]
    var gaps: [String]

    func tableLines() -> [String] {
        var lines = ["machine: \(machine.line)"]
        lines.append(
            "method: BENCHMARKS.md; RTT = \(settings.roundTrips) timed after \(settings.warmup) untimed (cap "
                + "\(format(settings.roundTripCapSeconds)) s), streams \(format(settings.streamSeconds)) s, capacity "
                + "\(settings.capacity64) × 64 B / \(settings.capacity1MiB) × 1 MiB")
        let header = ["row", "mode", "n", "RTT p50 ns", "p99 ns", "p99.9 ns", "p50 / limit", "64 B msg/s", "1 MiB GB/s", "loss"]
        var table = [header]
        for row in rows {
            let ratio = row.rttP50RatioToLimit.map { String(format: "%.2f× %@", $0, row.limit ?? "") } ?? "–"
            let loss = (row.stream64?.loss ?? 0) + (row.stream1MiB?.loss ?? 0)
            let outOfOrder = (row.stream64?.outOfOrder ?? 0) + (row.stream1MiB?.outOfOrder ?? 0)
            table.append([
                "\(row.id): \(row.name)", row.mode, row.rtt.map { "\($0.n)" } ?? "–",
                row.rtt.map { grouped($0.p50_ns) } ?? "–", row.rtt.map { grouped($0.p99_ns) } ?? "–",
                row.rtt.map { grouped($0.p999_ns) } ?? "–", ratio,
                row.stream64.map { rate($0.messagesPerSecond) } ?? "–",
                row.stream1MiB.flatMap { $0.gigabytesPerSecond.map { String(format: "%.2f", $0) } } ?? "–",
                row.stream64 == nil && row.stream1MiB == nil ? "–" : "\(loss)" + (outOfOrder > 0 ? " (\(outOfOrder) out of order)" : ""),
            ])
        }
        let widths = header.indices.map { c in table.map { $0[c].count }.max()! }
        for (r, cells) in table.enumerated() {
            let padded = cells.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return c < 2 ? cell + pad : pad + cell
            }
            lines.append(padded.joined(separator: "  "))
            if r == 0 { lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
        }
        for gap in gaps { lines.append("gap: \(gap)") }
        return lines
    }

    private func format(_ value: Double) -> String { String(format: "%g", value) }

    private func grouped(_ value: UInt64) -> String {
        var digits = Array(String(value))
        var i = digits.count - 3
        while i > 0 {
            digits.insert(",", at: i)
            i -= 3
        }
        return String(digits)
    }

    private func rate(_ value: Double) -> String {
        value >= 1e6 ? String(format: "%.2f M", value / 1e6) : String(format: "%.0f k", value / 1e3)
    }
}

// MARK: - Running one workload

extension Bench {
    /// How long a child may take before the parent gives up on it.
    var childTimeout: Double { 60 + roundTripSettings.capSeconds + 2 * streamSeconds }

    /// The parent's side of `workload` over `scenario`; fills `row`.
    func runParent(
        _ scenario: BenchScenario, _ workload: BenchWorkload, base: String, pinned: Bool, into row: inout BenchRow
    ) throws {
        let childArguments =
            ["--scenarios", scenario.rawValue, "--workloads", workload.rawValue, "--objects", base]
            + (pinned ? ["--child-core", "1"] : [])
        let minimum64 = BenchMarker.firstTimed64 + 1000
        let minimum1M = BenchMarker.firstTimed1M + 8

        if let (topology, strategy) = scenario.channel {
            switch workload {
            case .rtt:
                BenchCleanup.shared.addSegment(base + ".ping")
                BenchCleanup.shared.addSegment(base + ".pong")
                var ping = ChannelPing(
                    ping: try ChannelSender<UInt64>(
                        named: base + ".ping", capacity: 256, topology: topology, mode: .create, waitStrategy: strategy),
                    pong: try ChannelReceiver<UInt64>(
                        named: base + ".pong", capacity: 256, topology: topology, mode: .create, waitStrategy: strategy))
                let child = try BenchChild(arguments: childArguments, input: nil, timeout: childTimeout)
                try child.waitUntilReady()
                var samples = try timeRoundTrips(&ping, roundTripSettings)
                try child.finish()
                row.rtt = LatencySummary(samples: &samples)
            case .stream:
                BenchCleanup.shared.addSegment(base + ".stream")
                var sender = ChannelStreamSender(
                    sender: try ChannelSender<Message64>(
                        named: base + ".stream", capacity: 256, topology: topology, mode: .create, waitStrategy: strategy))
                let child = try BenchChild(arguments: childArguments, input: nil, timeout: childTimeout)
                try child.waitUntilReady()
                try sendStream(&sender, seconds: streamSeconds, minimum: minimum64)
                let count = StreamCount(try child.readResult())
                try child.finish()
                row.stream64 = StreamSummary(count, messageSize: 64)
            case .stream1MiB:
                throw BenchFailure("no 1 MiB workload for a typed channel")
            }
            return
        }

        switch scenario {
        case .flag, .futex:
            BenchCleanup.shared.addSegment(base + ".words")
            let segment = try SharedMemory(named: base + ".words", mode: .create, size: SharedWordPair.size)
            let words = SharedWordPair(segment: segment)
            let child = try BenchChild(arguments: childArguments, input: nil, timeout: childTimeout)
            try child.waitUntilReady()
            var samples: [UInt64]
            if scenario == .flag {
                var ping = FlagPing(words: words)
                samples = try timeRoundTrips(&ping, roundTripSettings)
            } else {
                var ping = FutexPing(words: words)
                samples = try timeRoundTrips(&ping, roundTripSettings)
            }
            try child.finish()
            row.rtt = LatencySummary(samples: &samples)

        case .bytesAdaptive:
            BenchCleanup.shared.addSegment(base + ".bytes")
            var sender = try ByteChannelSender(
                named: base + ".bytes", bufferSize: LargeMessage.byteChannelBufferSize,
                maximumMessageSize: LargeMessage.size, mode: .create)
            let child = try BenchChild(arguments: childArguments, input: nil, timeout: childTimeout)
            try child.waitUntilReady()
            try sendLargeStream(seconds: streamSeconds, minimum: minimum1M) { try sender.send($0) }
            let count = StreamCount(try child.readResult())
            try child.finish()
            row.stream1MiB = StreamSummary(count, messageSize: LargeMessage.size)

        case .pipe:
            // Two named FIFOs: parent → child (`.ab`) and child → parent (`.ba`). The parent
            // opens both read-write so its opens never block on a child that failed to start.
            let ab = "/tmp/shm-\(base).ab", ba = "/tmp/shm-\(base).ba"
            for path in [ab, ba] {
                BenchCleanup.shared.addPath(path)
                guard mkfifo(path, 0o600) == 0 else { throw BenchFailure("mkfifo \(path): \(String(cString: strerror(errno)))") }
            }
            let output = open(ab, O_RDWR | O_CLOEXEC), input = open(ba, O_RDWR | O_CLOEXEC)
            guard output >= 0, input >= 0 else { throw BenchFailure("open FIFO: \(String(cString: strerror(errno)))") }
            defer {
                close(output)
                close(input)
            }
            let child = try BenchChild(arguments: childArguments, input: nil, timeout: childTimeout)
            try child.waitUntilReady()
            unlink(ab)
            unlink(ba)
            try runDescriptorParent(workload, output: output, input: input, child: child, into: &row)

        case .socket:
            var fds: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
                throw BenchFailure("socketpair: \(String(cString: strerror(errno)))")
            }
            defer { close(fds[0]) }
            // The child's end becomes its standard input (dup2 clears close-on-exec).
            let child = try BenchChild(
                arguments: childArguments, input: FileHandle(fileDescriptor: fds[1], closeOnDealloc: false),
                timeout: childTimeout)
            close(fds[1])
            try child.waitUntilReady()
            try runDescriptorParent(workload, output: fds[0], input: fds[0], child: child, into: &row)

        default:
            throw BenchFailure("unknown scenario")
        }
    }

    private func runDescriptorParent(
        _ workload: BenchWorkload, output: Int32, input: Int32, child: BenchChild, into row: inout BenchRow
    ) throws {
        switch workload {
        case .rtt:
            var ping = DescriptorPing(output: output, input: input)
            var samples = try timeRoundTrips(&ping, roundTripSettings)
            try child.finish()
            row.rtt = LatencySummary(samples: &samples)
        case .stream:
            var sender = DescriptorStreamSender(output: output)
            try sendStream(&sender, seconds: streamSeconds, minimum: BenchMarker.firstTimed64 + 1000)
            let count = StreamCount(try child.readResult())
            try child.finish()
            row.stream64 = StreamSummary(count, messageSize: 64)
        case .stream1MiB:
            try sendLargeStream(seconds: streamSeconds, minimum: BenchMarker.firstTimed1M + 8) {
                try writeFully(output, $0.baseAddress!, $0.count)
            }
            let count = StreamCount(try child.readResult())
            try child.finish()
            row.stream1MiB = StreamSummary(count, messageSize: LargeMessage.size)
        }
    }

    /// The child's side: pins to core 1, opens its end, says `ready`, plays its part.
    func runChild(_ scenario: BenchScenario, _ workload: BenchWorkload, base: String) throws {
        if let childCore { pinForBench(core: childCore) }
        if let (topology, strategy) = scenario.channel {
            switch workload {
            case .rtt:
                var pong = ChannelPong(
                    ping: try ChannelReceiver<UInt64>(
                        named: base + ".ping", topology: topology, mode: .open, waitStrategy: strategy),
                    pong: try ChannelSender<UInt64>(
                        named: base + ".pong", topology: topology, mode: .open, waitStrategy: strategy))
                ChildReport.ready()
                try echoRoundTrips(&pong)
            case .stream:
                var receiver = ChannelStreamReceiver(
                    receiver: try ChannelReceiver<Message64>(
                        named: base + ".stream", topology: topology, mode: .open, waitStrategy: strategy))
                ChildReport.ready()
                try receiveStream(&receiver, firstTimed: BenchMarker.firstTimed64).report()
            case .stream1MiB:
                throw BenchFailure("no 1 MiB workload for a typed channel")
            }
            return
        }
        switch scenario {
        case .flag, .futex:
            let segment = try SharedMemory(named: base + ".words", mode: .open, size: SharedWordPair.size)
            let words = SharedWordPair(segment: segment)
            ChildReport.ready()
            if scenario == .flag {
                var pong = FlagPong(words: words)
                try echoRoundTrips(&pong)
            } else {
                var pong = FutexPong(words: words)
                try echoRoundTrips(&pong)
            }
        case .bytesAdaptive:
            var receiver = try ByteChannelReceiver(named: base + ".bytes", mode: .open)
            ChildReport.ready()
            try receiveLargeStream { buffer in
                do {
                    guard let n = try receiver.receive(into: buffer) else { return false }
                    guard n == buffer.count else { throw BenchFailure("a \(n)-byte message instead of 1 MiB") }
                    return true
                } catch let error as ChannelError where error == .closed {
                    return false
                }
            }.report()
        case .pipe:
            let input = open("/tmp/shm-\(base).ab", O_RDONLY | O_CLOEXEC)
            guard input >= 0 else { throw BenchFailure("open FIFO: \(String(cString: strerror(errno)))") }
            let output = open("/tmp/shm-\(base).ba", O_WRONLY | O_CLOEXEC)
            guard output >= 0 else { throw BenchFailure("open FIFO: \(String(cString: strerror(errno)))") }
            ChildReport.ready()
            try runDescriptorChild(workload, input: input, output: output)
        case .socket:
            ChildReport.ready()
            try runDescriptorChild(workload, input: 0, output: 0)
        default:
            throw BenchFailure("unknown scenario")
        }
    }

    private func runDescriptorChild(_ workload: BenchWorkload, input: Int32, output: Int32) throws {
        switch workload {
        case .rtt:
            var pong = DescriptorPong(input: input, output: output)
            try echoRoundTrips(&pong)
        case .stream:
            var receiver = DescriptorStreamReceiver(input: input)
            try receiveStream(&receiver, firstTimed: BenchMarker.firstTimed64).report()
        case .stream1MiB:
            try receiveLargeStream { try readFully(input, $0.baseAddress!, $0.count) }.report()
        }
    }
}
