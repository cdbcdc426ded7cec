import Foundation
import Interprocess

/// Human-readable renderings shared by the commands.
enum Format {
    /// `512 B`, `8 KiB`, `1.5 MiB`.
    static func size(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        var text = String(format: "%.1f", value)
        if text.hasSuffix(".0") { text.removeLast(2) }
        return "\(text) \(units[unit])"
    }

    /// Permission bits in octal: `0600`.
    static func mode(_ bits: Int) -> String { String(format: "%04o", bits & 0o7777) }

    /// Local time, to the second: `2025-01-31 14:05:09`.
    static func localDate(nanoseconds: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: date(nanoseconds))
    }

    /// Local time of day, to the second: `14:05:09`.
    static func time(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "HH:mm:ss"
        return formatter.string(from: date)
    }

    /// ISO 8601 in UTC with milliseconds: `2025-01-31T13:05:09.123Z`.
    static func isoDate(nanoseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date(nanoseconds))
    }

    /// What the object holds: `5 × Swift.Int`, a byte topic's `8 × ≤ 1 MiB`, a raw segment's
    /// payload size, or `-`.
    static func contents(
        _ header: SharedObjectInfo.Header, topic: TopicState? = nil, blackboard: BlackboardState? = nil
    ) -> String {
        if let blackboard { return "\(blackboard.keys.count) of \(blackboard.configuration.keyCapacity) keys" }
        if header.elementType != .none { return "\(header.capacity) × \(header.elementType.name)" }
        if header.kind == .segment { return size(header.capacity) }
        if header.kind == .byteTopic, let topic { return "\(header.capacity) × ≤ \(size(topic.maximumMessageSize))" }
        return "-"
    }

    /// `3 live`: the open handles (each holds an opener registration, counted from the kernel's
    /// locks however many there are), with the table's dead entries: `1 live, 1 dead` / `-`. A
    /// topic's endpoints register as publishers and subscribers, not openers: `1 pub, 2 sub`.
    static func users(_ info: SharedObjectInfo) -> String {
        let dead = info.participants.filter { !$0.isAlive }.count
        if case .success(let h) = info.header, h.kind == .topic || h.kind == .byteTopic {
            let publishers = info.liveRegistrations[.publisher] ?? 0
            let subscribers = info.liveRegistrations[.subscriber] ?? 0
            let live = "\(publishers) pub, \(subscribers) sub"
            return dead == 0 ? live : "\(live), \(dead) dead"
        }
        if case .success(let h) = info.header, h.kind == .service {
            let servers = info.liveRegistrations[.server] ?? 0
            let clients = info.liveRegistrations[.client] ?? 0
            let live = "\(servers) server\(servers == 1 ? "" : "s"), \(clients) client\(clients == 1 ? "" : "s")"
            return dead == 0 ? live : "\(live), \(dead) dead"
        }
        let live = info.liveRegistrations[.opener] ?? 0
        if live == 0 && dead == 0 { return "-" }
        return dead == 0 ? "\(live) live" : "\(live) live, \(dead) dead"
    }

    /// `persistent` / `with last user`.
    static func lifetime(_ header: SharedObjectInfo.Header) -> String {
        header.lifetime == .persistent ? "persistent" : "removed with its last user"
    }

    /// `2 live` / `1 live, 1 dead` / `-`.
    static func participants(_ list: [Participant]) -> String {
        let live = list.filter(\.isAlive).count
        let dead = list.count - live
        if list.isEmpty { return "-" }
        return dead == 0 ? "\(live) live" : "\(live) live, \(dead) dead"
    }

    /// `1234 alive` / `1234 dead`.
    static func creator(_ header: SharedObjectInfo.Header) -> String {
        "\(header.creator.pid) \(header.creatorIsAlive ? "alive" : "dead")"
    }

    /// Rows as left-aligned columns separated by two spaces. The last cell of each row is not
    /// padded and does not widen its column, so a long trailing note (an error) stays readable.
    static func table(_ rows: [[String]]) -> [String] {
        var widths: [Int] = []
        for row in rows {
            for (i, cell) in row.dropLast().enumerated() {
                if i >= widths.count { widths.append(0) }
                widths[i] = max(widths[i], cell.count)
            }
        }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
    }

    private static func date(_ nanoseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(nanoseconds) / 1e9)
    }
}
