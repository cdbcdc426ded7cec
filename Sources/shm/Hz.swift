import ArgumentParser
import Foundation
import Interprocess

/// `shm hz NAME`: the live message rate of a channel or a topic, once per interval.
struct Hz: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hz",
        abstract: "Print the live message rate of a channel or topic until interrupted.",
        discussion: """
            Observes without taking part: the object is opened and mapped read-only, so shm hz \
            registers no sender, receiver, publisher or subscriber, holds no lock and changes \
            nothing. A channel reports what its senders sent and its receivers received per \
            second (bytes for a byte channel) and its depth; a topic reports the messages \
            published per second, by publisher slot, and what each subscriber took per second \
            and its lag. Runs until SIGINT (exit status 0) or --count reports.
            """
    )

    @Argument(help: "The channel's or topic's name (without the file prefix).")
    var name: String

    @Option(help: "Seconds between reports.")
    var interval: Double = 1

    @Option(help: "Stop after this many reports (default: until interrupted).")
    var count: Int?

    @Flag(
        help: """
            Print one JSON envelope per report, one per line (the result: "name", "kind", \
            "unit", "seconds", and "sent", "received", "depth" for a channel or "published", \
            "publishers", "subscribers" for a topic; rates per second).
            """)
    var json = false

    func validate() throws {
        guard interval >= 0.01 && interval <= 3600 else {
            throw ValidationError("--interval must be between 0.01 and 3600 seconds")
        }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        let probe: TrafficProbe
        do { probe = try TrafficProbe(named: name) } catch {
            if case .notFound = error, let note = Inspect.unprefixedFileNote(name) { throw Terminal.failure(note) }
            throw Terminal.failure(error.description)
        }
        // ^C is how a run normally ends: each report is one write, so no line is cut short.
        signal(SIGINT, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        interrupt.setEventHandler { Foundation.exit(0) }
        interrupt.resume()
        if !json {
            Terminal.line("\(Hz.describe(probe.subject)) '\(name)', every \(interval) s (^C to stop)")
        }
        let start = Date()
        var previous = (reading: probe.read(), time: start)
        var reports = 0
        while count.map({ reports < $0 }) ?? true {
            reports += 1
            let next = start.addingTimeInterval(interval * Double(reports))
            Thread.sleep(forTimeInterval: max(0, next.timeIntervalSinceNow))
            let current = (reading: probe.read(), time: Date())
            if probe.isDamaged { throw Terminal.failure("'\(name)' was truncated or lost its memory while observed") }
            let report = HzReport(
                name: name, subject: probe.subject, from: previous.reading, to: current.reading,
                seconds: current.time.timeIntervalSince(previous.time))
            if json { try JSONEnvelope.printLine(report, for: Self.self) } else { Terminal.line(report.line) }
            previous = current
        }
    }

    static func describe(_ subject: TrafficProbe.Subject) -> String {
        switch subject {
        case let .channel(topology, isByteChannel): isByteChannel ? "byte channel" : "\(topology) channel"
        case let .topic(configuration, isByteTopic):
            "\(isByteTopic ? "byte topic" : "topic") (\(configuration.overflow), \(configuration.maximumPublishers) "
                + "publisher\(configuration.maximumPublishers == 1 ? "" : "s"), \(configuration.maximumSubscribers) "
                + "subscriber\(configuration.maximumSubscribers == 1 ? "" : "s"))"
        }
    }
}

/// One `shm hz` report: the rates between two readings (`--json`: the envelope's result).
struct HzReport: Encodable {
    let name: String
    /// "channel", "byte-channel", "topic" or "byte-topic".
    let kind: String
    /// "messages" or "bytes" (byte channels).
    let unit: String
    /// The time between the two readings.
    let seconds: Double
    /// A channel's sending rate, `nil` for topics.
    let sent: Double?
    /// A channel's receiving rate, `nil` for topics.
    let received: Double?
    /// A channel's depth now, `nil` for topics.
    let depth: Int?
    /// A topic's publishing rate over every publisher slot, `nil` for channels.
    let published: Double?
    /// A topic's publisher slots, `nil` for channels.
    let publishers: [PublisherRate]?
    /// A topic's active subscriber slots, `nil` for channels.
    let subscribers: [SubscriberRate]?

    struct PublisherRate: Encodable {
        let slot: Int
        let rate: Double
        /// The messages published through the slot since the topic was created.
        let total: UInt64
    }

    struct SubscriberRate: Encodable {
        let slot: Int
        /// `nil` when the slot changed hands between the readings (no rate to tell).
        let rate: Double?
        let lag: Int

        enum CodingKeys: String, CodingKey { case slot, rate, lag }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(slot, forKey: .slot)
            try c.encode(rate, forKey: .rate)  // null when the slot changed hands
            try c.encode(lag, forKey: .lag)
        }
    }

    enum CodingKeys: String, CodingKey {
        case name, kind, unit, seconds, sent, received, depth, published, publishers, subscribers
    }

    func encode(to encoder: any Encoder) throws {
        // Every key always present (`null` when not applicable), as in every other --json.
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(kind, forKey: .kind)
        try c.encode(unit, forKey: .unit)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(sent, forKey: .sent)
        try c.encode(received, forKey: .received)
        try c.encode(depth, forKey: .depth)
        try c.encode(published, forKey: .published)
        try c.encode(publishers, forKey: .publishers)
        try c.encode(subscribers, forKey: .subscribers)
    }

    init(
        name: String, subject: TrafficProbe.Subject, from old: TrafficProbe.Reading, to new: TrafficProbe.Reading,
        seconds: Double
    ) {
        self.name = name
        self.seconds = seconds
        /// A counter's rate; a counter that went backwards (a hostile or re-created object) is
        /// no traffic.
        func rate(_ old: UInt64, _ new: UInt64) -> Double {
            let delta = Int64(bitPattern: new &- old)
            return delta <= 0 || seconds <= 0 ? 0 : Double(delta) / seconds
        }
        switch subject {
        case let .channel(_, isByteChannel):
            kind = isByteChannel ? "byte-channel" : "channel"
            unit = isByteChannel ? "bytes" : "messages"
            sent = rate(old.sent, new.sent)
            received = rate(old.received, new.received)
            depth = new.depth
            (published, publishers, subscribers) = (nil, nil, nil)
        case let .topic(_, isByteTopic):
            kind = isByteTopic ? "byte-topic" : "topic"
            unit = "messages"
            (sent, received, depth) = (nil, nil, nil)
            let publishers = new.published.sorted { $0.key < $1.key }.map { slot, total in
                PublisherRate(slot: slot, rate: rate(old.published[slot] ?? total, total), total: total)
            }
            self.publishers = publishers
            published = publishers.reduce(0) { $0 + $1.rate }
            subscribers = new.consumed.sorted { $0.key < $1.key }.map { slot, now in
                guard let before = old.consumed[slot], before.generation == now.generation else {
                    return SubscriberRate(slot: slot, rate: nil, lag: now.lag)
                }
                return SubscriberRate(slot: slot, rate: rate(before.taken, now.taken), lag: now.lag)
            }
        }
    }

    /// The report as one line of text.
    var line: String {
        let time = Format.time(Date())
        func amount(_ rate: Double) -> String {
            unit == "bytes" ? "\(Format.size(Int(rate.rounded())))/s" : "\(Int(rate.rounded()))/s"
        }
        if let sent, let received, let depth {
            return "\(time)  sent \(amount(sent))  received \(amount(received))  depth \(depth)"
        }
        var text = "\(time)  published \(amount(published ?? 0))"
        if let publishers, publishers.count > 1 {
            text += " (" + publishers.map { "pub \($0.slot): \(amount($0.rate))" }.joined(separator: ", ") + ")"
        }
        for s in subscribers ?? [] {
            text += "  sub \(s.slot): \(s.rate.map(amount) ?? "joined")" + " lag \(s.lag)"
        }
        if subscribers?.isEmpty ?? true { text += "  no subscribers" }
        return text
    }
}
