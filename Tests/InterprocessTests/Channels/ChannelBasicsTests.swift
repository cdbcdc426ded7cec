import Foundation
import Testing
@testable import Interprocess

@Suite(.serialized) struct ChannelBasicsTests {
    private func uniqueName(_ base: String) -> String {
        "\(base)-\(ProcessIdentity.current.pid)-\(UInt32.random(in: 0...UInt32.max))"
    }

    @Test(arguments: [ChannelTopology.singleProducerSingleConsumer, .multiProducerMultiConsumer])
    func sendReceiveCloseDrain(topology: ChannelTopology) throws {
        let name = uniqueName("basics")
        defer { try? SharedMemory.remove(named: name) }
        var sender = try ChannelSender<Int>(named: name, capacity: 8, topology: topology)
        var receiver = try ChannelReceiver<Int>(named: name)
        let found = receiver.topology
        #expect(found == topology)
        let none = try receiver.tryReceive()
        #expect(none == nil)
        for i in 0..<8 {
            let sent = try sender.trySend(i)
            #expect(sent)
        }
        let full = try sender.trySend(99)
        #expect(!full)
        let timedOut = try sender.send(99, timeout: .milliseconds(20))
        #expect(timedOut == false)
        let depth = receiver.depth
        #expect(depth == 8)
        let first = try receiver.receive()
        #expect(first == 0)
        let sentLast = try sender.trySend(8)
        #expect(sentLast)
        sender.close()
        var got: [Int] = []
        while true {
            do {
                guard let v = try receiver.receive(timeout: .seconds(1)) else {
                    Issue.record("timed out")
                    break
                }
                got.append(v)
            } catch {
                #expect(error == .closed)
                break
            }
        }
        #expect(got == Array(1...8))
    }

    @Test func receiveTimesOut() throws {
        let name = uniqueName("timeout")
        defer { try? SharedMemory.remove(named: name) }
        let sender = try ChannelSender<Int>(named: name, capacity: 4)
        var receiver = try ChannelReceiver<Int>(named: name)
        let start = Deadline.now
        let none = try receiver.receive(timeout: .milliseconds(50))
        #expect(none == nil)
        let elapsed = Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds
        #expect(elapsed >= 50_000_000 && elapsed < 1_000_000_000)
        _ = consume sender
    }

    @Test func spscRolesAreExclusive() throws {
        let name = uniqueName("roles")
        defer { try? SharedMemory.remove(named: name) }
        let first = try ChannelSender<Int>(named: name, capacity: 4, topology: .singleProducerSingleConsumer)
        #expect(throws: ChannelError.roleTaken(.sender)) {
            let s = try ChannelSender<Int>(named: name)
            s.close()
        }
        first.close()
        let second = try ChannelSender<Int>(named: name)
        _ = consume second
    }

    @Test func mismatchesAreTypedErrors() throws {
        let name = uniqueName("mismatch")
        defer { try? SharedMemory.remove(named: name) }
        let sender = try ChannelSender<Int>(named: name, capacity: 4, topology: .multiProducerMultiConsumer)
        #expect(
            throws: ChannelError.topologyMismatch(
                expected: .singleProducerSingleConsumer, found: .multiProducerMultiConsumer)
        ) {
            try ChannelReceiver<Int>(named: name, topology: .singleProducerSingleConsumer).close()
        }
        #expect(throws: ChannelError.self) { try ChannelReceiver<Int32>(named: name).close() }
        #expect(throws: ChannelError.self) { try ChannelReceiver<Int>(named: name, capacity: 8).close() }
        #expect(throws: ChannelError.self) { try ChannelSender<Int>(named: uniqueName("cap"), capacity: 3).close() }
        _ = consume sender
    }

    @Test(
        arguments: [ChannelTopology.singleProducerSingleConsumer, .multiProducerMultiConsumer],
        [WaitStrategy.spin, .block, .adaptive])
    func threadsStreamInOrder(topology: ChannelTopology, strategy: WaitStrategy) throws {
        let name = uniqueName("stream")
        defer { try? SharedMemory.remove(named: name) }
        let count = 50_000
        var receiver = try ChannelReceiver<Int>(named: name, capacity: 64, topology: topology, waitStrategy: strategy)
        let producer = Thread {
            do {
                var sender = try ChannelSender<Int>(named: name, waitStrategy: strategy)
                for i in 0..<count { try sender.send(i) }
                sender.close()
            } catch {
                Issue.record("sender: \(error)")
            }
        }
        producer.start()
        var expected = 0
        while true {
            do {
                guard let v = try receiver.receive(timeout: .seconds(10)) else {
                    Issue.record("timed out")
                    break
                }
                if v != expected {
                    Issue.record("got \(v), expected \(expected)")
                    break
                }
                expected += 1
            } catch {
                #expect(error == .closed)
                break
            }
        }
        #expect(expected == count)
    }

    @Test func batchesAndInPlace() throws {
        let name = uniqueName("batch")
        defer { try? SharedMemory.remove(named: name) }
        var sender = try ChannelSender<Int>(named: name, capacity: 16)
        var receiver = try ChannelReceiver<Int>(named: name)
        let a = try sender.send(contentsOf: 0..<10)
        #expect(a == 10)
        let b = try sender.send(contentsOf: 10..<30, timeout: .milliseconds(10))
        #expect(b == 6)
        var buffer = [Int](repeating: -1, count: 32)
        let n = try buffer.withUnsafeMutableBufferPointer { try receiver.receive(into: $0) }
        #expect(n == 16)
        #expect(Array(buffer[0..<16]) == Array(0..<16))
        let c = try sender.send(timeout: nil, inPlace: { $0.initialize(to: 777) })
        #expect(c)
        let d = try receiver.receive(inPlace: { $0.pointee + 1 })
        #expect(d == 778)
    }
}
