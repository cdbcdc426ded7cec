// Single-thread loops whose instruction counts explain the cost per message: one thread plays
// both sides, so no cache line moves between cores and the count (from callgrind) does not move
// with machine noise. `Benchmarks/instruction-counts.sh` runs each loop at two lengths under
// `valgrind --tool=callgrind` and prints the instructions per operation (the difference over the
// extra operations, so set-up and exit cost nothing).
//
// Usage: InstructionCounts LOOP COUNT, where LOOP is one of the names in `loops` below; prints
// nothing but a checksum (so the loop is not optimised away).
import BenchmarkScenarios
import CLimitRows
import Glibc
import Interprocess

/// A 64-byte message, as `shm bench`'s streams send.
struct Message: BitwiseCopyable {
    var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
}

let arguments = CommandLine.arguments
guard arguments.count == 3, let count = Int(arguments[2]), count >= 0 else {
    print("usage: InstructionCounts spsc-8|spsc-64|mpmc-8|service|topic-64|c-ring-64|mutex-buffer-64|c-mutex-64 COUNT")
    exit(2)
}
let name = "instruction-counts-\(getpid())"
var checksum: UInt64 = 0

do {
    switch arguments[1] {
    case "spsc-8", "mpmc-8":
        let topology: ChannelTopology =
            arguments[1] == "spsc-8" ? .singleProducerSingleConsumer : .multiProducerMultiConsumer
        defer { try? SharedMemory.remove(named: name) }
        var sender = try ChannelSender<UInt64>(named: name, capacity: 256, topology: topology, mode: .create)
        var receiver = try ChannelReceiver<UInt64>(named: name, topology: topology)
        for i in 0..<count {
            _ = try sender.trySend(UInt64(i))
            checksum &+= try receiver.tryReceive() ?? 0
        }
    case "spsc-64":
        defer { try? SharedMemory.remove(named: name) }
        var sender = try ChannelSender<Message>(named: name, capacity: 256, mode: .create)
        var receiver = try ChannelReceiver<Message>(named: name)
        for i in 0..<count {
            var message = Message()
            message.words.0 = UInt64(i)
            _ = try sender.trySend(message)
            checksum &+= try receiver.tryReceive()?.words.0 ?? 0
        }
    case "service":
        // One request: submitted, taken, answered, its response read (the path of
        // `request(_:)` but for the wait, which a single thread cannot do).
        defer { try? SharedMemory.remove(named: name) }
        var server = try ServiceServer<UInt64, UInt64>(
            named: name, configuration: ServiceConfiguration(maximumClients: 1, maximumServers: 1), mode: .create,
            waitStrategy: .spin)
        var client = try ServiceClient<UInt64, UInt64>(named: name, waitStrategy: .spin)
        for i in 0..<count {
            var pending = try client.submit(UInt64(i))
            guard let request = try server.tryReceive() else { fatalError("no request") }
            let value = request.value
            try request.respond(value)
            checksum &+= try pending.next() ?? 0
        }
    case "topic-64":
        defer { try? SharedMemory.remove(named: name) }
        var publisher = try TopicPublisher<Message>(
            named: name, configuration: TopicConfiguration(capacity: 256, maximumSubscribers: 1), mode: .create)
        var subscriber = try TopicSubscriber<Message>(named: name, mode: .open)
        for i in 0..<count {
            var message = Message()
            message.words.0 = UInt64(i)
            _ = try publisher.tryPublish(message)
            checksum &+= try subscriber.tryReceive()?.words.0 ?? 0
        }
    case "mutex-buffer-64":
        // `shm bench`'s mutex-buffer (the seed's scenario: a `ProcessMutex`, two
        // `ProcessCondition`s, the slots in a `SharedArray`), one thread putting and taking.
        let names = MutexBuffer.names(name)
        defer { for object in names { try? SharedMemory.remove(named: object) } }
        let buffer = try MutexBuffer(name, capacity: 256, slotSize: 64, create: true)
        var message = Message()
        var received = Message()
        for i in 0..<count {
            message.words.0 = UInt64(i)
            try buffer.put(&message)
            try buffer.take(into: &received)
            checksum &+= received.words.0
        }
    case "c-mutex-64":
        // Its C twin, `c-mutex` (a robust pthread mutex and two pthread conditions).
        let size = cbl_buffer_size(256, 64)
        let region = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 128)
        defer { region.deallocate() }
        region.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        guard cbl_buffer_init(region) == 0 else { fatalError("cbl_buffer_init") }
        checksum = cbl_buffer_loop64(region, 256, UInt64(count))
    case "c-ring-64":
        // `shm bench`'s c-ring (the C SPSC ring with cached indices, 64-byte slots, capacity 256):
        // the C limit the SPSC rows are compared with.
        let size = cbl_ring_size(256, 64)
        let region = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 128)
        defer { region.deallocate() }
        region.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        checksum = cbl_ring_loop64(region, 256, UInt64(count))
    default:
        print("unknown loop \(arguments[1])")
        exit(2)
    }
} catch {
    print("failed: \(error)")
    exit(1)
}
print(checksum)
