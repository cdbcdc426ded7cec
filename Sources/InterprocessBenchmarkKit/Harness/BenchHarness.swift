import Foundation
import Glibc
import Interprocess

/// Round-trip latency and one-way throughput between two processes, for our channels and, in
/// the same run, their limits (written in C: atomic flags, an SPSC ring, futex words, a robust
/// mutex with condition variables; `CLimitBench.swift`) and kernel baselines (pipe, Unix
/// socket), with the method of BENCHMARKS.md: what `shm bench` runs.
///
/// Each workload runs in a fresh child process (``child`` names the executable and the
/// arguments that make it play the child's side, ``runChild(_:_:base:core:)``): the parent is
/// the ping / sender side pinned to core 0, the child the pong / receiver side pinned to core
/// 1. The child reports on its standard output (a pipe): `ready cpu=N` once its end is open
/// (the parent checks N is the child's core, then starts), and for a stream one `result …`
/// line. The child's own arguments are `--scenarios S --workloads W --objects BASE
/// [--child-core N]`, which the command that starts it must accept after ``child``'s.
///
/// How the kernel baselines reach the child: the pipe pair is two named FIFOs under /tmp
/// (Foundation's `Process` closes inherited descriptors other than 0–2), unlinked as soon as
/// both ends are open; the Unix socket pair is a `socketpair(2)` whose second end becomes the
/// child's standard input.
package struct BenchHarness {
    /// How the parent starts a child: an executable and the arguments before the child's own.
    package struct ChildCommand: Sendable {
        package var executable: URL
        package var arguments: [String]

        package init(executable: URL, arguments: [String]) {
            self.executable = executable
            self.arguments = arguments
        }
    }

    package var timings: BenchTimings
    package var child: ChildCommand

    package init(timings: BenchTimings, child: ChildCommand) {
        self.timings = timings
        self.child = child
    }

    /// How long a child may take before the parent gives up on it.
    var childTimeout: Double { 60 + timings.capSeconds + 2 * timings.streamSeconds }

    /// The scenarios a run covers and its (scenario, workload) runs: the C limits a selected
    /// row is compared with come first (in declaration order) unless selected, then the
    /// selection without duplicates and without scenarios that run none of the workloads.
    /// A round-trip limit joins when the row runs a round trip, a stream limit when it runs a
    /// stream.
    package static func plan(
        scenarios selected: [BenchScenario], workloads: [BenchWorkload]
    ) -> (scenarios: [BenchScenario], runs: [(BenchScenario, BenchWorkload)]) {
        var limits = Set<BenchScenario>()
        for scenario in selected {
            let runs = workloads.filter(scenario.workloads.contains)
            if runs.contains(.rtt) { limits.formUnion([scenario.limit, scenario.ringLimit].compactMap { $0 }) }
            if runs.contains(where: { $0 != .rtt }), let limit = scenario.streamLimit { limits.insert(limit) }
        }
        var scenarios = BenchScenario.allCases.filter { limits.contains($0) && !selected.contains($0) } + selected
        var seen = Set<BenchScenario>()
        scenarios = scenarios.filter { seen.insert($0).inserted }
        var runs: [(BenchScenario, BenchWorkload)] = []
        for scenario in scenarios {
            for workload in workloads where scenario.workloads.contains(workload) { runs.append((scenario, workload)) }
        }
        scenarios = scenarios.filter { s in runs.contains { $0.0 == s } }
        return (scenarios, runs)
    }

    /// The parent's side of a whole run: pins itself, runs every (scenario, workload) of the
    /// plan in a child of its own with a progress line on standard error, and returns the
    /// report. A failing workload removes what the run created and exits the process with
    /// status 1 after one line on standard error; SIGINT and SIGTERM do the same with 128 +
    /// the signal.
    package func run(scenarios selected: [BenchScenario], workloads: [BenchWorkload]) -> BenchReport {
        BenchCleanup.shared.installSignalHandlers()
        let machine = MachineDescription.current()
        if machine.pinned {
            pinForBench(core: 0)
            if let cpu = currentCPU(), cpu != 0 {
                BenchOutput.error("bench: pinned to core 0 but running on CPU \(cpu)")
            }
        }
        let plan = Self.plan(scenarios: selected, workloads: workloads)
        var rows: [String: BenchRow] = [:]
        for scenario in plan.scenarios { rows[scenario.rawValue] = BenchRow(scenario) }
        let progress = BenchProgress(total: plan.runs.count, enabled: true)
        let base = "bench.\(ProcessIdentity.current.pid).\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        for (index, (scenario, workload)) in plan.runs.enumerated() {
            progress.show(index, "\(scenario.rawValue) \(workload.rawValue)")
            do {
                try runParent(
                    scenario, workload, base: "\(base).\(index)", pinned: machine.pinned,
                    into: &rows[scenario.rawValue]!)
            } catch {
                progress.clear()
                BenchCleanup.shared.abort("bench: \(scenario.rawValue) \(workload.rawValue): \(error)")
            }
            BenchCleanup.shared.run()
        }
        progress.clear()
        var ordered = plan.scenarios.map { rows[$0.rawValue]! }
        BenchRow.computeRatios(&ordered)
        let blackboard: BlackboardFigures?
        do { blackboard = try BlackboardBench.measure(base: base, operations: timings.rounds, rounds: 15) } catch {
            BenchCleanup.shared.abort("bench: blackboard: \(error)")
        }
        var report = BenchReport(
            machine: machine,
            settings: .init(
                warmup: timings.warmup, roundTrips: timings.rounds, roundTripCapSeconds: timings.capSeconds,
                streamSeconds: timings.streamSeconds, capacity64: ChannelCapacity.stream,
                capacity1MiB: LargeMessage.capacity),
            rows: ordered, gaps: BenchScenario.gaps(workloads: workloads))
        report.blackboard = blackboard
        return report
    }

    /// The parent's side of `workload` over `scenario`; fills `row`.
    func runParent(
        _ scenario: BenchScenario, _ workload: BenchWorkload, base: String, pinned: Bool, into row: inout BenchRow
    ) throws {
        let childArguments =
            ["--scenarios", scenario.rawValue, "--workloads", workload.rawValue, "--objects", base]
            + (pinned ? ["--child-core", "1"] : [])
        let minimum64 = BenchMarker.firstTimed64 + 1000
        let minimum1M = BenchMarker.firstTimed1M + 8

        if let idle = scenario.waitSetIdleSources {
            try runWaitSetParent(idle: idle, base: base, arguments: childArguments, into: &row)
            return
        }
        if let subscribers = scenario.topicSubscribers {
            try runTopicParent(
                subscribers: subscribers, workload, base: base, arguments: childArguments, into: &row)
            return
        }
        if let strategy = scenario.serviceStrategy {
            try runServiceParent(strategy: strategy, base: base, arguments: childArguments, into: &row)
            return
        }
        if let (topology, strategy) = scenario.channel {
            switch workload {
            case .rtt:
                BenchCleanup.shared.addSegment(base + ".ping")
                BenchCleanup.shared.addSegment(base + ".pong")
                var ping = ChannelPing(
                    ping: try ChannelSender<UInt64>(
                        named: base + ".ping", capacity: ChannelCapacity.roundTrip, topology: topology, mode: .create,
                        waitStrategy: strategy),
                    pong: try ChannelReceiver<UInt64>(
                        named: base + ".pong", capacity: ChannelCapacity.roundTrip, topology: topology, mode: .create,
                        waitStrategy: strategy))
                let child = try BenchChild(child, arguments: childArguments, input: nil, timeout: childTimeout)
                try child.waitUntilReady()
                var samples = try timeRoundTrips(&ping, timings)
                try child.finish()
                row.rtt = LatencySummary(samples: &samples)
            case .stream:
                BenchCleanup.shared.addSegment(base + ".stream")
                var sender = ChannelStreamSender(
                    sender: try ChannelSender<Message64>(
                        named: base + ".stream", capacity: ChannelCapacity.stream, topology: topology, mode: .create,
                        waitStrategy: strategy))
                let child = try BenchChild(child, arguments: childArguments, input: nil, timeout: childTimeout)
                try child.waitUntilReady()
                try sendStream(&sender, seconds: timings.streamSeconds, minimum: minimum64)
                let count = StreamCount(try child.readResult())
                try child.finish()
                row.stream64 = StreamSummary(count, messageSize: 64)
            case .stream1MiB:
                throw BenchFailure("no 1 MiB workload for a typed channel")
            }
            return
        }

        switch scenario {
        case .cFlag, .cRing, .cRingBackoff, .cFutex, .cMutex:
            try runCLimitParent(scenario, workload, base: base, arguments: childArguments, into: &row)

        case .mutexBuffer:
            try runMutexBufferParent(workload, base: base, arguments: childArguments, into: &row)

        case .flag, .futex:
            BenchCleanup.shared.addSegment(base + ".words")
            let segment = try SharedMemory(named: base + ".words", mode: .create, size: SharedWordPair.size)
            let words = SharedWordPair(segment: segment)
            let child = try BenchChild(child, arguments: childArguments, input: nil, timeout: childTimeout)
            try child.waitUntilReady()
            var samples: [UInt64]
            if scenario == .flag {
                var ping = FlagPing(words: words)
                samples = try timeRoundTrips(&ping, timings)
            } else {
                var ping = FutexPing(words: words)
                samples = try timeRoundTrips(&ping, timings)
            }
            try child.finish()
            row.rtt = LatencySummary(samples: &samples)

        case .bytesAdaptive:
            BenchCleanup.shared.addSegment(base + ".bytes")
            var sender = try ByteChannelSender(
                named: base + ".bytes", bufferSize: LargeMessage.byteChannelBufferSize,
                maximumMessageSize: LargeMessage.size, mode: .create)
            let child = try BenchChild(child, arguments: childArguments, input: nil, timeout: childTimeout)
            try child.waitUntilReady()
            try sendLargeStream(seconds: timings.streamSeconds, minimum: minimum1M) { try sender.send($0) }
            let count = StreamCount(try child.readResult())
            try child.finish()
            row.stream1MiB = StreamSummary(count, messageSize: LargeMessage.size)

        case .pipe:
            // Two named FIFOs: parent → child (`.ab`) and child → parent (`.ba`). The parent
            // opens both read-write so its opens never block on a child that failed to start.
            let ab = "/tmp/shm-\(base).ab", ba = "/tmp/shm-\(base).ba"
            for path in [ab, ba] {
                BenchCleanup.shared.addPath(path)
                guard mkfifo(path, 0o600) == 0 else {
                    throw BenchFailure("mkfifo \(path): \(String(cString: strerror(errno)))")
                }
            }
            let output = open(ab, O_RDWR | O_CLOEXEC), input = open(ba, O_RDWR | O_CLOEXEC)
            guard output >= 0, input >= 0 else { throw BenchFailure("open FIFO: \(String(cString: strerror(errno)))") }
            defer {
                close(output)
                close(input)
            }
            let child = try BenchChild(child, arguments: childArguments, input: nil, timeout: childTimeout)
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
                child, arguments: childArguments, input: FileHandle(fileDescriptor: fds[1], closeOnDealloc: false),
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
            var samples = try timeRoundTrips(&ping, timings)
            try child.finish()
            row.rtt = LatencySummary(samples: &samples)
        case .stream:
            var sender = DescriptorStreamSender(output: output)
            try sendStream(&sender, seconds: timings.streamSeconds, minimum: BenchMarker.firstTimed64 + 1000)
            let count = StreamCount(try child.readResult())
            try child.finish()
            row.stream64 = StreamSummary(count, messageSize: 64)
        case .stream1MiB:
            try sendLargeStream(seconds: timings.streamSeconds, minimum: BenchMarker.firstTimed1M + 8) {
                try writeFully(output, $0.baseAddress!, $0.count)
            }
            let count = StreamCount(try child.readResult())
            try child.finish()
            row.stream1MiB = StreamSummary(count, messageSize: LargeMessage.size)
        }
    }

    /// The child's side of `workload` over `scenario` on the objects named after `base`: pins
    /// to `core` (if the parent pinned), opens its end, says `ready`, plays its part.
    package static func runChild(
        _ scenario: BenchScenario, _ workload: BenchWorkload, base: String, core: Int?, subscriberIndex: Int = 0
    ) throws {
        if let core { pinForBench(core: core) }
        if let idle = scenario.waitSetIdleSources {
            try runWaitSetChild(idle: idle, base: base)
            return
        }
        if scenario.topicSubscribers != nil {
            try runTopicChild(workload, base: base, index: subscriberIndex)
            return
        }
        if let strategy = scenario.serviceStrategy {
            try runServiceChild(strategy: strategy, base: base)
            return
        }
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
        case .cFlag, .cRing, .cRingBackoff, .cFutex, .cMutex:
            try runCLimitChild(scenario, workload, base: base)
        case .mutexBuffer:
            try runMutexBufferChild(workload, base: base)
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

    private static func runDescriptorChild(_ workload: BenchWorkload, input: Int32, output: Int32) throws {
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
