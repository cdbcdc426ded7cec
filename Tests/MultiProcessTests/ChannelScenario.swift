import Glibc
import Interprocess

import InterprocessTestSupport

extension Scenario {
    /// Creates the channel named after the scenario without opening either side: no
    /// participant registered, and neither side's close mark (`closed`, `receiversClosed`).
    func makeChannel(capacity: Int, topology: ChannelTopology) throws {
        try ChannelReceiver<ChannelTestMessage>.createChannel(named: name, capacity: capacity, topology: topology)
    }
}

/// Parses a consumer's "result END TOTAL c0,c1,…" line.
func consumerResult(_ line: String) throws -> (end: String, total: Int, perProducer: [Int]) {
    let words = line.split(separator: " ")
    guard words.count == 4, words[0] == "result", let total = Int(words[2]) else {
        throw Peer.Failure(description: "expected 'result END TOTAL COUNTS', got '\(line)'")
    }
    return (String(words[1]), total, words[3].split(separator: ",").compactMap { Int($0) })
}

func elapsedMilliseconds(since start: Deadline) -> Int {
    Int((Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000)
}
