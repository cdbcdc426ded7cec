// 64-byte streams through a topic with one subscriber and through an SPSC channel, in
// alternating chunks sent by the same two threads, pinned to cores 0 and 1: both rows see the
// same machine state, so the ratio of each chunk pair compares like with like even where a
// virtual machine's two vCPUs move between placements (which `shm bench`'s rows, measured one
// after the other, can straddle). `.adaptive` waiting, capacity 256: the `shm bench` stream
// configuration. Shared memory moves between threads exactly as between processes.
//
// An MPMC channel streams in the same chunks too, for the SPSC/MPMC ratio.
//
// Usage: PairedStreams [PAIRS] [CHUNK]   (defaults: 40, 300000)
// Prints the medians of the per-pair rate ratios (topic / SPSC, SPSC / MPMC) and each row's
// median rate.
import Glibc
import Interprocess
import PairedSupport
import Synchronization

struct Message: BitwiseCopyable {
    var sequence: UInt64 = 0
    var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0)
}

enum Row: CaseIterable { case topic, spsc, mpmc }

@main
struct PairedStreams {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        let pairs = arguments.first.flatMap { Int($0) } ?? 40
        let chunk = arguments.dropFirst().first.flatMap { Int($0) } ?? 300_000
        let name = "paired-streams-\(getpid())"
        defer { for suffix in [".topic", ".spsc", ".mpmc"] { try? SharedMemory.remove(named: name + suffix) } }
        var publisher = try TopicPublisher<Message>(
            named: name + ".topic", configuration: TopicConfiguration(capacity: 256, maximumSubscribers: 1),
            mode: .create, waitStrategy: .adaptive)
        var sender = try ChannelSender<Message>(
            named: name + ".spsc", capacity: 256, topology: .singleProducerSingleConsumer, mode: .create,
            waitStrategy: .adaptive)
        var mpmcSender = try ChannelSender<Message>(
            named: name + ".mpmc", capacity: 256, topology: .multiProducerMultiConsumer, mode: .create,
            waitStrategy: .adaptive)
        let shared = Shared(name: name, pairs: pairs, chunk: chunk)
        let thread = startThread(named: "receiver") { try shared.run() }
        pin(0)
        while shared.received.load(ordering: .acquiring) == 0 {}  // the receiver is open
        var rates: [Row: [Double]] = [.topic: [], .spsc: [], .mpmc: []]
        var sequence: UInt64 = 0
        var expected = 1
        for _ in 0..<pairs {
            for row in Row.allCases {
                let start = now()
                for _ in 0..<chunk {
                    sequence &+= 1
                    let message = Message(sequence: sequence)
                    switch row {
                    case .topic: try publisher.publish(message)
                    case .spsc: try sender.send(message)
                    case .mpmc: try mpmcSender.send(message)
                    }
                }
                expected += chunk
                while shared.received.load(ordering: .acquiring) != expected {}
                rates[row]!.append(Double(chunk) / Double(now() - start) * 1e3)
            }
        }
        pthread_join(thread, nil)
        let ratios = zip(rates[.topic]!, rates[.spsc]!).map { $0 / $1 }
        let channels = zip(rates[.spsc]!, rates[.mpmc]!).map { $0 / $1 }
        print(
            "topic/SPSC 64 B rate median \(format(medianOf(ratios))) over \(pairs) pairs of \(chunk) "
                + "(quartiles \(format(quantile(ratios, 0.25)))–\(format(quantile(ratios, 0.75)))); "
                + "SPSC/MPMC \(format(medianOf(channels))) "
                + "(quartiles \(format(quantile(channels, 0.25)))–\(format(quantile(channels, 0.75)))); medians: topic "
                + "\(format(medianOf(rates[.topic]!))) M/s, SPSC \(format(medianOf(rates[.spsc]!))) M/s, "
                + "MPMC \(format(medianOf(rates[.mpmc]!))) M/s")
        _ = consume publisher
        _ = consume sender
        _ = consume mpmcSender
    }
}

/// The receiving thread's state, and its loop.
final class Shared: Sendable {
    let name: String, pairs: Int, chunk: Int
    /// 1 once open, then 1 + the messages received.
    let received = Atomic<Int>(0)
    init(name: String, pairs: Int, chunk: Int) { (self.name, self.pairs, self.chunk) = (name, pairs, chunk) }

    func run() throws {
        pin(1)
        var subscriber = try TopicSubscriber<Message>(named: name + ".topic", mode: .open, waitStrategy: .adaptive)
        var receiver = try ChannelReceiver<Message>(named: name + ".spsc", waitStrategy: .adaptive)
        var mpmcReceiver = try ChannelReceiver<Message>(named: name + ".mpmc", waitStrategy: .adaptive)
        received.store(1, ordering: .releasing)
        var last: UInt64 = 0
        for _ in 0..<pairs {
            for row in Row.allCases {
                for _ in 0..<chunk {
                    let message: Message?
                    switch row {
                    case .topic: message = try subscriber.receive()
                    case .spsc: message = try receiver.receive()
                    case .mpmc: message = try mpmcReceiver.receive()
                    }
                    guard let message, message.sequence == last &+ 1 else { fatalError("lost or out of order") }
                    last = message.sequence
                }
                // Releasing: the sender reads the count before it starts the next chunk.
                received.add(chunk, ordering: .releasing)
            }
        }
    }
}

func medianOf(_ values: [Double]) -> Double { quantile(values, 0.5) }
