import Foundation
import Synchronization
import Testing

@testable import Interprocess

/// Exhaustive ring tests: every capacity × start offset × count, and the same again with the
/// shared indices placed just below the 2^32 and 2^64 boundaries so that every index wraps.
///
/// The start offset is reached by real traffic (sending and receiving that many messages); the
/// base is crafted through `@testable` by writing the shared indices (and, for MPMC, the slot
/// sequences they imply) while the ring is empty, exactly as that much traffic would have left
/// them.
@Suite struct ChannelRingExhaustiveTests {
    private func uniqueName(_ base: String) -> String {
        "\(base)-\(ProcessIdentity.current.pid)-\(UInt32.random(in: 0...UInt32.max))"
    }

    static let topologies: [ChannelTopology] = [.singleProducerSingleConsumer, .multiProducerMultiConsumer]
    /// The capacities to enumerate (MPMC rejects 1: see `mpmcCapacityOneIsRejected`).
    static func capacities(_ topology: ChannelTopology) -> [Int] {
        topology == .singleProducerSingleConsumer ? [1, 2, 4, 8, 16] : [2, 4, 8, 16]
    }
    /// Bases for the indices: a fresh ring, just below 2^32 (a 32-bit truncation anywhere would
    /// break there) and just below 2^64 (the indices themselves wrap).
    static let bases: [UInt64] = [0, (1 << 32) - 5, UInt64.max - 4]

    private func checkRing(topology: ChannelTopology, capacity: Int, base: UInt64) throws {
        for start in 0..<(2 * capacity) {
            for count in 0...(capacity + 1) {
                let name = uniqueName("exh")
                defer { try? SharedMemory.remove(named: name) }
                let label = "\(topology) capacity \(capacity) base \(base) start \(start) count \(count)"
                var sender = try ChannelSender<UInt64>(
                    named: name, capacity: capacity, topology: topology, mode: .create)
                var receiver = try ChannelReceiver<UInt64>(named: name, mode: .open)
                reposition(&sender, &receiver, to: base)
                // Reach the start offset by traffic, one message at a time.
                for i in 0..<start {
                    let sent = try sender.trySend(UInt64(i))
                    let got = try receiver.tryReceive()
                    guard sent, got == UInt64(i) else {
                        Issue.record("\(label): advancing, message \(i) sent \(sent) got \(String(describing: got))")
                        return
                    }
                }
                // `count` sends: the first `capacity` succeed, the rest fail.
                var accepted = 0
                for i in 0..<count {
                    let value = 1000 + UInt64(i)
                    let sent = try sender.trySend(value)
                    #expect(sent == (i < capacity), "\(label): send \(i)")
                    if sent { accepted += 1 }
                }
                #expect(accepted == min(count, capacity), "\(label)")
                #expect(sender.depth == accepted && receiver.depth == accepted, "\(label): depth \(sender.depth)")
                // Fill up: exactly `capacity` messages fit in all.
                var filled = accepted
                while try sender.trySend(1000 + UInt64(filled)) {
                    filled += 1
                    if filled > capacity { break }
                }
                #expect(filled == capacity, "\(label): filled \(filled)")
                #expect(sender.depth == capacity, "\(label): full depth \(sender.depth)")
                let further = try sender.trySend(9999)
                #expect(!further, "\(label): a send to a full ring succeeded")
                // Everything comes back, in order, then nothing.
                for i in 0..<capacity {
                    let got = try receiver.tryReceive()
                    #expect(got == 1000 + UInt64(i), "\(label): received \(String(describing: got)) at \(i)")
                }
                let none = try receiver.tryReceive()
                #expect(none == nil, "\(label): an extra message \(String(describing: none))")
                #expect(receiver.depth == 0, "\(label): empty depth \(receiver.depth)")
                let expectedIndex = base &+ UInt64(start + capacity)
                // Relaxed: single-threaded.
                // The SPSC producer records its position only every few messages: the end is the
                // record plus the slots published since.
                let end =
                    topology == .singleProducerSingleConsumer
                    ? sender.ring.spscPublishedEnd()
                    : sender.ring.control.producerIndex.pointee.load(ordering: .relaxed)
                #expect(end == expectedIndex, "\(label)")
                #expect(sender.ring.control.consumerIndex.pointee.load(ordering: .relaxed) == expectedIndex, "\(label)")
                // The ring is reusable after wrapping: one more round trip.
                let again = try sender.trySend(42)
                let back = try receiver.tryReceive()
                #expect(again && back == 42, "\(label): round trip after draining")
            }
        }
    }

    @Test(arguments: topologies, bases)
    func everyCapacityOffsetAndCount(topology: ChannelTopology, base: UInt64) throws {
        for capacity in Self.capacities(topology) {
            try checkRing(topology: topology, capacity: capacity, base: base)
        }
    }

    /// An MPMC ring of one slot cannot tell a published slot (sequence p + 1) from a free one
    /// of the next lap (p + capacity): it is refused at creation.
    @Test func mpmcCapacityOneIsRejected() throws {
        let name = uniqueName("exh-one")
        defer { try? SharedMemory.remove(named: name) }
        #expect(throws: ChannelError.self) {
            try ChannelSender<UInt64>(named: name, capacity: 1, topology: .multiProducerMultiConsumer).close()
        }
        let spsc = try ChannelSender<UInt64>(named: name, capacity: 1, topology: .singleProducerSingleConsumer)
        spsc.close()
    }

    /// The batch operations across the wrap: `send(contentsOf:)` stops at exactly the free
    /// space and `receive(into:)` returns every message in order.
    @Test(arguments: topologies, bases)
    func batchesAcrossTheWrap(topology: ChannelTopology, base: UInt64) throws {
        for capacity in Self.capacities(topology) {
            for start in 0..<(2 * capacity) {
                let name = uniqueName("exh-batch")
                defer { try? SharedMemory.remove(named: name) }
                var sender = try ChannelSender<UInt64>(
                    named: name, capacity: capacity, topology: topology, mode: .create)
                var receiver = try ChannelReceiver<UInt64>(named: name, mode: .open)
                reposition(&sender, &receiver, to: base &+ UInt64(start))
                let sent = try sender.send(contentsOf: (0..<UInt64(capacity + 3)), timeout: .zero)
                #expect(sent == capacity, "\(topology) \(capacity) \(start)")
                var buffer = [UInt64](repeating: .max, count: capacity + 3)
                let n = try buffer.withUnsafeMutableBufferPointer { try receiver.receive(into: $0, timeout: .zero) }
                #expect(
                    n == capacity && Array(buffer[0..<n]) == Array(0..<UInt64(capacity)),
                    "\(topology) \(capacity) \(start)")
            }
        }
    }

    // MARK: - Byte channel

    /// The frames the byte ring holds from an empty ring at `offset`, all of `length` bytes:
    /// the documented algorithm (frames never wrap; a wrap marker skips to offset 0).
    private func framesThatFit(ringSize: Int, offset: Int, length: Int) -> Int {
        let frame = ByteRing.frameSize(length)
        var used = 0
        var at = offset
        var count = 0
        while true {
            let skip = ringSize - at < frame ? ringSize - at : 0
            if ringSize - used < skip + frame { return count }
            used += skip + frame
            at = (at + skip + frame) % ringSize
            count += 1
        }
    }

    /// Every frame size 0...maximum from every (8-byte aligned) offset of rings of 64, 128 and
    /// 256 bytes, so a wrap marker lands at every offset: a single message comes back intact,
    /// and filling the ring takes exactly the frames the algorithm predicts, in order.
    ///
    /// The byte indices always sit on a frame boundary (a multiple of 8), so the crafted bases
    /// are one ring below 2^32 and 2^64: the fill from every offset but 0 crosses the boundary.
    @Test(arguments: [(64, 24), (128, 56), (256, 120), (256, 24)], ["fresh", "2^32", "2^64"])
    func byteRingEveryFrameSizeAtEveryOffset(geometry: (ringSize: Int, maximum: Int), boundary: String) throws {
        let base: UInt64 =
            switch boundary {
            case "2^32": (1 << 32) - UInt64(geometry.ringSize)
            case "2^64": 0 &- UInt64(geometry.ringSize)
            default: 0
            }
        let name = uniqueName("exh-bytes")
        defer { try? SharedMemory.remove(named: name) }
        var sender = try ByteChannelSender(
            named: name, bufferSize: geometry.ringSize, maximumMessageSize: geometry.maximum, mode: .create,
            waitStrategy: .spin)
        var receiver = try ByteChannelReceiver(named: name, mode: .open)
        #expect(sender.bufferSize == geometry.ringSize)
        for offset in stride(from: 0, to: geometry.ringSize, by: 8) {
            for length in 0...geometry.maximum {
                let label = "ring \(geometry.ringSize) base \(base) offset \(offset) length \(length)"
                reposition(&sender, &receiver, to: base &+ UInt64(offset))
                let expected = framesThatFit(ringSize: geometry.ringSize, offset: offset, length: length)
                var sent = 0
                while sent <= expected {
                    let message = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ sent &+ offset) }
                    guard try sender.send(message, timeout: .zero) else { break }
                    sent += 1
                }
                #expect(sent == expected, "\(label): \(sent) frames fit, expected \(expected)")
                for i in 0..<sent {
                    let got = try receiver.receive(timeout: .zero)
                    let message = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i &+ offset) }
                    if got != message {
                        Issue.record("\(label): frame \(i) came back as \(String(describing: got))")
                        return
                    }
                }
                let none = try receiver.receive(timeout: .zero)
                #expect(none == nil, "\(label)")
                // Relaxed: single-threaded.
                #expect(
                    receiver.head == sender.ring.control.producerIndex.pointee.load(ordering: .relaxed),
                    "\(label): head and tail disagree after draining")
            }
        }
    }
}
