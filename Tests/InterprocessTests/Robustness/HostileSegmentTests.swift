import Testing

@_spi(Layout) @testable import Interprocess

/// Regression tests for inputs the fuzzer (`Fuzz/run.sh`) found: a segment whose shared words
/// another process overwrote must give a typed error, a timeout or a result — never an endless
/// loop or a crash. Each test writes garbage where a hostile peer could, then calls with a
/// short deadline.
@Suite struct HostileSegmentTests {
    private func uniqueName(_ label: String) -> String {
        "hostile-\(label)-\(ProcessIdentity.current.pid)-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// An event state word of 0xFF made `wait(timeout:)` spin forever (neither set nor 0).
    @Test func eventWithGarbageStateTimesOut() throws {
        let event = try ProcessEvent(named: uniqueName("event"), resetMode: .manual, mode: .create)
        defer { try? event.segment.remove() }
        event.segment.bytes.storeBytes(of: UInt32(0xFF), as: UInt32.self)
        let start = Deadline.now
        #expect(event.wait(timeout: .milliseconds(20)) == false)
        #expect(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds < 5_000_000_000)
        // A set still works and releases a waiter.
        event.set()
        #expect(event.wait(timeout: .milliseconds(20)))
    }
}

extension HostileSegmentTests {
    /// An MPMC slot sequence far ahead of the (unchanged) position made the claim loops of
    /// `tryReceive` and `trySend` spin forever.
    @Test func mpmcSlotSequenceAheadDoesNotSpin() throws {
        let name = uniqueName("mpmc")
        var receiver = try ChannelReceiver<Int>(
            named: name, capacity: 4, topology: .multiProducerMultiConsumer, mode: .create)
        defer { try? SharedMemory.remove(named: name) }
        var sender = try ChannelSender<Int>(named: name, mode: .open)
        let slots = ChannelGeometry.typed(Int.self, topology: .multiProducerMultiConsumer, capacity: 4)
        // Slot 0's sequence: far ahead of both positions (0).
        receiver.segment.bytes.storeBytes(of: UInt64(1000), toByteOffset: slots.slotsOffset, as: UInt64.self)
        #expect(try receiver.tryReceive() == nil)
        #expect(try receiver.receive(timeout: .milliseconds(10)) == nil)
        #expect(try sender.trySend(1) == false)
    }
}

extension HostileSegmentTests {
    /// A byte channel whose receiver index (head) is far ahead of the sender's tail made the
    /// sender's free-space computation trap on overflow.
    @Test func byteChannelHeadAheadOfTailIsFullNotACrash() throws {
        let name = uniqueName("bytes")
        let receiver = try ByteChannelReceiver(named: name, bufferSize: 1024, maximumMessageSize: 100, mode: .create)
        defer { try? SharedMemory.remove(named: name) }
        // head (the consumer index) far beyond tail (0), before the sender opens and caches it.
        receiver.ring.segment.bytes.storeBytes(
            of: UInt64(1) << 40, toByteOffset: ChannelLayout.consumerIndex, as: UInt64.self)
        var sender = try ByteChannelSender(named: name, mode: .open)
        #expect(try sender.send([1, 2, 3], timeout: .milliseconds(10)) == false)
        _ = consume receiver
    }
}

extension HostileSegmentTests {
    /// A channel's waiters word at `UInt32.max` made a blocking receive trap on overflow when
    /// it registered as a sleeper.
    @Test func channelWaiterCountAtMaximumDoesNotTrap() throws {
        let name = uniqueName("waiters")
        var receiver = try ByteChannelReceiver(named: name, bufferSize: 1024, maximumMessageSize: 100, mode: .create)
        defer { try? SharedMemory.remove(named: name) }
        receiver.ring.segment.bytes.storeBytes(
            of: UInt32.max, toByteOffset: ChannelLayout.notEmpty + ChannelLayout.wakeWaiters, as: UInt32.self)
        receiver.waitStrategy = .block
        #expect(try receiver.receive(timeout: .milliseconds(10)) == nil)
    }
}

extension HostileSegmentTests {
    /// A header whose total size is smaller than the header itself (checksum recomputed, as a
    /// hostile writer would) made validation trap computing `total - headerSize`.
    @Test func headerTotalSmallerThanHeaderIsCorrupt() throws {
        let name = uniqueName("total")
        let segment = try SharedMemory(named: name, mode: .create, size: 64)
        defer { try? segment.remove() }
        let header = SegmentHeader(base: segment.region.base)
        segment.region.base.storeBytes(of: UInt64(100), toByteOffset: HeaderLayout.totalSize, as: UInt64.self)
        segment.region.base.storeBytes(
            of: header.computeChecksum(), toByteOffset: HeaderLayout.checksum, as: UInt64.self)
        do {
            _ = try SharedMemory(named: name, mode: .open, size: nil, timeout: .zero)
            Issue.record("a header with total size 100 was accepted")
        } catch {
            guard case .invalidHeader(_, .corrupt) = error else {
                Issue.record("\(error), not invalidHeader(.corrupt)")
                return
            }
        }
        let info = try SharedObjectRegistry.inspect(named: name)
        guard case .failure(.invalidHeader(_, .corrupt)) = info.header else {
            Issue.record("inspect: \(info.header)")
            return
        }
    }
}

extension HostileSegmentTests {
    /// A mutex whose kind another process overwrote is refused on attach; one whose lock word
    /// claims an owner that does not exist behaves as held: a lock times out.
    @Test func corruptMutexIsRefusedOrTimesOut() throws {
        let name = uniqueName("mutex")
        let mutex = try ProcessMutex(named: name, mode: .create)
        defer { try? mutex.segment.remove() }
        let storage = mutex.segment.bytes
        // The lock word: a thread id nobody has (no FUTEX_OWNER_DIED bit).
        storage.storeBytes(of: UInt32(0x3FFF_FFF0), as: UInt32.self)
        let reopened = try ProcessMutex(named: name, mode: .open)
        #expect(try reopened.lock(timeout: .milliseconds(20)) == .timedOut)
        // The kind (glibc: after __lock, __count, __owner, __nusers).
        storage.storeBytes(of: Int32(0x7F), toByteOffset: 16, as: Int32.self)
        do {
            _ = try ProcessMutex(named: name, mode: .open)
            Issue.record("a mutex of a foreign kind was accepted")
        } catch {
            guard case .corruptContents = error else {
                Issue.record("\(error), not corruptContents")
                return
            }
        }
    }
}
