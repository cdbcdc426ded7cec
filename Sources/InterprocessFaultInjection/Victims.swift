import Glibc
import Interprocess
import Synchronization

// The hidden roles: `InterprocessFaultInjection victim-ROLE PARENT_PID ARGS…`. Each says "ready"
// once it is in its loop, then works until SIGKILLed by the parent (or, for channel roles, until
// the run's stop flag or a peer's death ends it, which it reports as its last line).

func say(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
}

func victimFail(_ message: String) -> Never {
    say("error \(message)")
    exit(1)
}

/// Exits when the parent is gone, so that an interrupted run leaves no victim looping.
@inline(__always)
func exitIfOrphaned(_ parent: pid_t) {
    if getppid() != parent { exit(4) }
}

/// A cheap random delay, in loop iterations, so that kills land at varied points.
func spin(_ iterations: Int) {
    // Relaxed atomic stores: the optimiser keeps them (a plain sum would become a formula).
    for i in 0..<iterations { spinSink.store(i, ordering: .relaxed) }
}
let spinSink = Atomic<Int>(0)

/// The words of the mutex scenario's segment, after the mutex at offset 0.
struct MutexBoard {
    static let size = 4096
    let base: UnsafeMutableRawPointer
    private func word(_ index: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (base + 64 + 8 * index).assumingMemoryBound(to: Atomic<Int>.self)
    }
    /// The invariant: `a == b` whenever nobody holds the mutex. Updated non-atomically (two
    /// separate stores with work between) inside the critical section.
    var a: UnsafeMutablePointer<Atomic<Int>> { word(0) }
    var b: UnsafeMutablePointer<Atomic<Int>> { word(1) }
    /// The pid of the process inside the marked part of the critical section, 0 outside.
    var owner: UnsafeMutablePointer<Atomic<Int>> { word(2) }
    /// `.previousOwnerDied` results seen by anyone, and those that found `owner` set.
    var reports: UnsafeMutablePointer<Atomic<Int>> { word(3) }
    var reportsWithOwner: UnsafeMutablePointer<Atomic<Int>> { word(4) }
    /// Critical sections completed.
    var progress: UnsafeMutablePointer<Atomic<Int>> { word(5) }
    /// Repairs that found the invariant broken (a torn update) and fixed it.
    var tornRepaired: UnsafeMutablePointer<Atomic<Int>> { word(6) }

    /// Handles a lock result: repairs after an owner death, and checks that a normal
    /// acquisition finds the invariant intact and nobody marked inside. Returns a violation.
    func afterLock(_ result: ProcessMutex.LockResult, mutex: ProcessMutex) -> String? {
        // Relaxed throughout: the mutex orders these accesses; atomics only keep the parent's
        // unlocked progress reads well-defined.
        switch result {
        case .timedOut:
            return "lock timed out after the deadline: deadlock"
        case .previousOwnerDied:
            reports.pointee.add(1, ordering: .relaxed)
            if owner.pointee.load(ordering: .relaxed) != 0 { reportsWithOwner.pointee.add(1, ordering: .relaxed) }
            if a.pointee.load(ordering: .relaxed) != b.pointee.load(ordering: .relaxed) {
                tornRepaired.pointee.add(1, ordering: .relaxed)
            }
            b.pointee.store(a.pointee.load(ordering: .relaxed), ordering: .relaxed)
            owner.pointee.store(0, ordering: .relaxed)
            do { try mutex.markConsistent() } catch { return "markConsistent: \(error)" }
            return nil
        case .acquired:
            let o = owner.pointee.load(ordering: .relaxed)
            let (x, y) = (a.pointee.load(ordering: .relaxed), b.pointee.load(ordering: .relaxed))
            if o != 0 || x != y { return "unreported owner death: owner \(o), a \(x), b \(y)" }
            return nil
        }
    }
}

func runVictim(_ role: String, _ arguments: [String]) -> Never {
    guard let parentArgument = arguments.first, let parent = pid_t(parentArgument) else { victimFail("usage") }
    let rest = Array(arguments.dropFirst())
    do {
        switch role {
        case "victim-mutex": try mutexVictim(parent: parent, name: rest[0])
        case "victim-producer":
            try producerVictim(parent: parent, board: rest[0], channel: rest[1], index: Int(rest[2])!)
        case "victim-consumer": try consumerVictim(parent: parent, board: rest[0], channel: rest[1])
        case "victim-topic-publisher":
            try topicPublisherVictim(parent: parent, board: rest[0], topic: rest[1], index: Int(rest[2])!)
        case "victim-topic-subscriber":
            try topicSubscriberVictim(
                parent: parent, board: rest[0], topic: rest[1], id: Int(rest[2])!, samples: rest[3] == "samples")
        case "victim-topic-joiner": try topicJoinerVictim(parent: parent, board: rest[0], topic: rest[1])
        case "victim-waitset-producer":
            try waitSetProducerVictim(parent: parent, channel: rest[0], index: Int(rest[1])!)
        case "victim-bb-writer":
            try blackboardWriterVictim(parent: parent, name: rest[0], first: UInt64(rest[1])!, count: Int(rest[2])!)
        case "victim-bb-reader": try blackboardReaderVictim(parent: parent, name: rest[0])
        case "victim-svc-server":
            try serviceServerVictim(parent: parent, board: rest[0], service: rest[1], id: Int(rest[2])!)
        case "victim-svc-client":
            try serviceClientVictim(parent: parent, board: rest[0], service: rest[1], id: Int(rest[2])!)
        default: victimFail("unknown role \(role)")
        }
    } catch {
        victimFail("\(role): \(error)")
    }
}

func mutexVictim(parent: pid_t, name: String) throws -> Never {
    let segment = try SharedMemory(named: name, mode: .open, size: nil)
    let mutex = try ProcessMutex(in: segment, at: 0)
    let board = MutexBoard(base: segment.bytes.baseAddress!)
    let me = Int(getpid())
    var first = true
    var generator = SystemRandomNumberGenerator()
    while true {
        exitIfOrphaned(parent)
        let result = try mutex.lock(timeout: .seconds(30))
        if let violation = board.afterLock(result, mutex: mutex) { victimFail(violation) }
        board.owner.pointee.store(me, ordering: .relaxed)
        board.a.pointee.add(1, ordering: .relaxed)
        spin(Int.random(in: 0..<5000, using: &generator))
        board.b.pointee.add(1, ordering: .relaxed)
        board.progress.pointee.add(1, ordering: .relaxed)
        board.owner.pointee.store(0, ordering: .relaxed)
        try mutex.unlock()
        if first {
            say("ready")
            first = false
        }
        spin(Int.random(in: 0..<200, using: &generator))
    }
}

/// The shared record of a channel scenario: a stop flag, per-producer published counts, and a
/// received count per (producer, sequence).
struct ChannelBoard {
    static let producers = 2
    static let maximumSequence = 1 << 20
    static let countsOffset = 64
    static var size: Int { countsOffset + producers * maximumSequence }
    let base: UnsafeMutableRawPointer

    private func word(_ index: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (base + 8 * index).assumingMemoryBound(to: Atomic<Int>.self)
    }
    var stop: UnsafeMutablePointer<Atomic<Int>> { word(0) }
    var torn: UnsafeMutablePointer<Atomic<Int>> { word(1) }
    var duplicates: UnsafeMutablePointer<Atomic<Int>> { word(2) }
    var received: UnsafeMutablePointer<Atomic<Int>> { word(3) }
    /// Messages producer `p` knows it sent (stored after `send` returns: the true count may be
    /// one higher if it was killed in between).
    func published(_ p: Int) -> UnsafeMutablePointer<Atomic<Int>> { word(4 + p) }
    func count(_ p: Int, _ sequence: Int) -> UnsafeMutablePointer<Atomic<UInt8>> {
        (base + ChannelBoard.countsOffset + p * ChannelBoard.maximumSequence + sequence)
            .assumingMemoryBound(to: Atomic<UInt8>.self)
    }

    /// Records a received message; counts torn and duplicated ones.
    func record(_ message: FaultMessage) {
        // Relaxed: counters read by the parent after the victims ended (waitpid orders them).
        guard message.isIntact, Int(message.producer) < ChannelBoard.producers,
            message.sequence < UInt64(ChannelBoard.maximumSequence)
        else {
            torn.pointee.add(1, ordering: .relaxed)
            return
        }
        received.pointee.add(1, ordering: .relaxed)
        if count(Int(message.producer), Int(message.sequence)).pointee.wrappingAdd(1, ordering: .relaxed).oldValue != 0
        {
            duplicates.pointee.add(1, ordering: .relaxed)
        }
    }
}

func producerVictim(parent: pid_t, board name: String, channel: String, index: Int) throws -> Never {
    let segment = try SharedMemory(named: name, mode: .open, size: nil)
    let board = ChannelBoard(base: segment.bytes.baseAddress!)
    var sender = try ChannelSender<FaultMessage>(named: channel, mode: .open)
    say("ready")
    var sequence = 0
    var outcome = "closed"
    sending: while true {
        if sequence & 255 == 0 { exitIfOrphaned(parent) }
        // Relaxed: the flag only ends the loop; nothing is published through it.
        if board.stop.pointee.load(ordering: .relaxed) != 0 { break }
        if sequence >= ChannelBoard.maximumSequence {
            usleep(1000)
            exitIfOrphaned(parent)
            continue
        }
        do {
            if try sender.send(FaultMessage(producer: index, sequence: sequence), timeout: .milliseconds(50)) {
                sequence += 1
                board.published(index).pointee.store(sequence, ordering: .relaxed)
            }
        } catch {
            guard error == .receiverDied else { victimFail("send: \(error)") }
            outcome = "receiverDied"
            break sending
        }
    }
    sender.close()
    say("\(outcome) \(sequence)")
    exit(0)
}

func consumerVictim(parent: pid_t, board name: String, channel: String) throws -> Never {
    let segment = try SharedMemory(named: name, mode: .open, size: nil)
    let board = ChannelBoard(base: segment.bytes.baseAddress!)
    var receiver = try ChannelReceiver<FaultMessage>(named: channel, mode: .open)
    say("ready")
    var outcome = ""
    var received = 0
    while outcome.isEmpty {
        if received & 255 == 0 { exitIfOrphaned(parent) }
        do {
            if let message = try receiver.receive(timeout: .milliseconds(50)) {
                board.record(message)
                received += 1
            }
        } catch {
            switch error {
            case .closed: outcome = "closed"
            case .senderDied: outcome = "senderDied"
            default: victimFail("receive: \(error)")
            }
        }
    }
    say("\(outcome) \(received)")
    exit(0)
}
