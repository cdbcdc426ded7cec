// The wait-set roles of the test peer (see main.swift for the protocol with the parent): the
// writers whose channels a wait set in the parent watches. Channel k of the scenario NAME is
// named "NAME.k" and carries `Int`s.

import Glibc
import Interprocess

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
