// The wait-set roles of the test peer (see main.swift for the protocol with the parent): the
// writers whose channels a wait set in the parent watches, a wait set of its own whose CPU time
// the parent reads from /proc, and a hostile process bumping a segment's participant-table
// change word. Channel k of the scenario NAME is named "NAME.k" and carries `Int`s.

import Glibc
@_spi(Layout) import Interprocess

/// Holds open senders (they are `~Copyable`, so an array of them needs a box).
final class WaitSetSenders {
    var senders: [Int: SenderBox] = [:]
    final class SenderBox {
        var sender: ChannelSender<Int>
        init(_ sender: consuming ChannelSender<Int>) { self.sender = sender }
    }
}

/// Runs the wait-set role `role`; `false` if `role` is not one.
func runWaitSetRole(_ role: String, name: String, _ rest: [String]) throws -> Bool {
    switch role {
    case "waitset-send":
        // waitset-send NAME K,L,…: open the senders of channels NAME.K, NAME.L, …, say "ready",
        // wait for a line on stdin, send the index into each channel, say "sent", then block
        // until stdin closes (or the parent kills us: a sender that dies without closing).
        guard rest.count == 1 else { fail("usage: waitset-send NAME K,L,…", status: 2) }
        let indices = rest[0].split(separator: ",").map { integer(String($0), "K") }
        let open = WaitSetSenders()
        for k in indices {
            open.senders[k] = WaitSetSenders.SenderBox(try ChannelSender<Int>(named: "\(name).\(k)", mode: .open))
        }
        say("ready")
        blockOnStdinLine()
        for k in indices {
            guard try open.senders[k]!.sender.send(k, timeout: .seconds(10)) else { fail("channel \(k) full") }
        }
        say("sent")
        blockOnStdin()
        exit(0)
    case "waitset-wait":
        // waitset-wait NAME MS [watchers]: open (or create) the receiver of channel NAME.0, add
        // it to a wait set (with `watchers`: sleeping through the fallback's watcher threads),
        // wait 200 ms (the first peer checks), say "ready", wait for a line on stdin, then wait
        // on the set for MS milliseconds, say "waited RETURNS" (how many waits returned), and
        // block until stdin closes. Nothing is ever sent: every return but the last is spurious.
        guard rest.count >= 1 else { fail("usage: waitset-wait NAME MS [watchers]", status: 2) }
        let duration = integer(rest[0], "MS")
        let receiver = try ChannelReceiver<Int>(named: "\(name).0", capacity: 4)
        var set = WaitSet()
        if rest.dropFirst().contains("watchers") { set.mechanism = .watchers }
        set.add(readable: receiver)
        guard set.wait(timeout: .milliseconds(200)).isEmpty else { fail("fired with nothing sent") }
        say("ready")
        blockOnStdinLine()
        let deadline = Deadline.after(.milliseconds(Int64(duration)))
        var returns = 0
        while !deadline.hasPassed {
            guard set.wait(timeout: deadline.remaining).isEmpty else { fail("fired with nothing sent") }
            returns += 1
        }
        say("waited \(returns)")
        blockOnStdin()
        _ = consume receiver
        exit(0)
    case "waitset-bump":
        // waitset-bump SEGMENT MS: map the segment SEGMENT (its file, without opening it as a
        // participant), say "ready", wait for a line on stdin, then bump its participant-table
        // change word and wake its sleepers in a tight loop for MS milliseconds (a hostile
        // process), say "bumped N", and block until stdin closes.
        guard rest.count == 1 else { fail("usage: waitset-bump SEGMENT MS", status: 2) }
        let duration = integer(rest[0], "MS")
        let path = SharedMemory.directory + "/" + SegmentName.prefix + name
        let fd = open(path, O_RDWR)
        guard fd >= 0 else { fail("open \(path): errno \(errno)") }
        guard let base = mmap(nil, HeaderLayout.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED
        else { fail("mmap: errno \(errno)") }
        let change = WaiterGatedWake(at: base + HeaderLayout.participantsChanged)
        say("ready")
        blockOnStdinLine()
        let start = Deadline.now
        var bumps = 0
        while milliseconds(since: start) < duration {
            for _ in 0..<64 { change.bumpAndWake(count: Int32.max) }
            bumps += 64
        }
        say("bumped \(bumps)")
        blockOnStdin()
        exit(0)
    default:
        return false
    }
}

/// Blocks until the parent writes a line to stdin (or closes it).
func blockOnStdinLine() {
    var byte: UInt8 = 0
    while true {
        let n = read(STDIN_FILENO, &byte, 1)
        if n == 0 || (n == 1 && byte == UInt8(ascii: "\n")) { return }
        if n < 0 && errno != EINTR { return }
    }
}
