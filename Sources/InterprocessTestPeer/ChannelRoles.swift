// The channel roles of the test peer (see main.swift for the protocol with the parent).
//
// Every role works on the channel named NAME itself (created by the parent); some also use
// NAME.start (a manual ProcessEvent start gun) and NAME.data (a SharedArray<UInt8> in which
// consumers mark every message they receive, to prove exactly-once delivery across processes).
//
// Messages are `ChannelTestMessage`s (InterprocessTestSupport): 64 bytes, tagged (producer,
// sequence), with a checksum over every field, so a torn or half-written message is detected.

import Glibc
import Interprocess
import InterprocessTestSupport

func topologyArgument(_ text: String) -> ChannelTopology {
    switch text {
    case "spsc": .singleProducerSingleConsumer
    case "mpmc": .multiProducerMultiConsumer
    default: fail("topology '\(text)' is not spsc or mpmc", status: 2)
    }
}

func strategyArgument(_ text: String) -> WaitStrategy {
    switch text {
    case "spin": .spin
    case "block": .block
    case "adaptive": .adaptive
    default: fail("wait strategy '\(text)' is not spin, block or adaptive", status: 2)
    }
}

/// A semaphore for a thread to wait on a task.
final class CompletionGate: @unchecked Sendable {
    private let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
    init() { sem_init(semaphore, 0, 0) }
    func open() { sem_post(semaphore) }
    func wait() { while sem_wait(semaphore) != 0 && errno == EINTR {} }
}

/// Says "done SENT" and exits while `sender` is still open (borrowed for the call, so it
/// cannot be dropped, and closed, first): to the channel, a sender that died.
func exitWithoutClosing(_ sender: borrowing ChannelSender<ChannelTestMessage>, _ sent: Int) -> Never {
    say("done \(sent)")
    exit(0)
}

/// Runs the channel role `role`; `false` if `role` is not a channel role.
func runChannelRole(_ role: String, name: String, _ rest: [String]) throws -> Bool {
    switch role {
    case "chan-produce":
        // chan-produce NAME STRATEGY PRODUCER COUNT [start] [retry] [noclose]: open a sender
        // (say "opened"), wait for the start gun if `start`, send COUNT messages (COUNT < 0:
        // until killed) tagged PRODUCER, saying "progress" after the 1000th; then close (unless
        // `noclose`: exit holding the registration, as a crash after the last send would) and
        // say "done N". A `receiverDied` is reported ("receiverDied"), and with `retry` the
        // message is sent again (a new receiver may come), else the role ends.
        guard rest.count >= 3 else {
            fail("usage: chan-produce NAME STRATEGY PRODUCER COUNT [start] [retry] [noclose]", status: 2)
        }
        let strategy = strategyArgument(rest[0])
        let producer = UInt64(integer(rest[1], "PRODUCER"))
        let count = integer(rest[2], "COUNT")
        let options = Set(rest.dropFirst(3))
        var sender = try ChannelSender<ChannelTestMessage>(named: name, mode: .open, waitStrategy: strategy)
        say("opened")
        if options.contains("start") { try awaitStart(name) }
        var sent = 0
        while count < 0 || sent < count {
            do {
                try sender.send(ChannelTestMessage(producer: producer, sequence: UInt64(sent)))
            } catch {
                // (Not `catch .receiverDied`: that pattern crashes the Swift 6.3.1 compiler in
                // SILGen, as noted in main.swift.)
                guard error == .receiverDied else { throw error }
                say("receiverDied")
                if options.contains("retry") { continue }
                exit(0)
            }
            sent += 1
            if sent == 1000 { say("progress") }
        }
        if options.contains("noclose") { exitWithoutClosing(sender, sent) }
        sender.close()
        say("done \(sent)")

    case "chan-consume":
        // chan-consume NAME STRATEGY PRODUCERS PER_PRODUCER [start] [contiguous] [mark]
        //   [hold K] [await]: receive until the channel is closed or its senders died (`await`:
        // with `.awaitSuccessor`, so only until it is closed), checking every
        // message's checksum and that each producer's sequence numbers strictly increase
        // (`contiguous`: by exactly one, from 0). `mark`: mark each message in NAME.data
        // (index producer × PER_PRODUCER + sequence), failing on one marked already. `hold K`:
        // after K messages, take the next one in place, say "holding SEQ" and block without
        // releasing it (until killed). Says "ready" once open, then
        // "result closed|senderDied COUNT c0,c1,…" (per-producer counts).
        guard rest.count >= 3 else {
            fail("usage: chan-consume NAME STRATEGY PRODUCERS PER_PRODUCER [options]", status: 2)
        }
        let strategy = strategyArgument(rest[0])
        let producers = integer(rest[1], "PRODUCERS")
        let perProducer = integer(rest[2], "PER_PRODUCER")
        let options = Array(rest.dropFirst(3))
        let contiguous = options.contains("contiguous")
        var hold: Int? = nil
        if let i = options.firstIndex(of: "hold"), i + 1 < options.count { hold = integer(options[i + 1], "K") }
        let marks: SharedArray<UInt8>? = options.contains("mark") ? try SharedArray<UInt8>(named: name + ".data") : nil
        var receiver = try ChannelReceiver<ChannelTestMessage>(
            named: name, mode: .open, waitStrategy: strategy,
            senderDeath: options.contains("await") ? .awaitSuccessor : .report)
        say("ready")
        if options.contains("start") {
            let start = try ProcessEvent(named: name + ".start", resetMode: .manual, mode: .open)
            guard start.wait(timeout: .seconds(30)) else { fail("start event not set within 30 s") }
        }
        var next = [UInt64](repeating: 0, count: producers)
        var seen = [Bool](repeating: false, count: producers)
        var counts = [Int](repeating: 0, count: producers)
        var total = 0
        func check(_ m: ChannelTestMessage) {
            guard m.isIntact else { fail("torn message \(m) after \(total)") }
            guard m.producer < UInt64(producers), perProducer < 0 || m.sequence < UInt64(perProducer) else {
                fail("message from producer \(m.producer) sequence \(m.sequence) out of range")
            }
            let p = Int(m.producer)
            if contiguous {
                guard m.sequence == next[p] else { fail("producer \(p): got \(m.sequence), expected \(next[p])") }
            } else if seen[p] && m.sequence < next[p] {
                fail("producer \(p): \(m.sequence) after \(next[p] - 1) (reordered or duplicated)")
            }
            seen[p] = true
            next[p] = m.sequence + 1
            counts[p] += 1
            total += 1
            if let marks {
                let index = p * perProducer + Int(m.sequence)
                marks.withUnsafeMutableBufferPointer { (buffer) -> Void in
                    if buffer[index] != 0 { fail("producer \(p) sequence \(m.sequence) received twice") }
                    buffer[index] = 1
                }
            }
        }
        var buffer = [ChannelTestMessage](repeating: ChannelTestMessage(producer: 0, sequence: 0), count: 128)
        let end: String
        do {
            while true {
                if let k = hold, total == k {
                    _ = try receiver.receive(timeout: .seconds(30)) { (m) -> Void in
                        say("holding \(m.pointee.sequence)")
                        blockOnStdin()
                        exit(0)
                    }
                    fail("nothing to hold within 30 s")
                }
                let limit = hold.map { min(buffer.count, $0 - total) } ?? buffer.count
                let n = try buffer.withUnsafeMutableBufferPointer {
                    try receiver.receive(
                        into: UnsafeMutableBufferPointer(rebasing: $0[0..<limit]), timeout: .seconds(30))
                }
                guard n > 0 else { fail("no message within 30 s after \(total)") }
                for i in 0..<n { check(buffer[i]) }
            }
        } catch {
            guard let ending = error as? ChannelError, ending == .closed || ending == .senderDied else { throw error }
            end = ending == .closed ? "closed" : "senderDied"
        }
        say("result \(end) \(total) \(counts.map(String.init).joined(separator: ","))")

    case "chan-hold-send":
        // chan-hold-send NAME COUNT: send COUNT messages (producer 0), then claim the next slot,
        // write half of a message into it in place, say "writing", and block there (until
        // killed): a sender that dies between claiming and publishing.
        guard rest.count == 1 else { fail("usage: chan-hold-send NAME COUNT", status: 2) }
        let count = integer(rest[0], "COUNT")
        var sender = try ChannelSender<ChannelTestMessage>(named: name, mode: .open)
        for i in 0..<count { try sender.send(ChannelTestMessage(producer: 0, sequence: UInt64(i))) }
        try sender.send(timeout: .seconds(30)) { slot in
            let whole = ChannelTestMessage(producer: 0, sequence: UInt64(count))
            slot.pointee.producer = whole.producer
            slot.pointee.sequence = whole.sequence
            slot.pointee.payload.0 = whole.payload.0
            say("writing")
            blockOnStdin()
            exit(0)
        }
        fail("no slot within 30 s")

    case "chan-async-consume":
        // chan-async-consume NAME: receive with `for try await` over `messages()`, expecting
        // producer 0's messages 0, 1, 2, … intact; say "ready" once open, then
        // "result closed|senderDied COUNT".
        let receiver = try ChannelReceiver<ChannelTestMessage>(named: name, mode: .open)
        let messages = receiver.messages()
        say("ready")
        let gate = CompletionGate()
        Task {
            var count: UInt64 = 0
            do {
                for try await m in messages {
                    guard m.isIntact, m.producer == 0, m.sequence == count else { fail("got \(m), expected \(count)") }
                    count += 1
                }
                say("result closed \(count)")
            } catch ChannelError.senderDied {
                say("result senderDied \(count)")
            } catch {
                fail("async receive: \(error)")
            }
            gate.open()
        }
        gate.wait()

    case "chan-async-produce":
        // chan-async-produce NAME: send producer 0's messages 0, 1, 2, … with the async `send`
        // until killed; say "opened" once open, and "receiverDied N" (N sent) if every receiver
        // died while the channel was full.
        let gate = CompletionGate()
        Task {
            var sent: UInt64 = 0
            do {
                var sender = try ChannelSender<ChannelTestMessage>(named: name, mode: .open)
                say("opened")
                while true {
                    try await sender.send(ChannelTestMessage(producer: 0, sequence: sent))
                    sent += 1
                }
            } catch ChannelError.receiverDied {
                say("receiverDied \(sent)")
            } catch {
                fail("async send: \(error)")
            }
            gate.open()
        }
        gate.wait()

    case "chan-receive-timeout":
        // chan-receive-timeout NAME TIMEOUT_MS: say "waiting", receive with that timeout; say
        // "timedout MS" or "received MS".
        guard rest.count == 1 else { fail("usage: chan-receive-timeout NAME TIMEOUT_MS", status: 2) }
        let timeout = integer(rest[0], "TIMEOUT_MS")
        var receiver = try ChannelReceiver<ChannelTestMessage>(named: name, mode: .open)
        say("waiting")
        let start = Deadline.now
        let got = try receiver.receive(timeout: .milliseconds(timeout))
        say("\(got == nil ? "timedout" : "received") \(milliseconds(since: start))")

    case "chan-send-timeout":
        // chan-send-timeout NAME TIMEOUT_MS: send until the channel is full, say "waiting",
        // send once more with that timeout; say "timedout MS" or "sent MS".
        guard rest.count == 1 else { fail("usage: chan-send-timeout NAME TIMEOUT_MS", status: 2) }
        let timeout = integer(rest[0], "TIMEOUT_MS")
        var sender = try ChannelSender<ChannelTestMessage>(named: name, mode: .open)
        var sequence: UInt64 = 0
        while try sender.trySend(ChannelTestMessage(producer: 0, sequence: sequence)) { sequence += 1 }
        say("waiting")
        let start = Deadline.now
        let sent = try sender.send(ChannelTestMessage(producer: 0, sequence: sequence), timeout: .milliseconds(timeout))
        say("\(sent ? "sent" : "timedout") \(milliseconds(since: start))")

    case "chan-send-blocked":
        // chan-send-blocked NAME MODE: fill the channel with trySend (producer 0, 0, 1, …), say
        // "waiting FILLED", then block in one more send with no timeout: MODE `send`
        // (send(_:timeout:)), `inplace` (send(timeout:inPlace:)), `batch`
        // (send(contentsOf:timeout:), 3 messages) or `async` (the async send). Says
        // "receiversClosed MS" (MS since "waiting") if it ends in `receiversClosed`, "sent MS"
        // if it sent.
        guard rest.count == 1 else { fail("usage: chan-send-blocked NAME send|inplace|batch|async", status: 2) }
        let mode = rest[0]
        var sender = try ChannelSender<ChannelTestMessage>(named: name, mode: .open)
        var next: UInt64 = 0
        while try sender.trySend(ChannelTestMessage(producer: 0, sequence: next)) { next += 1 }
        say("waiting \(next)")
        let start = Deadline.now
        let message = ChannelTestMessage(producer: 0, sequence: next)
        var outcome: Result<Void, ChannelError> = .success(())
        switch mode {
        case "send":
            do { try sender.send(message) } catch { outcome = .failure(error) }
        case "inplace":
            do { try sender.send { $0.initialize(to: message) } } catch { outcome = .failure(error) }
        case "batch":
            let batch = (next..<next + 3).map { ChannelTestMessage(producer: 0, sequence: $0) }
            do {
                let sent = try sender.send(contentsOf: batch)
                if sent != batch.count { fail("batch send returned \(sent) without a timeout") }
            } catch { outcome = .failure(error) }
        case "async":
            let gate = CompletionGate()
            nonisolated(unsafe) var asyncSender = Optional(sender)
            nonisolated(unsafe) var asyncOutcome: Result<Void, ChannelError> = .success(())
            Task {
                var owned = asyncSender.take()!
                do { try await owned.send(message) } catch let error as ChannelError {
                    asyncOutcome = .failure(error)
                } catch {
                    fail("async send: \(error)")
                }
                owned.close()
                gate.open()
            }
            gate.wait()
            outcome = asyncOutcome
            if case .failure(.receiversClosed) = outcome {
                say("receiversClosed \(milliseconds(since: start))")
            } else {
                say("sent \(milliseconds(since: start))")
            }
            return true
        default:
            fail("mode '\(mode)' is not send, inplace, batch or async", status: 2)
        }
        switch outcome {
        case .success: say("sent \(milliseconds(since: start))")
        case .failure(let error):
            guard error == .receiversClosed else { throw error }
            say("receiversClosed \(milliseconds(since: start))")
        }
        sender.close()

    case "chan-byte-send-blocked":
        // chan-byte-send-blocked NAME: fill the byte channel with producer 0's messages (zero
        // timeouts), say "waiting FILLED", then send one more with no timeout; say
        // "receiversClosed MS" or "sent MS".
        var sender = try ByteChannelSender(named: name, mode: .open)
        var next: UInt64 = 0
        while try sender.send(ByteTestMessage.bytes(producer: 0, sequence: next), timeout: .zero) { next += 1 }
        say("waiting \(next)")
        let start = Deadline.now
        do {
            try sender.send(ByteTestMessage.bytes(producer: 0, sequence: next))
            say("sent \(milliseconds(since: start))")
        } catch {
            guard error == .receiversClosed else { throw error }
            say("receiversClosed \(milliseconds(since: start))")
        }
        sender.close()

    case "chan-byte-produce":
        // chan-byte-produce NAME PRODUCER COUNT [noclose]: open the byte channel as its sender
        // (say "opened"), send COUNT messages tagged PRODUCER (ByteTestMessage), then close
        // (unless `noclose`: exit holding the registration, a sender that died) and say
        // "done COUNT".
        guard rest.count >= 2 else { fail("usage: chan-byte-produce NAME PRODUCER COUNT [noclose]", status: 2) }
        let producer = UInt64(integer(rest[0], "PRODUCER"))
        let count = integer(rest[1], "COUNT")
        var sender = try ByteChannelSender(named: name, mode: .open)
        say("opened")
        for sequence in 0..<UInt64(count) {
            guard try sender.send(ByteTestMessage.bytes(producer: producer, sequence: sequence), timeout: .seconds(30))
            else {
                fail("no room within 30 s at \(sequence)")
            }
        }
        if rest.dropFirst(2).contains("noclose") {
            say("done \(count)")
            // `exit` runs no deinitialiser: to the channel, the sender died.
            withExtendedLifetime(sender) { exit(0) }
        }
        sender.close()
        say("done \(count)")

    case "stable-produce":
        // stable-produce NAME COUNT: open the channel NAME as its sender with this executable's
        // own `PeerReading` (stable name "interprocess.tests.Reading.v1"; the tests declare
        // their own type under that name), say "opened", send COUNT readings, close, say "done".
        guard rest.count == 1 else { fail("usage: stable-produce NAME COUNT", status: 2) }
        let count = integer(rest[0], "COUNT")
        var sender = try ChannelSender<PeerReading>(named: name, mode: .open)
        say("opened")
        for sequence in 0..<UInt64(count) {
            try sender.send(PeerReading(sequence: sequence, celsius: Double(sequence) / 4))
        }
        sender.close()
        say("done \(count)")

    default:
        return false
    }
    return true
}

/// A message type of this executable's own module, shared with the tests' `TestReading` through
/// its stable name alone (the two modules do not share the declaration).
struct PeerReading: StablyNamed {
    static let stableName = "interprocess.tests.Reading.v1"
    var sequence: UInt64
    var celsius: Double
}
