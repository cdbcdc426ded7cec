// The topic roles of the test peer (see main.swift for the protocol with the parent).
//
// Every role works on the topic named NAME (created by the parent) of `ChannelTestMessage`s
// (InterprocessTestSupport): tagged (producer, sequence), with a checksum over every field, so a
// torn or half-written message is detected. Subscribers report what they received as a
// `TopicTestDigest`, which the parent compares with the digest of what was published.
//
// Roles that wait for the parent's go-ahead read a line on stdin (`awaitLine`); the parent holds
// the write end, so a role whose parent died exits instead of waiting forever.
//
// With `hostile` (the topic is being scribbled over by another process) every wait is bounded
// at 5 s and every outcome is reported instead of failing: "typed ERROR" for a `TopicError`,
// "stuck …" for a wait that ran out, "torn N" for the messages that failed their checksum. The
// parent checks only that the role ends, normally, within its bound.

import Glibc
@_spi(Layout) import Interprocess
import InterprocessTestSupport

/// Waits for a line from the parent on stdin; exits if stdin closes first (the parent is gone).
func awaitLine() {
    var byte: UInt8 = 0
    while true {
        let n = read(STDIN_FILENO, &byte, 1)
        if n == 1 {
            if byte == UInt8(ascii: "\n") { return }
            continue
        }
        if n < 0 && errno == EINTR { continue }
        exit(0)
    }
}

/// The case name of a topic error ("segment.notFound", "corrupt", …).
func outcome(_ error: TopicError) -> String {
    switch error {
    case .closed: "closed"
    case .publisherDied: "publisherDied"
    case .endpointLimitReached: "endpointLimitReached"
    case .loanLimitReached: "loanLimitReached"
    case .sampleLimitReached: "sampleLimitReached"
    case .messageTooLarge: "messageTooLarge"
    case .invalidConfiguration: "invalidConfiguration"
    case .corrupt: "corrupt"
    case .cancelled: "cancelled"
    case let .segment(inner): "segment." + outcome(inner)
    }
}

/// The `K` after option `word` in `options`, if given.
func optionValue(_ word: String, in options: [String]) -> Int? {
    guard let i = options.firstIndex(of: word), i + 1 < options.count else { return nil }
    return integer(options[i + 1], word)
}

/// Every `K` after an occurrence of `word` in `options`.
func optionValues(_ word: String, in options: [String]) -> Set<Int> {
    Set(options.indices.filter { options[$0] == word && $0 + 1 < options.count }.map { integer(options[$0 + 1], word) })
}

/// Says "done N" and exits while `publisher` is still open (borrowed for the call, so it cannot
/// be closed first): to the topic, a publisher that died.
func exitWithoutClosing(_ publisher: borrowing TopicPublisher<ChannelTestMessage>, _ published: Int) -> Never {
    say("done \(published)")
    exit(0)
}

/// Blocks until killed (or until stdin closes, then exits) holding `loan` of `publisher`: both
/// are borrowed for the call, so neither can be dropped (and the loan given back) before it.
func holdUntilKilled(
    _ loan: borrowing TopicPublisher<ChannelTestMessage>.Loan,
    of publisher: borrowing TopicPublisher<ChannelTestMessage>
) -> Never {
    blockOnStdin()
    exit(0)
}

/// Blocks until killed (or until stdin closes, then exits) holding `sample` of `subscriber`,
/// both borrowed for the call (a `~Copyable` local may otherwise be dropped after its last use,
/// releasing the sample before the kill).
func holdUntilKilled(
    _ sample: borrowing TopicSubscriber<ChannelTestMessage>.Sample,
    of subscriber: borrowing TopicSubscriber<ChannelTestMessage>
) -> Never {
    blockOnStdin()
    exit(0)
}

/// Runs the topic role `role`; `false` if `role` is not a topic role.
func runTopicRole(_ role: String, name: String, _ rest: [String]) throws -> Bool {
    switch role {
    case "topic-publish":
        // topic-publish NAME PRODUCER COUNT [options]: open the topic as a publisher, say
        // "opened", publish messages 0..<COUNT tagged PRODUCER (COUNT < 0: until killed), close,
        // say "done COUNT". Options:
        //   go           after "opened", wait for a line on stdin before publishing
        //   pause-at K   after K messages, say "published K" and wait for a line (repeatable)
        //   report-full  try first; when a message does not fit, say "full SEQ", publish it
        //                waiting (at most 60 s), then say "unblocked SEQ MS"
        //   loans        publish every other message through a loan written in place
        //   half-loan    after COUNT messages, loan a slot, write half of message COUNT in it,
        //                say "writing" and block until killed: a publisher dying mid-loan
        //   noclose      exit without closing (a publisher that died after its last message)
        //   duration MS  publish until MS have passed (COUNT is then the most), then close
        //   hostile      see the file's notes
        guard rest.count >= 2 else { fail("usage: topic-publish NAME PRODUCER COUNT [options]", status: 2) }
        let producer = UInt64(integer(rest[0], "PRODUCER"))
        let count = integer(rest[1], "COUNT")
        let options = Array(rest.dropFirst(2))
        let hostile = options.contains("hostile")
        let pauses = optionValues("pause-at", in: options)
        let reportFull = options.contains("report-full")
        let loans = options.contains("loans")
        let duration = optionValue("duration", in: options)
        let timeout: Duration = hostile ? .seconds(5) : .seconds(60)
        var publisher: TopicPublisher<ChannelTestMessage>
        do {
            publisher = try TopicPublisher<ChannelTestMessage>(named: name, mode: .open)
        } catch {
            guard hostile else { throw error }
            say("typed \(outcome(error))")
            exit(0)
        }
        say("opened")
        if options.contains("go") { awaitLine() }
        let start = Deadline.now
        var published = 0
        do {
            while count < 0 || published < count {
                if let duration, milliseconds(since: start) >= duration { break }
                if pauses.contains(published) {
                    say("published \(published)")
                    awaitLine()
                }
                let message = ChannelTestMessage(producer: producer, sequence: UInt64(published))
                if loans && published % 2 == 1 {
                    let loan = try publisher.loan()
                    loan.withUnsafeMutablePointer { $0.initialize(to: message) }
                    if try publisher.publish(loan, timeout: timeout) != nil {
                        guard hostile else { fail("no room within 60 s at \(published)") }
                        say("stuck \(published)")
                        exit(0)
                    }
                } else if reportFull {
                    if try !publisher.tryPublish(message) {
                        say("full \(published)")
                        let waitStart = Deadline.now
                        guard try publisher.publish(message, timeout: timeout) else {
                            fail("still full after 60 s at \(published)")
                        }
                        say("unblocked \(published) \(milliseconds(since: waitStart))")
                    }
                } else if try !publisher.publish(message, timeout: timeout) {
                    guard hostile else { fail("no room within 60 s at \(published)") }
                    say("stuck \(published)")
                    exit(0)
                }
                published += 1
            }
            if options.contains("half-loan") {
                let loan = try publisher.loan()
                let whole = ChannelTestMessage(producer: producer, sequence: UInt64(count))
                loan.withUnsafeMutablePointer { slot in
                    slot.pointee.producer = whole.producer
                    slot.pointee.sequence = whole.sequence
                    slot.pointee.payload.0 = whole.payload.0
                }
                say("writing")
                holdUntilKilled(loan, of: publisher)
            }
        } catch {
            guard hostile else { throw error }
            say("typed \(outcome(error))")
            exit(0)
        }
        if options.contains("noclose") { exitWithoutClosing(publisher, published) }
        publisher.close()
        say("done \(published)")

    case "topic-subscribe":
        // topic-subscribe NAME PRODUCER FIRST [options]: open the topic as a subscriber, say
        // "ready", receive until the topic is closed or its publishers died, and say
        // "result closed|publisherDied COUNT DIGEST MISSED" (COUNT DIGEST: the TopicTestDigest of
        // what was received; MISSED: `missedMessages`). Every message must be intact and
        // PRODUCER's, the first one FIRST, each next one FIRST + 1, FIRST + 2, …; a receive
        // that waits 30 s fails the role. Options:
        //   samples   receive every message in place (samples), else by copy
        //   lossy     (a drop-oldest topic; implies samples) the sequence only increases, and
        //             the gap before each message is its `missedBefore`, which add up to
        //             `missedMessages`; the sample's publisher sequence is the message's
        //   first     say "first SEQ" after the first message
        //   hold K    after K messages, take the next in place, say "holding SEQ" and block
        //             holding it (until killed)
        //   hostile   see the file's notes; the result line is "result END COUNT torn N"
        guard rest.count >= 2 else { fail("usage: topic-subscribe NAME PRODUCER FIRST [options]", status: 2) }
        let producer = UInt64(integer(rest[0], "PRODUCER"))
        let first = UInt64(integer(rest[1], "FIRST"))
        let options = Array(rest.dropFirst(2))
        let hostile = options.contains("hostile")
        let lossy = options.contains("lossy")
        let samples = lossy || options.contains("samples")
        let hold = optionValue("hold", in: options)
        let timeout: Duration = hostile ? .seconds(5) : .seconds(30)
        var subscriber: TopicSubscriber<ChannelTestMessage>
        do {
            subscriber = try TopicSubscriber<ChannelTestMessage>(named: name, mode: .open)
        } catch {
            guard hostile else { throw error }
            say("typed \(outcome(error))")
            exit(0)
        }
        say("ready")
        var digest = TopicTestDigest()
        var last: UInt64? = nil
        var missedBefore = 0
        var torn = 0
        func check(_ m: ChannelTestMessage, sequence: UInt64, missed: Int) {
            if hostile {
                if m.isIntact { digest.add(producer: m.producer, sequence: m.sequence) } else { torn += 1 }
                return
            }
            guard m.isIntact else { fail("torn message \(m) after \(digest.count)") }
            guard m.producer == producer else { fail("message of producer \(m.producer), expected \(producer)") }
            if let last, lossy {
                guard m.sequence > last else { fail("\(m.sequence) after \(last)") }
                guard m.sequence == sequence else { fail("message \(m.sequence) as publisher sequence \(sequence)") }
                guard Int(m.sequence - last - 1) == missed else {
                    fail("\(m.sequence) after \(last) with missedBefore \(missed)")
                }
            } else {
                let expected = last.map { $0 + 1 } ?? first
                guard m.sequence == expected else { fail("got \(m.sequence), expected \(expected)") }
                guard missed == 0 else { fail("missedBefore \(missed) at \(m.sequence)") }
            }
            if last == nil && options.contains("first") { say("first \(m.sequence)") }
            last = m.sequence
            missedBefore += missed
            digest.add(producer: m.producer, sequence: m.sequence)
        }
        func stuck() -> Never {
            guard hostile else { fail("no message within 30 s after \(digest.count)") }
            say("stuck \(digest.count) torn \(torn)")
            exit(0)
        }
        let end: String
        do {
            while true {
                if let k = hold, digest.count == k {
                    guard let sample = try subscriber.receiveSample(timeout: timeout) else { stuck() }
                    say("holding \(sample.value.sequence)")
                    holdUntilKilled(sample, of: subscriber)
                }
                if samples {
                    guard let sample = try subscriber.receiveSample(timeout: timeout) else { stuck() }
                    check(sample.value, sequence: sample.sequence, missed: sample.missedBefore)
                } else {
                    guard let m = try subscriber.receive(timeout: timeout) else { stuck() }
                    check(m, sequence: m.sequence, missed: 0)
                }
            }
        } catch {
            if error == .closed || error == .publisherDied {
                end = outcome(error)
            } else {
                guard hostile else { throw error }
                say("typed \(outcome(error)) torn \(torn)")
                exit(0)
            }
        }
        if hostile {
            say("result \(end) \(digest.count) torn \(torn)")
            return true
        }
        if missedBefore != subscriber.missedMessages {
            fail("the samples' missedBefore add up to \(missedBefore), missedMessages is \(subscriber.missedMessages)")
        }
        say("result \(end) \(digest) \(subscriber.missedMessages)")

    case "topic-byte-publish":
        // topic-byte-publish NAME PRODUCER COUNT [pause-at K]: open the byte topic as a
        // publisher, say "opened", publish PRODUCER's ByteTestMessages 0..<COUNT (of varying
        // length; every other one written in place through a loan), close, say "done COUNT".
        // `pause-at K`: after K messages, say "published K" and wait for a line on stdin.
        guard rest.count >= 2 else { fail("usage: topic-byte-publish NAME PRODUCER COUNT [pause-at K]", status: 2) }
        let producer = UInt64(integer(rest[0], "PRODUCER"))
        let count = integer(rest[1], "COUNT")
        let pauses = optionValues("pause-at", in: Array(rest.dropFirst(2)))
        var publisher = try ByteTopicPublisher(named: name, mode: .open)
        say("opened")
        for sequence in 0..<count {
            if pauses.contains(sequence) {
                say("published \(sequence)")
                awaitLine()
            }
            let bytes = ByteTestMessage.bytes(producer: producer, sequence: UInt64(sequence))
            if sequence % 2 == 1 {
                let loan = try publisher.loan()
                loan.withUnsafeMutableBytes { $0.copyBytes(from: bytes) }
                if try publisher.publish(loan, count: bytes.count, timeout: .seconds(60)) != nil {
                    fail("no room within 60 s at \(sequence)")
                }
            } else if try !publisher.publish(bytes, timeout: .seconds(60)) {
                fail("no room within 60 s at \(sequence)")
            }
        }
        publisher.close()
        say("done \(count)")

    case "topic-byte-subscribe":
        // topic-byte-subscribe NAME PRODUCER FIRST [samples]: open the byte topic as a
        // subscriber, say "ready", receive (`samples`: in place) until it is closed or its
        // publishers died; every message must be PRODUCER's intact ByteTestMessage, FIRST, FIRST
        // + 1, …. Says "result closed|publisherDied DIGEST 0".
        guard rest.count >= 2 else { fail("usage: topic-byte-subscribe NAME PRODUCER FIRST [samples]", status: 2) }
        let producer = UInt64(integer(rest[0], "PRODUCER"))
        var next = UInt64(integer(rest[1], "FIRST"))
        let samples = rest.dropFirst(2).contains("samples")
        var subscriber = try ByteTopicSubscriber(named: name, mode: .open)
        say("ready")
        var digest = TopicTestDigest()
        let end: String
        do {
            while true {
                let bytes: [UInt8]
                if samples {
                    guard let sample = try subscriber.receiveSample(timeout: .seconds(30)) else {
                        fail("no message within 30 s after \(digest.count)")
                    }
                    bytes = sample.withUnsafeBytes { Array($0) }
                } else {
                    guard let received = try subscriber.receive(timeout: .seconds(30)) else {
                        fail("no message within 30 s after \(digest.count)")
                    }
                    bytes = received
                }
                guard let (p, sequence) = ByteTestMessage.parse(bytes), p == producer, sequence == next else {
                    fail(
                        "got \(bytes.count) bytes \(ByteTestMessage.parse(bytes).map { "\($0)" } ?? "torn"), expected \(next)"
                    )
                }
                digest.add(producer: p, sequence: sequence)
                next += 1
            }
        } catch {
            guard error == .closed || error == .publisherDied else { throw error }
            end = outcome(error)
        }
        say("result \(end) \(digest) \(subscriber.missedMessages)")

    case "stable-topic-publish":
        // stable-topic-publish NAME COUNT: open the topic NAME as a publisher with this
        // executable's own `PeerReading` (stable name "interprocess.tests.Reading.v1"; the tests
        // declare their own type under that name), say "opened", publish COUNT readings, close,
        // say "done COUNT".
        guard rest.count == 1 else { fail("usage: stable-topic-publish NAME COUNT", status: 2) }
        let count = integer(rest[0], "COUNT")
        var publisher = try TopicPublisher<PeerReading>(named: name, mode: .open)
        say("opened")
        for sequence in 0..<UInt64(count) {
            guard
                try publisher.publish(
                    PeerReading(sequence: sequence, celsius: Double(sequence) / 4), timeout: .seconds(30))
            else { fail("no room within 30 s at \(sequence)") }
        }
        publisher.close()
        say("done \(count)")

    case "topic-join-loop":
        // topic-join-loop NAME MS: for MS milliseconds, join the topic as a subscriber, take
        // up to 8 messages without waiting, leave; again and again (the join path reads the
        // queues' ends, the history ring and the descriptors, all of which a scribbler may be
        // changing). Every `TopicError` is counted, never fatal. Says "joined JOINS ERRORS".
        guard rest.count == 1 else { fail("usage: topic-join-loop NAME MS", status: 2) }
        let duration = integer(rest[0], "MS")
        let start = Deadline.now
        var joins = 0
        var errors = 0
        while milliseconds(since: start) < duration {
            do {
                var subscriber = try TopicSubscriber<ChannelTestMessage>(named: name, mode: .open)
                joins += 1
                for _ in 0..<8 { guard try subscriber.tryReceive() != nil else { break } }
                subscriber.close()
            } catch {
                errors += 1
            }
        }
        say("joined \(joins) \(errors)")

    case "topic-scribble":
        // topic-scribble NAME POLICY REGION SEED MS: write garbage over REGION (a name of
        // `HostileTopic.regions`) of the topic NAME, made with `HostileTopic.configuration(POLICY)`,
        // for MS milliseconds, through its file (as any process that can write it could): each
        // write an aligned 8-byte word, random, a small number (a plausible index or position),
        // or the word's own value moved by a little (`history-counts`: always a count below 8). Says
        // "scribbling" after the first batch, then "scribbled WRITES".
        guard rest.count == 4 else { fail("usage: topic-scribble NAME POLICY REGION SEED MS", status: 2) }
        let policy: TopicConfiguration.OverflowPolicy = rest[0] == "drop-oldest" ? .dropOldest : .block
        guard let region = HostileTopic.regions(HostileTopic.configuration(policy))[rest[1]] else {
            fail("no region '\(rest[1])'", status: 2)
        }
        var random = SplitMix64(seed: UInt64(integer(rest[2], "SEED")))
        let duration = integer(rest[3], "MS")
        let fd = open(objectPath(name), O_RDWR)
        guard fd >= 0 else { fail("open: errno \(errno)", status: 3) }
        let start = Deadline.now
        var targets = Array(stride(from: region.lowerBound, to: region.upperBound - 7, by: 8))
        var counters: [Int] = []
        if rest[1] == "history-counts" {
            // The counters of a publisher that published (next sequence, history claimed and
            // published) hold one same growing value; whatever their offsets, they are the
            // words whose non-zero value another word holds too.
            while counters.isEmpty && milliseconds(since: start) < duration {
                var values: [Int: UInt64] = [:]
                for offset in targets {
                    var value: UInt64 = 0
                    _ = pread(fd, &value, 8, off_t(HeaderLayout.size + offset))
                    values[offset] = value
                }
                counters = targets.filter { o in
                    values[o]! != 0 && targets.contains { $0 != o && values[$0] == values[o] }
                }
                if counters.isEmpty { usleep(1_000) }
            }
            if !counters.isEmpty { targets = counters }
        }
        var writes = 0
        while milliseconds(since: start) < duration {
            for _ in 0..<64 {
                let offset = off_t(HeaderLayout.size + targets[Int(random.next() % UInt64(targets.count))])
                var value: UInt64 = 0
                // The history counts get counts below the history depth (and the window
                // arithmetic's edge cases), which a publisher's stores keep overwriting.
                switch rest[1] == "history-counts" ? 1 : random.next() % 3 {
                case 0: value = random.next()
                case 1: value = random.next() % (rest[1] == "history-counts" ? 8 : 512)
                default:
                    _ = pread(fd, &value, 8, offset)
                    value = value &+ (random.next() % 7) &- 3
                }
                guard pwrite(fd, &value, 8, offset) == 8 else { fail("pwrite: errno \(errno)", status: 3) }
                writes += 1
            }
            if writes == 64 { say("scribbling") }
            usleep(200)
        }
        close(fd)
        say(
            "scribbled \(writes)"
                + (counters.isEmpty ? "" : " counters \(counters.map(String.init).joined(separator: ","))"))

    default:
        return false
    }
    return true
}

/// A small seeded generator, so a scribbler's run can be repeated from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
