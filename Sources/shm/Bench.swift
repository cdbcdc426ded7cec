import ArgumentParser
import Foundation
import Glibc
import Interprocess

/// `shm bench`: round-trip latency and one-way throughput between two processes, for our
/// channels and, in the same run, their limits (atomic flags, futex words) and kernel
/// baselines (pipe, Unix socket), with the method of BENCHMARKS.md.
///
/// Each workload runs in a fresh child process (this executable again, `--role child`): the
/// parent is the ping / sender side pinned to core 0, the child the pong / receiver side pinned
/// to core 1. The child reports on its standard output (a pipe): `ready cpu=N` once its end
/// is open (the parent checks N is the child's core, then starts), and for a stream one
/// `result …` line.
///
/// How the kernel baselines reach the child: the pipe pair is two named FIFOs under /tmp
/// (Foundation's `Process` closes inherited descriptors other than 0–2), unlinked as soon as
/// both ends are open; the Unix socket pair is a `socketpair(2)` whose second end becomes the
/// child's standard input.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure IPC latency and throughput between two processes on this machine.",
        discussion: """
            Scenarios: \(BenchScenario.allCases.map(\.rawValue).joined(separator: ", ")). \
            Workloads: rtt (8-byte round trips), stream (64-byte messages one way), stream-1mib \
            (1 MiB messages one way). The limits a row is compared with (flag for spinning, \
            futex for blocking) are added to the run when a row needs them. Build in release \
            mode (swift build -c release) for figures worth quoting.
            """
    )

    @Option(help: "Comma-separated scenarios (default: all).")
    var scenarios: String?

    @Option(help: "Comma-separated workloads: rtt, stream, stream-1mib (default: all).")
    var workloads: String?

    @Flag(help: "Short runs for tests: 500 + 2000 round trips (cap 1 s), 0.2 s streams.")
    var quick = false

    @Option(help: "Timed round trips per scenario (default 200000).")
    var roundTrips: Int?

    @Option(help: "Untimed round trips before timing (default 20000).")
    var warmup: Int?

    @Option(help: "Stop the timed round trips after this many seconds (default 5).")
    var roundTripSeconds: Double?

    @Option(help: "Seconds each stream runs (default 2).")
    var seconds: Double?

    @Flag(help: "Print the results as JSON (the result: an object with the keys \"machine\", \"settings\", \"rows\" and \"gaps\").")
    var json = false

    /// Set when the tool starts itself as the pong / receiver side.
    @Option(help: ArgumentHelp(visibility: .private))
    var role: String?

    /// The objects' base name, passed to the child.
    @Option(help: ArgumentHelp(visibility: .private))
    var objects: String?

    /// The core the child pins itself to (absent: the parent did not pin).
    @Option(help: ArgumentHelp(visibility: .private))
    var childCore: Int?

    var roundTripSettings: RoundTripSettings {
        RoundTripSettings(
            warmup: warmup ?? (quick ? 500 : 20_000), rounds: roundTrips ?? (quick ? 2_000 : 200_000),
            capSeconds: roundTripSeconds ?? (quick ? 1 : 5))
    }
    var streamSeconds: Double { seconds ?? (quick ? 0.2 : 2) }

    func selectedScenarios() throws -> [BenchScenario] {
        guard let scenarios else { return BenchScenario.allCases }
        return try scenarios.split(separator: ",").map {
            guard let s = BenchScenario(rawValue: String($0)) else { throw ValidationError("unknown scenario '\($0)'") }
            return s
        }
    }

    func selectedWorkloads() throws -> [BenchWorkload] {
        guard let workloads else { return BenchWorkload.allCases }
        return try workloads.split(separator: ",").map {
            guard let w = BenchWorkload(rawValue: String($0)) else { throw ValidationError("unknown workload '\($0)'") }
            return w
        }
    }

    func validate() throws {
        _ = try selectedScenarios()
        _ = try selectedWorkloads()
        let s = roundTripSettings
        guard s.warmup >= 0, s.rounds >= 1, s.rounds <= 10_000_000 else {
            throw ValidationError("--round-trips must be in 1...10000000 and --warmup at least 0.")
        }
        guard s.capSeconds > 0, s.capSeconds <= 600, streamSeconds > 0, streamSeconds <= 600 else {
            throw ValidationError("--round-trip-seconds and --seconds must be in (0, 600].")
        }
        if role != nil && objects == nil { throw ValidationError("--role needs --objects.") }
    }

    func run() throws {
        if role != nil, let objects {
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
            do {
                let scenario = try selectedScenarios()[0]
                let workload = try selectedWorkloads()[0]
                try runChild(scenario, workload, base: objects)
            } catch {
                throw Terminal.failure("bench child: \(error)")
            }
            return
        }
        BenchCleanup.shared.installSignalHandlers()
        let machine = MachineDescription.current()
        if machine.pinned {
            pinForBench(core: 0)
            if let cpu = currentCPU(), cpu != 0 { Terminal.error("bench: pinned to core 0 but running on CPU \(cpu)") }
        }
        let plan = try makePlan()
        var rows: [String: BenchRow] = [:]
        for scenario in plan.scenarios { rows[scenario.rawValue] = BenchRow(scenario) }
        let progress = Progress(total: plan.runs.count, enabled: true)
        let base = "bench.\(ProcessIdentity.current.pid).\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        for (index, (scenario, workload)) in plan.runs.enumerated() {
            progress.show(index, "\(scenario.rawValue) \(workload.rawValue)")
            do {
                try runParent(
                    scenario, workload, base: "\(base).\(index)", pinned: machine.pinned, into: &rows[scenario.rawValue]!)
            } catch {
                progress.clear()
                BenchCleanup.shared.abort("bench: \(scenario.rawValue) \(workload.rawValue): \(error)")
            }
            BenchCleanup.shared.run()
        }
        progress.clear()
        var ordered = plan.scenarios.map { rows[$0.rawValue]! }
        BenchRow.computeRatios(&ordered)
        let report = BenchReport(
            machine: machine,
            settings: .init(
                warmup: roundTripSettings.warmup, roundTrips: roundTripSettings.rounds,
                roundTripCapSeconds: roundTripSettings.capSeconds, streamSeconds: streamSeconds,
                capacity64: 256, capacity1MiB: LargeMessage.capacity),
            rows: ordered, gaps: BenchScenario.gaps(workloads: plan.workloads))
        if json {
            try JSONEnvelope.print(report, for: Self.self)
        } else {
            for line in report.tableLines() { Terminal.line(line) }
        }
    }

    /// The scenarios (limits added when a row needs one) and the (scenario, workload) runs.
    func makePlan() throws -> (scenarios: [BenchScenario], workloads: [BenchWorkload], runs: [(BenchScenario, BenchWorkload)]) {
        var scenarios = try selectedScenarios()
        let workloads = try selectedWorkloads()
        if workloads.contains(.rtt) {
            for limit in Set(scenarios.compactMap(\.limit)).sorted(by: { $0.rawValue < $1.rawValue })
            where !scenarios.contains(limit) {
                scenarios.insert(limit, at: 0)
            }
        }
        var seen = Set<BenchScenario>()
        scenarios = scenarios.filter { seen.insert($0).inserted }
        var runs: [(BenchScenario, BenchWorkload)] = []
        for scenario in scenarios {
            for workload in workloads where scenario.workloads.contains(workload) { runs.append((scenario, workload)) }
        }
        scenarios = scenarios.filter { s in runs.contains { $0.0 == s } }
        return (scenarios, workloads, runs)
    }
}

/// A progress line on standard error, overwritten in place.
struct Progress {
    let total: Int
    let enabled: Bool

    func show(_ index: Int, _ text: String) {
        guard enabled else { return }
        let line = "bench [\(index + 1)/\(total)] \(text)…"
        FileHandle.standardError.write(Data(("\r" + line.padding(toLength: 60, withPad: " ", startingAt: 0)).utf8))
    }

    func clear() {
        guard enabled else { return }
        FileHandle.standardError.write(Data(("\r" + String(repeating: " ", count: 60) + "\r").utf8))
    }
}
