import ArgumentParser
import Foundation
import Glibc
import InterprocessBenchmarkKit

/// `shm bench`: the options of the benchmark harness (`BenchHarness`, in
/// InterprocessBenchmarkKit), and its report as a table or JSON.
///
/// The harness runs each workload's receiving side in a child: this executable again, as
/// `shm bench --role child` with the child's options (`--scenarios`, `--workloads`, `--objects`,
/// `--child-core`).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure IPC latency and throughput between two processes on this machine.",
        discussion: """
            Scenarios: \(BenchScenario.allCases.map(\.rawValue).joined(separator: ", ")). \
            Workloads: \(BenchWorkload.allCases.map { "\($0.rawValue) (\($0.summary))" }.joined(separator: ", ")). \
            Every ratio is to a limit written in C, added to the run when a row needs it: \
            c-flag for spinning and adaptive round trips (and c-ring for the SPSC ones), c-futex \
            for blocking ones, c-ring-backoff for streams, c-mutex for mutex-buffer. Build in \
            release mode (swift build -c release) for figures worth quoting.
            """
    )

    @Option(help: "Comma-separated scenarios (default: all).")
    var scenarios: String?

    @Option(
        help:
            "Comma-separated workloads: \(BenchWorkload.allCases.map(\.rawValue).joined(separator: ", ")) (default: all)."
    )
    var workloads: String?

    @Flag(
        help:
            "Short runs for tests: \(BenchTimings.quick.warmup) + \(BenchTimings.quick.rounds) round trips (cap \(seconds(BenchTimings.quick.capSeconds)) s), \(seconds(BenchTimings.quick.streamSeconds)) s streams."
    )
    var quick = false

    @Option(help: "Timed round trips per scenario (default \(BenchTimings.full.rounds)).")
    var roundTrips: Int?

    @Option(help: "Untimed round trips before timing (default \(BenchTimings.full.warmup)).")
    var warmup: Int?

    @Option(
        help: "Stop the timed round trips after this many seconds (default \(seconds(BenchTimings.full.capSeconds))).")
    var roundTripSeconds: Double?

    @Option(help: "Seconds each stream runs (default \(seconds(BenchTimings.full.streamSeconds))).")
    var seconds: Double?

    @Flag(
        help:
            "Print the results as JSON (the result: an object with the keys \"machine\", \"settings\", \"rows\" and \"gaps\")."
    )
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

    @Option(help: ArgumentHelp(visibility: .private))
    var subscriberIndex: Int?

    /// `1`, `0.2`: seconds as the help texts show them.
    private static func seconds(_ value: Double) -> String { String(format: "%g", value) }

    /// The run's timings: `--quick`'s or the full ones, with each option given replacing its part.
    var timings: BenchTimings {
        let defaults = quick ? BenchTimings.quick : BenchTimings.full
        return BenchTimings(
            warmup: warmup ?? defaults.warmup, rounds: roundTrips ?? defaults.rounds,
            capSeconds: roundTripSeconds ?? defaults.capSeconds, streamSeconds: seconds ?? defaults.streamSeconds)
    }

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
        let t = timings
        guard t.warmup >= 0, t.rounds >= 1, t.rounds <= 10_000_000 else {
            throw ValidationError("--round-trips must be in 1...10000000 and --warmup at least 0.")
        }
        guard t.capSeconds > 0, t.capSeconds <= 600, t.streamSeconds > 0, t.streamSeconds <= 600 else {
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
                try BenchHarness.runChild(
                    scenario, workload, base: objects, core: childCore, subscriberIndex: subscriberIndex ?? 0)
            } catch {
                throw Terminal.failure("bench child: \(error)")
            }
            return
        }
        let harness = BenchHarness(
            timings: timings,
            child: .init(executable: ChildProcesses.currentExecutable(), arguments: ["bench", "--role", "child"]))
        let report = harness.run(scenarios: try selectedScenarios(), workloads: try selectedWorkloads())
        if json {
            try JSONEnvelope.print(report, for: Self.self)
        } else {
            for line in report.tableLines() { Terminal.line(line) }
        }
    }
}
