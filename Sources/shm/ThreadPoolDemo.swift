import ArgumentParser
import Glibc
import Interprocess

/// `shm demo thread-pool`: the thread-pool scenario (jobs on a few threads, each "doing idx work"),
/// done with `ThreadPool`, and a summary of elapsed versus serial time.
struct ThreadPoolDemo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thread-pool",
        abstract: "Run the thread-pool scenario: jobs on a few threads, each \"doing idx work\"."
    )

    @Option(help: "How many jobs to submit.")
    var jobs = 20

    @Option(help: "How many worker threads the pool has.")
    var threads = 5

    @Option(name: .customLong("job-duration"), help: "Seconds each job blocks.")
    var jobDuration = 3.0

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1.") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1.") }
        guard jobDuration >= 0, jobDuration.isFinite else {
            throw ValidationError("--job-duration must be a non-negative number of seconds.")
        }
    }

    func run() throws {
        let pool = try ThreadPool(configuration: .init(threadCount: threads, threadNamePrefix: "worker-"))
        let duration = jobDuration
        let clock = ContinuousClock()
        let start = clock.now
        for idx in 0..<jobs {
            try pool.execute {
                print("\(CurrentThread.name) : doing \(idx) work")
                var request = timespec(
                    tv_sec: Int(duration), tv_nsec: Int((duration - duration.rounded(.down)) * 1e9))
                var remaining = timespec()
                while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
            }
        }
        try pool.waitUntilIdle()
        let elapsed = clock.now - start
        pool.shutdown()
        try pool.awaitTermination()

        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let serial = Double(jobs) * duration
        let ideal = Double(jobs) / Double((jobs + threads - 1) / threads)
        print(
            "\(jobs) jobs on \(threads) threads: elapsed \(format(seconds)) s, serial \(format(serial)) s "
                + "(\(jobs) × \(format(duration)) s), speedup \(seconds > 0 ? format(serial / seconds) : "–")× "
                + "(ideal \(format(ideal))×)")
    }

    private func format(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
