import Glibc
import Interprocess

// The wait-set scenario: three producer victims, each on a channel of its own, and the parent
// receiving from all three through one `WaitSet`. One producer is SIGKILLed at a random moment
// while the parent waits or drains. The parent must receive every message intact and in order,
// the killed producer's channel must fire and its receive report `.senderDied` within the
// liveness interval (a late report is a violation, a missing one a hang), and the surviving
// producers' channels must keep flowing and never report a death.

struct WaitSetFigures {
    var iterations = 0, kills = 0, received = 0, torn = 0, disorder = 0, deathsReported = 0
    var falseDeaths = 0
    var slowestReportMilliseconds = 0
}

/// A producer on channel `channel`: sends its sequence as fast as the channel takes it, until
/// killed (or orphaned).
func waitSetProducerVictim(parent: pid_t, channel: String, index: Int) throws -> Never {
    var sender = try ChannelSender<FaultMessage>(named: channel, mode: .open)
    say("ready")
    var sequence = 0
    while true {
        if sequence & 255 == 0 { exitIfOrphaned(parent) }
        if try sender.send(FaultMessage(producer: index, sequence: sequence), timeout: .milliseconds(50)) {
            sequence += 1
            // Vary the pace, so the kill lands while the parent sleeps as well as while it drains.
            if sequence % 64 == 0 { usleep(UInt32.random(in: 0...500)) }
        }
    }
}

/// The receivers the parent holds (boxed: they are `~Copyable`).
private final class WaitSetReceiver {
    var receiver: ChannelReceiver<FaultMessage>
    var next = 0
    var died = false
    init(_ receiver: consuming ChannelReceiver<FaultMessage>) { self.receiver = receiver }
}

func runWaitSetScenario(iterations: Int) throws -> WaitSetFigures {
    var figures = WaitSetFigures()
    let producers = 3
    for iteration in 0..<iterations {
        let context = "waitset \(iteration)"
        let names = (0..<producers).map { "fault-\(getpid())-waitset-\(iteration).\($0)" }
        defer { for name in names { try? SharedMemory.remove(named: name) } }
        let receivers = try names.map {
            WaitSetReceiver(try ChannelReceiver<FaultMessage>(named: $0, capacity: 8, mode: .create))
        }
        var set = WaitSet()
        let tokens = receivers.map { set.add(readable: $0.receiver) }
        let victims = (0..<producers).map { Child("waitset-producer", [parentPID, names[$0], String($0)]) }
        defer { for v in victims { v.kill() } }
        guard victims.allSatisfy({ $0.waitFor(["ready"], timeout: hangDeadline) != nil }) else {
            violation("\(context): a victim did not start: \(victims.map(\.lines))")
            continue
        }
        figures.iterations += 1
        let target = Int.random(in: 0..<producers)
        let start = Deadline.now
        let killAt = start.advanced(by: .microseconds(Int64.random(in: 0...20_000)))
        var killedAt: Deadline?
        let deadline = Deadline.after(hangDeadline)
        while !receivers[target].died {
            if deadline.hasPassed {
                violation("\(context): the killed producer's channel never reported senderDied")
                break
            }
            if killedAt == nil && killAt.hasPassed {
                killVictim(victims[target], context)
                killedAt = Deadline.now
                figures.kills += 1
            }
            let fired = set.wait(timeout: killedAt == nil ? .milliseconds(1) : .seconds(1))
            for source in fired {
                guard let k = tokens.firstIndex(of: source.token) else { continue }
                let box = receivers[k]
                do {
                    // A zero timeout, not `tryReceive`: a receive at its deadline checks the senders.
                    while let message = try box.receiver.receive(timeout: .zero) {
                        figures.received += 1
                        if !message.isIntact || message.producer != UInt32(k) {
                            figures.torn += 1
                            violation("\(context): a torn message on channel \(k)")
                        } else if message.sequence != UInt64(box.next) {
                            figures.disorder += 1
                            violation("\(context): channel \(k) delivered \(message.sequence) after \(box.next - 1)")
                            box.next = Int(message.sequence) + 1
                        } else {
                            box.next += 1
                        }
                    }
                } catch .senderDied {
                    box.died = true
                    set.remove(source.token)
                    if k == target, let killedAt {
                        figures.deathsReported += 1
                        let elapsed = Int((Deadline.now.uptimeNanoseconds - killedAt.uptimeNanoseconds) / 1_000_000)
                        figures.slowestReportMilliseconds = max(figures.slowestReportMilliseconds, elapsed)
                        // One liveness interval (100 ms), with room for a loaded machine.
                        if elapsed > 1000 {
                            violation("\(context): the death was reported \(elapsed) ms after the kill")
                        }
                    } else {
                        figures.falseDeaths += 1
                        violation("\(context): channel \(k) reported senderDied, its producer is alive")
                    }
                } catch {
                    violation("\(context): channel \(k): \(error)")
                    box.died = true
                    set.remove(source.token)
                }
            }
        }
        // The survivors are still sending: a little more must arrive on each.
        let survivors = (0..<producers).filter { $0 != target }
        let counts = survivors.map { receivers[$0].next }
        let more = Deadline.after(hangDeadline)
        while !more.hasPassed && zip(survivors, counts).contains(where: { receivers[$0.0].next == $0.1 }) {
            for source in set.wait(timeout: .seconds(1)) {
                guard let k = tokens.firstIndex(of: source.token) else { continue }
                while let message = try? receivers[k].receiver.tryReceive() {
                    figures.received += 1
                    if message.isIntact && message.sequence == UInt64(receivers[k].next) { receivers[k].next += 1 }
                }
            }
        }
        if more.hasPassed { violation("\(context): a surviving producer's channel stopped after the kill") }
    }
    return figures
}
