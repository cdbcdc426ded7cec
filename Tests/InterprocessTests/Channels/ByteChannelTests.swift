import Foundation
import Testing
@testable import Interprocess

@Suite struct ByteChannelTests {
    private func uniqueName(_ base: String) -> String {
        "\(base)-\(ProcessIdentity.current.pid)-\(UInt32.random(in: 0...UInt32.max))"
    }

    @Test func variableSizesAcrossWrapAround() throws {
        let name = uniqueName("bytes")
        defer { try? SharedMemory.remove(named: name) }
        var sender = try ByteChannelSender(named: name, bufferSize: 256, maximumMessageSize: 100)
        var receiver = try ByteChannelReceiver(named: name)
        #expect(sender.bufferSize == 256)
        // Sizes chosen so frames land at every offset and wrap many times, including 0 bytes.
        for round in 0..<500 {
            let size = (round * 37) % 101
            let message = (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ round) }
            let sent = try sender.send(message, timeout: .zero)
            #expect(sent)
            let got = try receiver.receive(timeout: .zero)
            #expect(got == message, "round \(round)")
        }
        #expect(throws: ChannelError.messageTooLarge(size: 101, maximum: 100)) {
            try sender.send([UInt8](repeating: 0, count: 101))
        }
    }

    @Test func fillsThenBlocksThenDrainsAfterClose() throws {
        let name = uniqueName("bytes-full")
        defer { try? SharedMemory.remove(named: name) }
        var sender = try ByteChannelSender(named: name, bufferSize: 256, maximumMessageSize: 24)
        var receiver = try ByteChannelReceiver(named: name)
        var sent = 0
        while try sender.send([UInt8](repeating: UInt8(sent), count: 24), timeout: .zero) { sent += 1 }
        #expect(sent == 256 / 32)
        sender.close()
        var received = 0
        while true {
            do {
                let message = try receiver.receive(timeout: .seconds(1))
                #expect(message == [UInt8](repeating: UInt8(received), count: 24))
                received += 1
            } catch {
                #expect(error == .closed)
                break
            }
        }
        #expect(received == sent)
    }

    @Test func streamsBetweenThreadsInPlace() throws {
        let name = uniqueName("bytes-stream")
        defer { try? SharedMemory.remove(named: name) }
        var receiver = try ByteChannelReceiver(named: name, bufferSize: 4096, maximumMessageSize: 1000)
        let count = 20_000
        let producer = Thread {
            do {
                var sender = try ByteChannelSender(named: name)
                for i in 0..<count {
                    try sender.send(count: 8 + i % 992) { $0.storeBytes(of: i, as: Int.self) }
                }
            } catch {
                Issue.record("sender: \(error)")
            }
        }
        producer.start()
        for i in 0..<count {
            let value = try receiver.receive(timeout: .seconds(10)) { (bytes: UnsafeRawBufferPointer) -> Int? in
                bytes.count == 8 + i % 992 ? bytes.load(as: Int.self) : nil
            }
            #expect(value == .some(i))
            if value != .some(i) { break }
        }
    }

    @Test func corruptFramesAreTypedErrors() throws {
        let name = uniqueName("bytes-corrupt")
        defer { try? SharedMemory.remove(named: name) }
        var sender = try ByteChannelSender(named: name, bufferSize: 256, maximumMessageSize: 24)
        var receiver = try ByteChannelReceiver(named: name)
        try sender.send([1, 2, 3])
        // A hostile writer claims a 1000-byte frame.
        let ringStart = sender.ring.ring
        ringStart.storeBytes(of: UInt32(1000), as: UInt32.self)
        #expect(throws: ChannelError.self) { _ = try receiver.receive(timeout: .zero) }
    }
}

extension ByteChannelTests {
    @Test func receiveIntoTooSmallBufferKeepsTheMessage() throws {
        let name = uniqueName("bytes-into")
        defer { try? SharedMemory.remove(named: name) }
        var sender = try ByteChannelSender(named: name, bufferSize: 256, maximumMessageSize: 24)
        var receiver = try ByteChannelReceiver(named: name)
        try sender.send([1, 2, 3, 4])
        var small = [UInt8](repeating: 0, count: 2)
        #expect(throws: ChannelError.messageTooLarge(size: 4, maximum: 2)) {
            _ = try small.withUnsafeMutableBytes { try receiver.receive(into: $0, timeout: .zero) }
        }
        var big = [UInt8](repeating: 0, count: 24)
        let n = try big.withUnsafeMutableBytes { try receiver.receive(into: $0, timeout: .zero) }
        #expect(n == 4)
        #expect(Array(big[0..<4]) == [1, 2, 3, 4])
    }
}
