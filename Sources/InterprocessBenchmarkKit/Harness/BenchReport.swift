import Foundation

/// One stream's figures, from the receiver's count.
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

/// One row of the report: a scenario's figures for every workload it ran, and its ratios to
/// the C limits of the same run.
struct BenchRow: Codable {
    var id: String
    var name: String
    var mode: String
    /// The C limit of the round trip (`c-flag`, `c-futex`, `c-mutex`).
    var limit: String?
    var rtt: LatencySummary?
    /// RTT p50 divided by the same run's `limit` p50.
    var rttP50RatioToLimit: Double?
    /// The SPSC rows' second round-trip limit, the C SPSC ring (`c-ring`).
    var ringLimit: String?
    /// RTT p50 divided by the same run's `ringLimit` p50.
    var rttP50RatioToRing: Double?
    /// The C limit of the streams (`c-ring-backoff`, `c-mutex`).
    var streamLimit: String?
    var stream64: StreamSummary?
    /// The 64-byte rate divided by the same run's `streamLimit` rate.
    var stream64RatioToLimit: Double?
    var stream1MiB: StreamSummary?
    /// The 1 MiB rate divided by the same run's `streamLimit` rate.
    var stream1MiBRatioToLimit: Double?

    init(_ scenario: BenchScenario) {
        id = scenario.rawValue
        name = scenario.title
        mode = scenario.mode
        limit = scenario.limit?.rawValue
        ringLimit = scenario.ringLimit?.rawValue
        streamLimit = scenario.streamLimit?.rawValue
    }

    static func computeRatios(_ rows: inout [BenchRow]) {
        func by<T>(_ value: (BenchRow) -> T?) -> [String: T] {
            Dictionary(rows.compactMap { r in value(r).map { (r.id, $0) } }, uniquingKeysWith: { a, _ in a })
        }
        func ratio(_ mine: Double?, _ limit: String?, _ theirs: [String: Double]) -> Double? {
            guard let mine, let limit, let theirs = theirs[limit], theirs > 0 else { return nil }
            return mine / theirs
        }
        let p50 = by { $0.rtt.map { Double($0.p50_ns) } }
        let rate64 = by { $0.stream64?.messagesPerSecond }
        let rate1MiB = by { $0.stream1MiB?.messagesPerSecond }
        for i in rows.indices {
            let row = rows[i]
            let mine = row.rtt.map { Double($0.p50_ns) }
            rows[i].rttP50RatioToLimit = ratio(mine, row.limit, p50)
            rows[i].rttP50RatioToRing = ratio(mine, row.ringLimit, p50)
            rows[i].stream64RatioToLimit = ratio(row.stream64?.messagesPerSecond, row.streamLimit, rate64)
            rows[i].stream1MiBRatioToLimit = ratio(row.stream1MiB?.messagesPerSecond, row.streamLimit, rate1MiB)
        }
    }
}

/// What `shm bench` prints: the machine, the settings and one row per scenario, as a table
/// (``tableLines()``) or JSON.
package struct BenchReport: Codable {
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
    /// The blackboard's read and write costs beside a `Dictionary` lookup (in-process).
    var blackboard: BlackboardFigures? = nil

    /// The report as the lines of a table.
    package func tableLines() -> [String] {
        var lines = ["machine: \(machine.line)"]
        lines.append(
            "method: BENCHMARKS.md; RTT = \(settings.roundTrips) timed after \(settings.warmup) untimed (cap "
                + "\(format(settings.roundTripCapSeconds)) s), streams \(format(settings.streamSeconds)) s, capacity "
                + "\(settings.capacity64) × 64 B / \(settings.capacity1MiB) × 1 MiB")
        let header = [
            "row", "mode", "n", "RTT p50 ns", "p99 ns", "p99.9 ns", "p50 / C limit", "64 B msg/s", "/ C limit",
            "1 MiB GB/s", "/ C limit", "loss"
        ]
        var table = [header]
        func ratio(_ value: Double?, _ limit: String?) -> String? {
            value.map { String(format: "%.2f× %@", $0, limit ?? "") }
        }
        for row in rows {
            let rttRatio = [ratio(row.rttP50RatioToLimit, row.limit), ratio(row.rttP50RatioToRing, row.ringLimit)]
                .compactMap { $0 }.joined(separator: ", ")
            let loss = (row.stream64?.loss ?? 0) + (row.stream1MiB?.loss ?? 0)
            let outOfOrder = (row.stream64?.outOfOrder ?? 0) + (row.stream1MiB?.outOfOrder ?? 0)
            table.append([
                "\(row.id): \(row.name)", row.mode, row.rtt.map { "\($0.n)" } ?? "–",
                row.rtt.map { grouped($0.p50_ns) } ?? "–", row.rtt.map { grouped($0.p99_ns) } ?? "–",
                row.rtt.map { grouped($0.p999_ns) } ?? "–", rttRatio.isEmpty ? "–" : rttRatio,
                row.stream64.map { rate($0.messagesPerSecond) } ?? "–",
                ratio(row.stream64RatioToLimit, row.streamLimit) ?? "–",
                row.stream1MiB.flatMap { $0.gigabytesPerSecond.map { String(format: "%.2f", $0) } } ?? "–",
                ratio(row.stream1MiBRatioToLimit, row.streamLimit) ?? "–",
                row.stream64 == nil && row.stream1MiB == nil
                    ? "–" : "\(loss)" + (outOfOrder > 0 ? " (\(outOfOrder) out of order)" : "")
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
        if let blackboard { lines.append(blackboard.line) }
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
