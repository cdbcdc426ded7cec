/// What a row of `shm bench` runs between its two processes.
package enum BenchWorkload: String, CaseIterable, Codable, Sendable {
    /// 8-byte round trips (`UInt64` ping-pong).
    case rtt
    /// ``Message64``s one way, for ``BenchTimings/streamSeconds``.
    case stream
    /// ``LargeMessage``s (1 MiB) one way.
    case stream1MiB = "stream-1mib"

    /// What the workload sends, for help texts and titles.
    package var summary: String {
        switch self {
        case .rtt: "8-byte round trips"
        case .stream: "64-byte messages one way"
        case .stream1MiB: "1 MiB messages one way"
        }
    }
}
