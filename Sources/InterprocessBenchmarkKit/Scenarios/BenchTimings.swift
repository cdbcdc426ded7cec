/// How long `shm bench` runs each workload: the full defaults and the `--quick` ones.
package struct BenchTimings: Sendable, Equatable {
    /// Untimed round trips before timing.
    package var warmup: Int
    /// Timed round trips.
    package var rounds: Int
    /// Seconds after which the round trips (warm-up and timed part each) stop.
    package var capSeconds: Double
    /// Seconds each stream runs.
    package var streamSeconds: Double

    package init(warmup: Int, rounds: Int, capSeconds: Double, streamSeconds: Double) {
        self.warmup = warmup
        self.rounds = rounds
        self.capSeconds = capSeconds
        self.streamSeconds = streamSeconds
    }

    /// The figures BENCHMARKS.md quotes: 200 000 round trips after 20 000 (cap 5 s), 2 s streams.
    package static let full = BenchTimings(warmup: 20_000, rounds: 200_000, capSeconds: 5, streamSeconds: 2)
    /// Short runs for tests: 2000 round trips after 500 (cap 1 s), 0.2 s streams.
    package static let quick = BenchTimings(warmup: 500, rounds: 2_000, capSeconds: 1, streamSeconds: 0.2)
}
