import Foundation
import Glibc
import Interprocess
import Testing

// The wait set with real processes: 64 channels written by other processes, an idle second,
// a writer killed while the wait set waits. The writers are the `waitset-send` role of
// `Sources/InterprocessTestPeer/WaitSetRoles.swift`; channel k of a scenario is "NAME.k".

/// The receivers of a scenario's channels, and a wait set over all of them.
private final class WaitedChannels {
    final class Box {
        var receiver: ChannelReceiver<Int>
        init(_ receiver: consuming ChannelReceiver<Int>) { self.receiver = receiver }
    }

    let scenario: Scenario
    let receivers: [Box]
    var set = WaitSet()
    var tokens: [WaitSet.Token] = []

    init(_ scenario: Scenario, count: Int) throws {
        self.scenario = scenario
        receivers = try (0..<count).map { Box(try ChannelReceiver<Int>(named: "\(scenario.name).\($0)", capacity: 4)) }
        for box in receivers { tokens.append(set.add(readable: box.receiver)) }
    }

    func index(of token: WaitSet.Token) -> Int { tokens.firstIndex(of: token)! }

    func removeAll() {
        for k in receivers.indices { try? SharedMemory.remove(named: "\(scenario.name).\(k)") }
    }
}

/// What the calling thread used so far: CPU time as user + system clock ticks (10 ms each,
/// sampled at the scheduler's tick) and as the scheduler's exact run time in nanoseconds, and
/// its voluntary context switches (each sleep that ended is one).
private func threadUsage() throws -> (ticks: Int, nanoseconds: Int, sleeps: Int) {
    let task = "/proc/self/task/\(CurrentThread.id)"
    let stat = try String(contentsOfFile: task + "/stat", encoding: .utf8)
    // "TID (COMM) STATE …": the fields after the last ')' start with the state (field 3);
    // utime and stime are fields 14 and 15.
    let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
    // schedstat: "RUN_NS WAIT_NS SLICES".
    let schedstat = try String(contentsOfFile: task + "/schedstat", encoding: .utf8).split(separator: " ")
    let status = try String(contentsOfFile: task + "/status", encoding: .utf8)
    let switches = status.split(separator: "\n").first { $0.hasPrefix("voluntary_ctxt_switches:") }
    let sleeps = Int(switches?.split(separator: "\t").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? -1
    return (Int(fields[11])! + Int(fields[12])!, Int(schedstat[0])!, sleeps)
}

extension MultiProcessTests {
    @Suite struct WaitSetAcrossProcesses {
        /// Two writer processes each write a few of 64 channels: the wait set wakes for exactly
        /// those, and for no other within 100 ms more.
        @Test func wakesForExactlyTheChannelsOtherProcessesWrote() throws {
            let scenario = Scenario("waitset-64")
            let channels = try WaitedChannels(scenario, count: 64)
            defer { channels.removeAll() }
            let written: [[Int]] = [[3, 17, 40], [0, 5, 63]]
            let writers = try written.map {
                try Peer("waitset-send", scenario.name, $0.map(String.init).joined(separator: ","))
            }
            for writer in writers { try writer.waitFor("ready") }
            // Nothing written yet: nothing fires.
            #expect(channels.set.wait(timeout: .milliseconds(20)).isEmpty)
            for writer in writers { try writer.tell("go") }
            var fired: Set<Int> = []
            let expected = Set(written.joined())
            let deadline = Deadline(timeout: .seconds(10))
            while fired != expected && !deadline.hasPassed {
                for source in channels.set.wait(timeout: deadline.remaining) {
                    let k = channels.index(of: source.token)
                    fired.insert(k)
                    #expect(try channels.receivers[k].receiver.tryReceive() == k)
                }
            }
            #expect(fired == expected)
            for writer in writers { try writer.waitFor("sent") }
            // Every message was taken: nothing else fires.
            #expect(channels.set.wait(timeout: .milliseconds(100)).isEmpty)
        }

        /// A wait set over 64 channels whose sender process is alive and idle sleeps through a
        /// second: it wakes only for its liveness checks and uses a small part of the second.
        @Test func anIdleSecondCostsNoCPU() throws {
            let scenario = Scenario("waitset-idle")
            let channels = try WaitedChannels(scenario, count: 64)
            defer { channels.removeAll() }
            let writer = try Peer("waitset-send", scenario.name, (0..<64).map(String.init).joined(separator: ","))
            try writer.waitFor("ready")
            // Steady state: the first liveness checks run once before the measured second (a
            // first call instantiates generic metadata and looks up conformances, once).
            #expect(channels.set.wait(timeout: .milliseconds(250)).isEmpty)
            let before = try threadUsage()
            let start = Deadline.now
            #expect(channels.set.wait(timeout: .seconds(1)).isEmpty)
            let elapsed = Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds
            let after = try threadUsage()
            let ticks = after.ticks - before.ticks
            let microseconds = (after.nanoseconds - before.nanoseconds) / 1000
            let sleeps = after.sleeps - before.sleeps
            #expect(elapsed >= 990_000_000)
            // Asleep but for the ten liveness checks of the 64 channels (one every 100 ms): about
            // ten sleeps, where a poller would have hundreds, and a small part of the second in
            // CPU time, where a spinner would use all of it (the bound leaves room for the
            // sanitizers' slowdown; BENCHMARKS.md has the figure).
            #expect(
                sleeps >= 1 && sleeps <= 20, "the waiting thread slept \(sleeps) times in \(elapsed / 1_000_000) ms")
            #expect(microseconds < 200_000, "the waiting thread ran \(microseconds) µs in \(elapsed / 1_000_000) ms")
            #expect(ticks <= 20, "the waiting thread was charged \(ticks) ticks in \(elapsed / 1_000_000) ms")
        }

        /// The writer of one of 64 channels is killed while the wait set waits: the wait set
        /// reports that channel within the liveness interval, and its receive says why.
        @Test func reportsAChannelWhoseWriterWasKilled() throws {
            let scenario = Scenario("waitset-kill")
            let channels = try WaitedChannels(scenario, count: 64)
            defer { channels.removeAll() }
            let writer = try Peer("waitset-send", scenario.name, "21")
            try writer.waitFor("ready")
            #expect(channels.set.wait(timeout: .milliseconds(20)).isEmpty)
            let pid = writer.pid
            let killer = Thread {
                usleep(50_000)
                kill(pid, SIGKILL)
            }
            let start = Deadline.now
            killer.start()
            let fired = channels.set.wait(timeout: .seconds(10))
            let elapsed = (Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000
            #expect(fired.map { channels.index(of: $0.token) } == [21])
            // 50 ms before the kill, then at most one liveness interval (100 ms) and a margin for
            // a loaded machine.
            #expect(elapsed < 50 + 100 + 250, "reported \(elapsed) ms after the wait began")
            #expect(throws: ChannelError.senderDied) { try channels.receivers[21].receiver.receive(timeout: .zero) }
            _ = try writer.waitForExit()
        }
    }
}
