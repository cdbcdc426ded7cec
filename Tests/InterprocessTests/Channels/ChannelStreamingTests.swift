import Foundation
import Synchronization
import Testing

@testable import Interprocess

/// The SPSC ring's division of labour (slots written only by the sender) and the streaming
/// backoff (a side that drained a backlog stays off the ring before polling again; a
/// request/reply exchange never does).
@Suite struct ChannelStreamingTests {
    private func uniqueName(_ base: String) -> String {
        "\(base)-\(ProcessIdentity.current.pid)-\(UInt32.random(in: 0...UInt32.max))"
    }

    private func slotBytes<E: BitwiseCopyable>(_ ring: ChannelRing<E>) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: ring.slots, count: ring.capacity * ring.slotStride))
    }

    /// Receiving changes no slot: the consumer releases through its index (the sequence it
    /// stores back into the slot is the one it read, see `ChannelRing.spscRelease`). Over three
    /// laps, every receive (single, batch and in place) leaves the slots byte for byte as the
    /// sends left them, and the released position is the consumer index.
    @Test func spscReceiverLeavesEverySlotAsSent() throws {
        let name = uniqueName("stream-slots")
        defer { try? SharedMemory.remove(named: name) }
        var sender = try ChannelSender<UInt64>(
            named: name, capacity: 4, topology: .singleProducerSingleConsumer, mode: .create)
        var receiver = try ChannelReceiver<UInt64>(named: name, mode: .open)
        let buffer = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: 2)
        defer { buffer.deallocate() }
        var next: UInt64 = 0
        for lap in 0..<3 {
            for _ in 0..<4 {
                let sent = try sender.trySend(next)
                #expect(sent)
                next += 1
            }
            let before = slotBytes(sender.ring)
            let first = try receiver.tryReceive()
            let second = try receiver.receive(timeout: .zero) { $0.pointee }
            let rest = try receiver.receive(into: buffer, timeout: .zero)
            #expect(first == next - 4 && second == next - 3 && rest == 2 && buffer[1] == next - 1, "lap \(lap)")
            #expect(slotBytes(sender.ring) == before, "lap \(lap): a receive wrote a slot")
            // Relaxed: single-threaded.
            #expect(sender.ring.control.consumerIndex.pointee.load(ordering: .relaxed) == next)
        }
    }

    /// A receiver that took several messages since it last waited starts its next wait with
    /// the backoff; one that takes one message per wait (request/reply) never does, nor does a
    /// blocking receiver.
    @Test func receiverBacksOffOnlyAfterABacklog() throws {
        let name = uniqueName("stream-receiver")
        defer { try? SharedMemory.remove(named: name) }
        var sender = try ChannelSender<UInt64>(named: name, capacity: 8, mode: .create)
        var receiver = try ChannelReceiver<UInt64>(named: name, mode: .open, waitStrategy: .spin)
        // A debug build takes a message in about a microsecond, not tens of nanoseconds, and a
        // sanitized build on a loaded machine can be preempted between takes: allow 2 ms per
        // message for "a stream's pace" here, and keep "far apart" ten times slower than that.
        receiver.streamingPaceNanoseconds = 2_000_000
        // Request/reply: one message per wait.
        for i in 0..<5 {
            let none = try receiver.receive(timeout: .microseconds(10))
            #expect(none == nil)
            let sent = try sender.trySend(UInt64(i))
            #expect(sent)
            let got = try receiver.receive(timeout: .seconds(1))
            #expect(got == UInt64(i))
        }
        #expect(receiver.streamingBackoffs == 0)
        // A backlog of three, then a wait: that wait backs off, the one after it does not.
        for i in 0..<3 { _ = try sender.trySend(UInt64(i)) }
        for _ in 0..<3 { _ = try receiver.receive(timeout: .zero) }
        let start = ContinuousClock.now
        let none = try receiver.receive(timeout: .microseconds(1))
        #expect(none == nil)
        #expect(ContinuousClock.now - start >= ChannelControl.streamingBackoff / 2)
        #expect(receiver.streamingBackoffs == 1)
        _ = try receiver.receive(timeout: .microseconds(10))
        #expect(receiver.streamingBackoffs == 1)
        // Several messages taken without waiting, but far apart (a client that works between
        // receives, and finds each reply already there): not a stream, no backoff.
        for i in 0..<3 {
            let sent = try sender.trySend(UInt64(i))
            #expect(sent)
            _ = try receiver.receive(timeout: .zero)
            let pause = ContinuousClock.now
            while ContinuousClock.now - pause < .milliseconds(20) {}
        }
        _ = try receiver.receive(timeout: .microseconds(10))
        #expect(receiver.streamingBackoffs == 1)
        // A blocking receiver sleeps at once, backlog or not.
        receiver.waitStrategy = .block
        for i in 0..<3 { _ = try sender.trySend(UInt64(i)) }
        for _ in 0..<3 { _ = try receiver.receive(timeout: .zero) }
        _ = try receiver.receive(timeout: .microseconds(10))
        #expect(receiver.streamingBackoffs == 1)
    }

    /// Replies that came back to back once (a peer a round trip late) look like a run of two;
    /// the backoff after them finds one message. From then on a run needs three takes, so the
    /// next such pair does not back off, until a backoff finds a batch again.
    @Test func aBackoffThatFindsOneMessageLengthensTheRun() throws {
        let name = uniqueName("stream-run")
        defer { try? SharedMemory.remove(named: name) }
        var sender = try ChannelSender<UInt64>(named: name, capacity: 8, mode: .create)
        var receiver = try ChannelReceiver<UInt64>(named: name, mode: .open, waitStrategy: .spin)
        // As in `receiverBacksOffOnlyAfterABacklog`: debug builds are slow.
        receiver.streamingPaceNanoseconds = 2_000_000
        func take(_ count: Int) throws {
            for i in 0..<count {
                let sent = try sender.trySend(UInt64(i))
                #expect(sent)
            }
            for _ in 0..<count {
                let got = try receiver.receive(timeout: .zero)
                #expect(got != nil)
            }
        }
        func waitInVain() throws {
            let none = try receiver.receive(timeout: .microseconds(1))
            #expect(none == nil)
        }
        // Two back to back, then a wait: it backs off (a run of two).
        try take(2)
        try waitInVain()
        #expect(receiver.streamingBackoffs == 1 && receiver.streamingRun.length == 2)
        // The backoff found one message: the run becomes three.
        try take(1)
        try waitInVain()
        #expect(receiver.streamingBackoffs == 1 && receiver.streamingRun.length == 3)
        // Two back to back no longer back off; three do.
        try take(2)
        try waitInVain()
        #expect(receiver.streamingBackoffs == 1)
        try take(3)
        try waitInVain()
        #expect(receiver.streamingBackoffs == 2)
        // That backoff found a batch: a run is two again.
        try take(2)
        try waitInVain()
        #expect(receiver.streamingBackoffs == 3 && receiver.streamingRun.length == 2)
    }

    /// `StreamingRun` alone (the topic subscriber's waits use it as the channel receiver's do).
    @Test func theRunLengthFollowsWhatBackoffsFound() {
        var run = StreamingRun()
        #expect(!run.isRun(taken: 1) && run.isRun(taken: 2))
        run.record(backingOff: true)
        // The backoff found one message.
        #expect(!run.isRun(taken: 1) && run.length == 3)
        run.record(backingOff: false)
        #expect(!run.isRun(taken: 2) && run.isRun(taken: 3))
        run.record(backingOff: true)
        // That one found a batch.
        #expect(run.isRun(taken: 2) && run.length == 2)
    }

    /// The sender's mirror image: after sending several messages since its last wait, a wait
    /// for space starts with the backoff; a sender that waits after every message does not.
    @Test func senderBacksOffOnlyAfterARun() throws {
        let name = uniqueName("stream-sender")
        defer { try? SharedMemory.remove(named: name) }
        var sender = try ChannelSender<UInt64>(named: name, capacity: 1, mode: .create, waitStrategy: .spin)
        var receiver = try ChannelReceiver<UInt64>(named: name, mode: .open)
        // One message per wait: fill the single slot, wait (full), drain.
        for i in 0..<5 {
            let first = try sender.send(UInt64(i), timeout: .zero)
            #expect(first)
            let sent = try sender.send(99, timeout: .microseconds(10))
            #expect(!sent)
            _ = try receiver.tryReceive()
        }
        #expect(sender.streamingBackoffs == 0)
        // Two sends without a wait in between, then a full ring: that wait backs off.
        var capacityTwo = try ChannelSender<UInt64>(
            named: name + "-2", capacity: 2, mode: .create, waitStrategy: .spin)
        defer { try? SharedMemory.remove(named: name + "-2") }
        let one = try capacityTwo.trySend(1)
        let two = try capacityTwo.trySend(2)
        #expect(one && two)
        let sent = try capacityTwo.send(3, timeout: .microseconds(1))
        #expect(!sent)
        #expect(capacityTwo.streamingBackoffs == 1)
    }

    /// The backoff holds a wait off the ring for `streamingBackoff` even when the condition
    /// already holds (the condition is not even evaluated before); without it the wait
    /// returns at the first poll.
    @Test func backoffKeepsTheWaitOffTheRing() {
        let storage = UnsafeMutableRawPointer.allocate(byteCount: ChannelLayout.controlSize, alignment: 128)
        defer { storage.deallocate() }
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: ChannelLayout.controlSize)
        let control = ChannelControl(payload: storage)
        let quick = ChannelControl.wait(on: control.notEmpty, strategy: .spin, deadline: .never) { true }
        #expect(quick == .ready)
        let start = ContinuousClock.now
        var firstPoll: ContinuousClock.Instant?
        let backedOff = ChannelControl.wait(on: control.notEmpty, strategy: .adaptive, deadline: .never, backoff: true)
        {
            if firstPoll == nil { firstPoll = ContinuousClock.now }
            return true
        }
        #expect(backedOff == .ready)
        #expect(firstPoll.map { $0 - start >= ChannelControl.streamingBackoff } == true)
    }

    /// The SPSC producer records its position only every 16 messages, yet inspection, `depth`
    /// and a successor producer all see the exact end: they walk forward over the slots
    /// published since the record.
    @Test func unrecordedMessagesAreCountedAndKept() throws {
        let name = uniqueName("stream-record")
        defer { try? SharedMemory.remove(named: name) }
        var receiver = try ChannelReceiver<UInt64>(
            named: name, capacity: 64, topology: .singleProducerSingleConsumer, mode: .create)
        do {
            var sender = try ChannelSender<UInt64>(named: name, mode: .open)
            for i in 0..<21 { _ = try sender.trySend(UInt64(i)) }
            // Relaxed: single-threaded.
            #expect(sender.ring.control.producerIndex.pointee.load(ordering: .relaxed) == 16, "recorded at 16")
            #expect(sender.depth == 21 && receiver.depth == 21)
            let info = try SharedObjectRegistry.inspect(named: name)
            #expect(info.channel?.depth == 21)
            // Dropped without closing (as a killed producer would leave it): no record at 21.
        }
        var successor = try ChannelSender<UInt64>(named: name, mode: .open)
        #expect(successor.tail == 21)
        for i in 21..<30 { _ = try successor.trySend(UInt64(i)) }
        successor.close()
        // Relaxed: single-threaded.
        #expect(receiver.ring.control.producerIndex.pointee.load(ordering: .relaxed) == 30, "close records the end")
        var received: [UInt64] = []
        while let value = try? receiver.tryReceive() { received.append(value) }
        #expect(received == Array(0..<30))
    }
}
