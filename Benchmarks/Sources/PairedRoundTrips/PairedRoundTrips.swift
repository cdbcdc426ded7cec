// Service and topic round trips beside SPSC channel round trips, measured in alternating chunks
// by the same two threads, pinned to cores 0 and 1: both kinds see the same machine state, so the
// ratio of each chunk pair compares like with like even where a virtual machine's two vCPUs
// move between a near and a far placement (which `shm bench`'s rows, measured one after the
// other, can straddle). Shared memory moves between threads exactly as between processes (the
// same physical lines); the threads only skip the process start-up.
//
// Usage: PairedRoundTrips [spin|adaptive] [PAIRS] [CHUNK]   (defaults: spin, 100, 4000)
// Prints the median of the per-pair ratios (service p50 / SPSC p50, topic p50 / SPSC p50),
// overall and for the pairs whose SPSC p50 was below and above 400 ns (the two placements of
// the 2-vCPU VMs BENCHMARKS.md describes). A topic round trip is `shm bench`'s: a publish of a
// `UInt64` to a topic with one subscriber, which echoes it over an SPSC channel.
import Glibc
import Interprocess
import PairedSupport

@main
struct PairedRoundTrips {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        let strategy: WaitStrategy = arguments.first == "adaptive" ? .adaptive : .spin
        let pairs = arguments.dropFirst().first.flatMap { Int($0) } ?? 100
        let chunk = arguments.dropFirst(2).first.flatMap { Int($0) } ?? 4000
        let name = "paired-round-trips-\(getpid())"
        defer {
            for suffix in ["", ".ping", ".pong", ".topic", ".topic-pong"] {
                try? SharedMemory.remove(named: name + suffix)
            }
        }
        try ServiceServer<UInt64, UInt64>(
            named: name, configuration: ServiceConfiguration(maximumClients: 1, maximumServers: 1), mode: .create
        ).close()
        try ChannelSender<UInt64>(named: name + ".ping", capacity: 256, mode: .create).close()
        try ChannelSender<UInt64>(named: name + ".pong", capacity: 256, mode: .create).close()
        var publisher = try TopicPublisher<UInt64>(
            named: name + ".topic", configuration: TopicConfiguration(capacity: 256, maximumSubscribers: 1),
            mode: .create, waitStrategy: strategy)
        try ChannelSender<UInt64>(named: name + ".topic-pong", capacity: 256, mode: .create).close()

        let echo = Echo(name: name, strategy: strategy, pairs: pairs, chunk: chunk)
        let thread = startThread(named: "echo") { try echo.run() }
        pin(0)
        var client = try ServiceClient<UInt64, UInt64>(named: name, waitStrategy: strategy)
        var ping = try ChannelSender<UInt64>(named: name + ".ping", mode: .open, waitStrategy: strategy)
        var pong = try ChannelReceiver<UInt64>(named: name + ".pong", waitStrategy: strategy)
        var topicPong = try ChannelReceiver<UInt64>(named: name + ".topic-pong", waitStrategy: strategy)
        var samples = [UInt64](repeating: 0, count: chunk)
        var service: [Double] = [], spsc: [Double] = [], topic: [Double] = []
        for _ in 0..<pairs {
            for i in 0..<chunk {
                let start = now()
                guard try client.request(UInt64(i)) == UInt64(i) else { fatalError("wrong response") }
                samples[i] = now() - start
            }
            service.append(median(&samples))
            for i in 0..<chunk {
                let start = now()
                try ping.send(UInt64(i))
                guard try pong.receive() == UInt64(i) else { fatalError("wrong echo") }
                samples[i] = now() - start
            }
            spsc.append(median(&samples))
            for i in 0..<chunk {
                let start = now()
                try publisher.publish(UInt64(i))
                guard try topicPong.receive() == UInt64(i) else { fatalError("wrong topic echo") }
                samples[i] = now() - start
            }
            topic.append(median(&samples))
        }
        pthread_join(thread, nil)
        func describe(_ values: [Double]) -> String {
            values.isEmpty ? "–" : format(values.sorted()[values.count / 2], digits: 3)
        }
        /// One line per row: the median of its per-pair ratios to SPSC, overall and by placement.
        func report(_ label: String, _ row: [Double], spscMedian: Bool) {
            let ratios = zip(row, spsc).map { $0 / $1 }
            let near = ratios.indices.filter { spsc[$0] < 400 }.map { ratios[$0] }
            let far = ratios.indices.filter { spsc[$0] >= 400 }.map { ratios[$0] }
            let spscPart = spscMedian ? ", SPSC \(Int(spsc.sorted()[pairs / 2])) ns" : ""
            print(
                "\(strategy) \(pairs) pairs of \(chunk): \(label)/SPSC RTT p50 median \(describe(ratios)); "
                    + "near (\(near.count) pairs) \(describe(near)), far (\(far.count) pairs) \(describe(far)); "
                    + "medians: \(label) \(Int(row.sorted()[pairs / 2])) ns\(spscPart)")
        }
        report("service", service, spscMedian: true)
        report("topic", topic, spscMedian: false)
        _ = consume publisher
    }
}

/// The other thread: the server and the channel echo, chunk for chunk.
final class Echo: Sendable {
    let name: String, strategy: WaitStrategy, pairs: Int, chunk: Int
    init(name: String, strategy: WaitStrategy, pairs: Int, chunk: Int) {
        (self.name, self.strategy, self.pairs, self.chunk) = (name, strategy, pairs, chunk)
    }

    func run() throws {
        pin(1)
        var server = try ServiceServer<UInt64, UInt64>(named: name, mode: .open, waitStrategy: strategy)
        var ping = try ChannelReceiver<UInt64>(named: name + ".ping", waitStrategy: strategy)
        var pong = try ChannelSender<UInt64>(named: name + ".pong", mode: .open, waitStrategy: strategy)
        var subscriber = try TopicSubscriber<UInt64>(named: name + ".topic", mode: .open, waitStrategy: strategy)
        var topicPong = try ChannelSender<UInt64>(named: name + ".topic-pong", mode: .open, waitStrategy: strategy)
        for _ in 0..<pairs {
            for _ in 0..<chunk {
                guard let request = try server.receive() else { fatalError("no request") }
                let value = request.value
                try request.respond(value)
            }
            for _ in 0..<chunk {
                guard let value = try ping.receive() else { fatalError("no message") }
                try pong.send(value)
            }
            for _ in 0..<chunk {
                guard let value = try subscriber.receive() else { fatalError("no topic message") }
                try topicPong.send(value)
            }
        }
    }
}
