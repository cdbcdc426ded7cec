import Glibc
import Interprocess
import Testing

import InterprocessTestSupport

extension MultiProcessTests {
    /// Channels under load between real processes.
    ///
    /// Message counts: 200 000 per producer by default (so the default suite stays quick on a
    /// small shared machine), 1 000 000 per producer with `INTERPROCESS_LONG_TESTS`.
    @Suite struct ChannelStress {
        /// 3 producer processes × N tagged messages through an MPMC channel to 2 consumer
        /// processes: each consumer sees each producer's sequence strictly increasing, every
        /// message intact (checksum), and the consumers' marks in a shared array prove that
        /// every message was received exactly once.
        @Test func mpmcThreeProducersTwoConsumersExactlyOnce() throws {
            let perProducer = longTests ? 1_000_000 : 200_000
            let producers = 3
            let scenario = Scenario("chan-mpmc-stress")
            defer { scenario.removeAll() }
            try scenario.makeChannel(capacity: 1024, topology: .multiProducerMultiConsumer)
            let marks = try SharedArray<UInt8>(
                named: scenario.data, count: producers * perProducer, initialValue: 0, mode: .create)
            let start = try ProcessEvent(named: scenario.start, resetMode: .manual, mode: .create)
            let consumers = try (0..<2).map { _ in
                try Peer("chan-consume", scenario.name, "adaptive", "\(producers)", "\(perProducer)", "start", "mark")
            }
            for consumer in consumers { try consumer.waitFor("ready") }
            // Every producer opens its sender before the start gun, so none can close the
            // channel (the last open sender closing) before the others opened.
            let senders = try (0..<producers).map {
                try Peer("chan-produce", scenario.name, "adaptive", "\($0)", "\(perProducer)", "start")
            }
            for sender in senders { try sender.waitFor("ready") }
            let begin = Deadline.now
            start.set()
            let limit: Duration = longTests ? .seconds(600) : .seconds(180)
            for sender in senders {
                #expect(try sender.waitFor("done", timeout: limit) == "done \(perProducer)")
                #expect(try sender.waitForExit() == .exited(0), "\(sender): \(sender.standardError)")
            }
            var perProducerTotals = [Int](repeating: 0, count: producers)
            for consumer in consumers {
                let result = try consumerResult(try consumer.waitFor("result", timeout: limit))
                #expect(result.end == "closed")
                for (p, count) in result.perProducer.enumerated() { perProducerTotals[p] += count }
                #expect(try consumer.waitForExit() == .exited(0), "\(consumer): \(consumer.standardError)")
            }
            let elapsed = elapsedMilliseconds(since: begin)
            #expect(perProducerTotals == [Int](repeating: perProducer, count: producers))
            let missing = marks.withUnsafeMutableBufferPointer { $0.firstIndex { $0 != 1 } }
            #expect(
                missing == nil,
                "message \(missing.map { "\($0 / perProducer):\($0 % perProducer)" } ?? "") not received once")
            print("mpmc stress: \(producers) × \(perProducer) messages to 2 consumers in \(elapsed) ms")
        }

        /// One producer process, one consumer process, SPSC, with each wait strategy: every
        /// message arrives intact, once, in order (`contiguous`), then `closed`.
        @Test(arguments: [WaitStrategy.spin, .block, .adaptive])
        func spscOneProducerOneConsumer(strategy: WaitStrategy) throws {
            let count = longTests ? 2_000_000 : 200_000
            let scenario = Scenario("chan-spsc-stress")
            defer { scenario.removeAll() }
            try scenario.makeChannel(capacity: 256, topology: .singleProducerSingleConsumer)
            let start = try ProcessEvent(named: scenario.start, resetMode: .manual, mode: .create)
            let consumer = try Peer(
                "chan-consume", scenario.name, "\(strategy)", "1", "\(count)", "start", "contiguous")
            try consumer.waitFor("ready")
            let producer = try Peer("chan-produce", scenario.name, "\(strategy)", "0", "\(count)", "start")
            try producer.waitFor("ready")
            let begin = Deadline.now
            start.set()
            let limit: Duration = longTests ? .seconds(600) : .seconds(180)
            #expect(try producer.waitFor("done", timeout: limit) == "done \(count)")
            let result = try consumerResult(try consumer.waitFor("result", timeout: limit))
            #expect(result.end == "closed" && result.total == count)
            #expect(try producer.waitForExit() == .exited(0))
            #expect(try consumer.waitForExit() == .exited(0))
            print("spsc stress (\(strategy)): \(count) messages in \(elapsedMilliseconds(since: begin)) ms")
        }
    }
}
