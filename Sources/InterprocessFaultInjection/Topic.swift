import Glibc
import Interprocess
import Synchronization

// The topic scenario: two publishers (each message alternately published by copy or through a
// loan written in two halves), a subscriber taking copies, a subscriber holding each message as
// a sample for a random while, and a joiner that joins, takes a few messages and leaves in a
// loop. One of the five is killed at a random point (mid-publish, mid-loan, mid-receive, while it
// holds a sample, mid-join or mid-leave); then
// - the publishers must keep publishing (a dead subscriber or joiner never holds them back);
// - a successor of the same role must take the dead one's slot (the topic has exactly as many
//   slots as the scenario uses) and, for a publisher or subscriber, publish or receive;
// - once stopped, every survivor must end without hanging, every subscriber with `.closed`;
// - no subscriber may see a torn message, a message out of order or twice, or a sample whose
//   bytes change while it holds it; with `block` no message may be missing, with `dropOldest`
//   every gap must be exactly the `missedBefore` the library reports (sample subscribers);
// - every surviving subscriber must have received every surviving publisher's last message.
// Iterations alternate `block` and `dropOldest`.

/// The shared record of a topic scenario.
struct TopicBoard {
    /// Logical publishers: 0 and 1, and their successors 2 and 3.
    static let producers = 4
    /// Subscriber instances: 0 (copies), 1 (samples), 2 (the successor of a killed one).
    static let subscribers = 3
    static let maximumSequence = 1 << 20
    static let tracksOffset = 256
    static var size: Int { tracksOffset + subscribers * producers * 32 }
    let base: UnsafeMutableRawPointer

    // Relaxed throughout: counters the parent reads after the victims ended (waitpid orders
    // them), or progress it only polls.
    private func word(_ index: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (base + 8 * index).assumingMemoryBound(to: Atomic<Int>.self)
    }
    var stop: UnsafeMutablePointer<Atomic<Int>> { word(0) }
    var torn: UnsafeMutablePointer<Atomic<Int>> { word(1) }
    var disorder: UnsafeMutablePointer<Atomic<Int>> { word(2) }
    /// Gaps the library did not report (or, with `block`, any gap).
    var miscounted: UnsafeMutablePointer<Atomic<Int>> { word(3) }
    var received: UnsafeMutablePointer<Atomic<Int>> { word(4) }
    /// Samples whose bytes changed while they were held.
    var changedSamples: UnsafeMutablePointer<Atomic<Int>> { word(5) }
    /// Joins the joiners completed (joined, took, left).
    var joins: UnsafeMutablePointer<Atomic<Int>> { word(6) }
    /// Messages the library reported missed (`missedBefore`, sample subscribers).
    var missedReported: UnsafeMutablePointer<Atomic<Int>> { word(7) }
    /// Slot claims misreported as read-lock interference (a holder that left during the claim;
    /// see `TopicSlotClaimRaceTests`), retried.
    var misreportedClaims: UnsafeMutablePointer<Atomic<Int>> { word(8) }
    /// Messages logical publisher `p` knows it published (stored after each publish returns).
    func published(_ p: Int) -> UnsafeMutablePointer<Atomic<Int>> { word(16 + p) }
    var totalPublished: Int {
        (0..<TopicBoard.producers).reduce(0) { $0 + published($1).pointee.load(ordering: .relaxed) }
    }

    /// Subscriber `s`'s record of producer `p`: first sequence + 1 (0: none yet), last, count.
    func track(_ s: Int, _ p: Int) -> (
        first: UnsafeMutablePointer<Atomic<Int>>, last: UnsafeMutablePointer<Atomic<Int>>,
        count: UnsafeMutablePointer<Atomic<Int>>
    ) {
        let offset = TopicBoard.tracksOffset + (s * TopicBoard.producers + p) * 32
        return (
            (base + offset).assumingMemoryBound(to: Atomic<Int>.self),
            (base + offset + 8).assumingMemoryBound(to: Atomic<Int>.self),
            (base + offset + 16).assumingMemoryBound(to: Atomic<Int>.self)
        )
    }

    /// Records a message subscriber `s` took; `missedBefore` is the library's count of the
    /// messages lost right before it (samples only).
    func record(_ s: Int, _ message: FaultMessage, missedBefore: Int?, dropping: Bool) {
        guard message.isIntact, Int(message.producer) < TopicBoard.producers,
            message.sequence < UInt64(TopicBoard.maximumSequence)
        else {
            torn.pointee.add(1, ordering: .relaxed)
            return
        }
        received.pointee.add(1, ordering: .relaxed)
        if let missedBefore { missedReported.pointee.add(missedBefore, ordering: .relaxed) }
        let (first, last, count) = track(s, Int(message.producer))
        let sequence = Int(message.sequence)
        if first.pointee.load(ordering: .relaxed) == 0 {
            first.pointee.store(sequence + 1, ordering: .relaxed)
        } else {
            let previous = last.pointee.load(ordering: .relaxed)
            if sequence <= previous {
                disorder.pointee.add(1, ordering: .relaxed)
                return
            }
            let gap = sequence - previous - 1
            if (!dropping && gap != 0) || (dropping && missedBefore != nil && gap != missedBefore) {
                miscounted.pointee.add(1, ordering: .relaxed)
            }
        }
        last.pointee.store(sequence, ordering: .relaxed)
        count.pointee.add(1, ordering: .relaxed)
    }
}

// MARK: - Victims

/// Opens a subscriber, retrying a claim misreported as read-lock interference (counted).
func openSubscriber(_ topic: String, board: TopicBoard) throws(TopicError) -> TopicSubscriber<FaultMessage> {
    var attempts = 0
    while true {
        do throws(TopicError) { return try TopicSubscriber<FaultMessage>(named: topic, mode: .open) } catch {
            guard case .segment(.lockInterference) = error, attempts < 100 else { throw error }
            attempts += 1
            board.misreportedClaims.pointee.add(1, ordering: .relaxed)
        }
    }
}

func topicPublisherVictim(parent: pid_t, board name: String, topic: String, index: Int) throws -> Never {
    let segment = try SharedMemory(named: name, mode: .open, size: nil)
    let board = TopicBoard(base: segment.bytes.baseAddress!)
    var publisher = try TopicPublisher<FaultMessage>(named: topic, mode: .open)
    say("ready")
    var generator = SystemRandomNumberGenerator()
    var sequence = 0
    // Relaxed: the flag only ends the loop.
    while board.stop.pointee.load(ordering: .relaxed) == 0 {
        if sequence & 63 == 0 { exitIfOrphaned(parent) }
        if sequence >= TopicBoard.maximumSequence {
            usleep(1000)
            exitIfOrphaned(parent)
            continue
        }
        let message = FaultMessage(producer: index, sequence: sequence)
        var published = false
        if Bool.random(using: &generator) {
            // A loan written in two halves with a pause between: a kill in the middle leaves a
            // half-written slot that must never be delivered.
            var loan = try publisher.loan()
            let pause = Int.random(in: 0..<500, using: &generator)
            loan.withUnsafeMutablePointer { pointer in
                withUnsafeBytes(of: message) { bytes in
                    let target = UnsafeMutableRawPointer(pointer)
                    target.copyMemory(from: bytes.baseAddress!, byteCount: 32)
                    spin(pause)
                    (target + 32).copyMemory(from: bytes.baseAddress! + 32, byteCount: bytes.count - 32)
                }
            }
            while true {
                guard let back = try publisher.publish(loan, timeout: .milliseconds(50)) else {
                    published = true
                    break
                }
                loan = back
                // Dropped unpublished (the scenario is ending): the slot goes back.
                if board.stop.pointee.load(ordering: .relaxed) != 0 { break }
            }
        } else {
            published = try publisher.publish(message, timeout: .milliseconds(50))
        }
        if published {
            sequence += 1
            board.published(index).pointee.store(sequence, ordering: .relaxed)
        }
    }
    publisher.close()
    say("closed \(sequence)")
    exit(0)
}

func topicSubscriberVictim(parent: pid_t, board name: String, topic: String, id: Int, samples: Bool) throws -> Never {
    let segment = try SharedMemory(named: name, mode: .open, size: nil)
    let board = TopicBoard(base: segment.bytes.baseAddress!)
    var subscriber = try openSubscriber(topic, board: board)
    let dropping = subscriber.configuration.overflow == .dropOldest
    say("ready")
    var generator = SystemRandomNumberGenerator()
    var received = 0
    var outcome = ""
    while outcome.isEmpty {
        if received & 63 == 0 { exitIfOrphaned(parent) }
        do {
            if samples {
                if let sample = try subscriber.receiveSample(timeout: .milliseconds(50)) {
                    let before = sample.value
                    // Held for a while: the publishers go on (and, dropping, overrun the queue).
                    spin(Int.random(in: 0..<3000, using: &generator))
                    let after = sample.value
                    if !withUnsafeBytes(of: before, { b in withUnsafeBytes(of: after) { $0.elementsEqual(b) } }) {
                        board.changedSamples.pointee.add(1, ordering: .relaxed)
                    }
                    board.record(id, after, missedBefore: sample.missedBefore, dropping: dropping)
                    received += 1
                }
            } else if let message = try subscriber.receive(timeout: .milliseconds(50)) {
                board.record(id, message, missedBefore: nil, dropping: dropping)
                received += 1
            }
        } catch {
            switch error {
            case .closed: outcome = "closed"
            case .publisherDied: outcome = "publisherDied"
            default: victimFail("receive: \(error)")
            }
        }
    }
    subscriber.close()
    say("\(outcome) \(received)")
    exit(0)
}

/// Joins, takes a few messages, leaves; again, until the scenario stops.
func topicJoinerVictim(parent: pid_t, board name: String, topic: String) throws -> Never {
    let segment = try SharedMemory(named: name, mode: .open, size: nil)
    let board = TopicBoard(base: segment.bytes.baseAddress!)
    var generator = SystemRandomNumberGenerator()
    var joins = 0
    var ended = false
    while !ended && board.stop.pointee.load(ordering: .relaxed) == 0 {
        exitIfOrphaned(parent)
        var subscriber = try openSubscriber(topic, board: board)
        if joins == 0 { say("ready") }
        var last: [UInt32: UInt64] = [:]
        for _ in 0..<Int.random(in: 0..<8, using: &generator) {
            do {
                guard let message = try subscriber.receive(timeout: .milliseconds(20)) else { continue }
                guard message.isIntact else {
                    board.torn.pointee.add(1, ordering: .relaxed)
                    continue
                }
                if let previous = last[message.producer], message.sequence <= previous {
                    board.disorder.pointee.add(1, ordering: .relaxed)
                }
                last[message.producer] = message.sequence
            } catch {
                guard error == .closed else { victimFail("joiner receive: \(error)") }
                ended = true
                break
            }
        }
        subscriber.close()
        joins += 1
        board.joins.pointee.add(1, ordering: .relaxed)
    }
    say("closed \(joins)")
    exit(0)
}

// MARK: - Scenario

struct TopicFigures {
    var iterations = 0, kills = 0, publisherKills = 0, subscriberKills = 0, sampleHolderKills = 0, joinerKills = 0
    var received = 0, torn = 0, disorder = 0, miscounted = 0, changedSamples = 0, missedReported = 0, joins = 0
    var successors = 0, misreportedClaims = 0
}

func runTopicScenario(iterations: Int) throws -> TopicFigures {
    var figures = TopicFigures()
    for iteration in 0..<iterations {
        let overflow: TopicConfiguration.OverflowPolicy = iteration % 2 == 0 ? .block : .dropOldest
        let context = "topic \(overflow) \(iteration)"
        let topic = "fault-\(getpid())-topic-\(iteration)"
        let boardName = topic + ".board"
        let boardSegment = try SharedMemory(named: boardName, mode: .create, size: TopicBoard.size)
        defer {
            try? boardSegment.remove()
            try? SharedMemory.remove(named: topic)
        }
        let board = TopicBoard(base: boardSegment.bytes.baseAddress!)
        // Exactly the slots the scenario uses: a successor finds a slot only if the dead one's
        // is reclaimed.
        let configuration = TopicConfiguration(
            capacity: 8, maximumSubscribers: 3, maximumPublishers: 2, history: 4, overflow: overflow)
        try TopicSubscriber<FaultMessage>(named: topic, configuration: configuration, mode: .create).close()
        var children: [Child] = []
        defer { for c in children { c.kill() } }
        let publishers = (0..<2).map { Child("topic-publisher", [parentPID, boardName, topic, String($0)]) }
        let subscribers = [
            Child("topic-subscriber", [parentPID, boardName, topic, "0", "copies"]),
            Child("topic-subscriber", [parentPID, boardName, topic, "1", "samples"])
        ]
        let joiner = Child("topic-joiner", [parentPID, boardName, topic])
        children = publishers + subscribers + [joiner]
        guard children.allSatisfy({ $0.waitFor(["ready"], timeout: hangDeadline) != nil }) else {
            violation("\(context): a victim did not start: \(children.map(\.lines))")
            continue
        }
        randomPause(maximumMicroseconds: 5000)
        let victim = children.randomElement()!
        killVictim(victim, context)
        figures.kills += 1
        let killedPublisher = publishers.firstIndex { $0 === victim }
        let killedSubscriber = subscribers.firstIndex { $0 === victim }
        if killedPublisher != nil { figures.publisherKills += 1 }
        if killedSubscriber == 0 { figures.subscriberKills += 1 }
        if killedSubscriber == 1 { figures.sampleHolderKills += 1 }
        if victim === joiner { figures.joinerKills += 1 }

        func awaitProgress(_ what: String) {
            let before = board.totalPublished
            let deadline = Deadline(timeout: hangDeadline)
            while board.totalPublished < before + 64 && !deadline.hasPassed { usleep(200) }
            if deadline.hasPassed {
                violation(
                    "\(context): the publishers made no progress \(what) (held back by the dead \(victim.role)?); "
                        + "\(children.map(\.lines))")
            }
        }
        awaitProgress("after the kill")
        // A successor takes the dead one's slot.
        let successor: Child
        if let p = killedPublisher {
            successor = Child("topic-publisher", [parentPID, boardName, topic, String(p + 2)])
        } else if let s = killedSubscriber {
            successor = Child("topic-subscriber", [parentPID, boardName, topic, "2", s == 0 ? "copies" : "samples"])
        } else {
            successor = Child("topic-joiner", [parentPID, boardName, topic])
        }
        children.append(successor)
        guard successor.waitFor(["ready"], timeout: hangDeadline) != nil else {
            violation("\(context): the successor \(successor.role) did not take the slot: \(successor.lines)")
            continue
        }
        figures.successors += 1
        awaitProgress("after the successor joined")
        board.stop.pointee.store(1, ordering: .relaxed)

        let survivors = children.filter { $0 !== victim }
        for child in survivors {
            let expected: Set<String> = child.role == "topic-subscriber" ? ["closed", "publisherDied"] : ["closed"]
            let word = firstWord(finalLine(of: child, expected, context))
            if child.role == "topic-subscriber" && word == "publisherDied" {
                violation("\(context): a subscriber saw publisherDied though every slot was closed in the end")
            }
        }
        // Every surviving subscriber received every surviving publisher's last message.
        let publisherIndexes = [0, 1, 2, 3].filter { $0 != killedPublisher ?? -1 }
        let subscriberIDs = [0, 1, 2].filter { $0 != killedSubscriber ?? -1 && ($0 != 2 || killedSubscriber != nil) }
        for s in subscriberIDs {
            for p in publisherIndexes {
                let published = board.published(p).pointee.load(ordering: .relaxed)
                guard published > 0 else { continue }
                let (_, last, count) = board.track(s, p)
                if count.pointee.load(ordering: .relaxed) == 0 || last.pointee.load(ordering: .relaxed) != published - 1
                {
                    violation(
                        "\(context): subscriber \(s) ended at \(last.pointee.load(ordering: .relaxed)) of publisher "
                            + "\(p), which published \(published)")
                }
            }
        }
        let torn = board.torn.pointee.load(ordering: .relaxed)
        let disorder = board.disorder.pointee.load(ordering: .relaxed)
        let miscounted = board.miscounted.pointee.load(ordering: .relaxed)
        let changed = board.changedSamples.pointee.load(ordering: .relaxed)
        if torn > 0 { violation("\(context): \(torn) torn messages") }
        if disorder > 0 { violation("\(context): \(disorder) messages out of order or duplicated") }
        if miscounted > 0 {
            violation(
                "\(context): \(miscounted) gaps \(overflow == .block ? "(block loses nothing)" : "not reported exactly")"
            )
        }
        if changed > 0 { violation("\(context): \(changed) samples changed while held") }
        figures.received += board.received.pointee.load(ordering: .relaxed)
        figures.torn += torn
        figures.disorder += disorder
        figures.miscounted += miscounted
        figures.changedSamples += changed
        figures.missedReported += board.missedReported.pointee.load(ordering: .relaxed)
        figures.joins += board.joins.pointee.load(ordering: .relaxed)
        figures.misreportedClaims += board.misreportedClaims.pointee.load(ordering: .relaxed)
        figures.iterations += 1
    }
    return figures
}
