import Benchmark
import BenchmarkScenarios
import Foundation
import Interprocess

// In-process channel benchmarks: a regression tracker for the rings' fast paths. Each
// benchmark names what it isolates. Cross-process latency and throughput, with same-run
// limits and kernel baselines, come from `shm bench` (BENCHMARKS.md).

/// A channel name no other run uses.
private func uniqueName(_ label: String) -> String {
    "ipcbench.\(label).\(ProcessInfo.processInfo.processIdentifier).\(UInt32.random(in: 0...UInt32.max))"
}

/// One thread: send then receive, so every message goes through the ring and back to the
/// caller (isolates the ring's fast path: no waiting, no wake-ups, no cache-line transfer).
private func sendReceive(_ benchmark: Benchmark, topology: ChannelTopology) throws {
    let name = uniqueName("sendreceive")
    defer { try? SharedMemory.remove(named: name) }
    var sender = try ChannelSender<UInt64>(
        named: name, capacity: ChannelCapacity.sendReceive, topology: topology, mode: .create)
    var receiver = try ChannelReceiver<UInt64>(named: name, topology: topology, mode: .open)
    benchmark.startMeasurement()
    for i in benchmark.scaledIterations {
        _ = try sender.trySend(UInt64(i))
        blackHole(try receiver.tryReceive())
    }
    benchmark.stopMeasurement()
    sender.close()
    receiver.close()
}

/// Two threads: a sender streams `scaledIterations` 64-byte messages to a receiver thread
/// (isolates the ring with cache-line transfers between cores, and the wait strategy).
private func twoThreadStream(_ benchmark: Benchmark, topology: ChannelTopology, strategy: WaitStrategy) throws {
    let name = uniqueName("stream")
    defer { try? SharedMemory.remove(named: name) }
    let count = benchmark.scaledIterations.count
    var sender = try ChannelSender<Message64>(
        named: name, capacity: ChannelCapacity.stream, topology: topology, mode: .create, waitStrategy: strategy)
    let done = DispatchSemaphore(value: 0)
    let opened = DispatchSemaphore(value: 0)
    let receiverThread = Thread {
        do {
            var receiver = try ChannelReceiver<Message64>(
                named: name, topology: topology, mode: .open, waitStrategy: strategy)
            opened.signal()
            for _ in 0..<count { blackHole(try receiver.receive()) }
            receiver.close()
        } catch {
            fatalError("receiver: \(error)")
        }
        done.signal()
    }
    receiverThread.start()
    opened.wait()
    var message = Message64()
    benchmark.startMeasurement()
    for i in 0..<count {
        message.sequence = UInt64(i)
        try sender.send(message)
    }
    done.wait()
    benchmark.stopMeasurement()
    sender.close()
}

/// Two threads: an 8-byte ping-pong over two channels (isolates the round trip between cores).
private func twoThreadRoundTrip(_ benchmark: Benchmark, topology: ChannelTopology, strategy: WaitStrategy) throws {
    let pingName = uniqueName("ping"), pongName = uniqueName("pong")
    defer {
        try? SharedMemory.remove(named: pingName)
        try? SharedMemory.remove(named: pongName)
    }
    let count = benchmark.scaledIterations.count
    var ping = try ChannelSender<UInt64>(
        named: pingName, capacity: ChannelCapacity.roundTrip, topology: topology, mode: .create, waitStrategy: strategy)
    var pong = try ChannelReceiver<UInt64>(
        named: pongName, capacity: ChannelCapacity.roundTrip, topology: topology, mode: .create, waitStrategy: strategy)
    let opened = DispatchSemaphore(value: 0)
    let done = DispatchSemaphore(value: 0)
    let echo = Thread {
        do {
            var input = try ChannelReceiver<UInt64>(
                named: pingName, topology: topology, mode: .open, waitStrategy: strategy)
            var output = try ChannelSender<UInt64>(
                named: pongName, topology: topology, mode: .open, waitStrategy: strategy)
            opened.signal()
            for _ in 0..<count { try output.send(try input.receive()!) }
            input.close()
            output.close()
        } catch {
            fatalError("echo: \(error)")
        }
        done.signal()
    }
    echo.start()
    opened.wait()
    benchmark.startMeasurement()
    for i in 0..<count {
        try ping.send(UInt64(i))
        blackHole(try pong.receive())
    }
    benchmark.stopMeasurement()
    done.wait()
    ping.close()
    pong.close()
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000
    )

    Benchmark("SPSC send+receive, one thread") { try sendReceive($0, topology: .singleProducerSingleConsumer) }
    Benchmark("MPMC send+receive, one thread") { try sendReceive($0, topology: .multiProducerMultiConsumer) }

    Benchmark("SPSC 64 B stream, two threads, adaptive") {
        try twoThreadStream($0, topology: .singleProducerSingleConsumer, strategy: .adaptive)
    }
    Benchmark("MPMC 64 B stream, two threads, adaptive") {
        try twoThreadStream($0, topology: .multiProducerMultiConsumer, strategy: .adaptive)
    }

    Benchmark("SPSC round trip, two threads, adaptive") {
        try twoThreadRoundTrip($0, topology: .singleProducerSingleConsumer, strategy: .adaptive)
    }
    Benchmark("SPSC round trip, two threads, block") {
        try twoThreadRoundTrip($0, topology: .singleProducerSingleConsumer, strategy: .block)
    }
}
