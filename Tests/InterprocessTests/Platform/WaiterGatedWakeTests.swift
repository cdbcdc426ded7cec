import Synchronization
import Testing

@testable import Interprocess

/// The Platform futex word and the waiter-gated wake every blocking wait is built on.
@Suite struct WaiterGatedWakeTests {
    /// A heap gate that outlives the threads using it.
    final class Gate: @unchecked Sendable {
        // @unchecked: the gate is atomics and futex calls only.
        let gate = WaiterGatedWake.allocate(initialValue: 0)
        deinit { gate.deallocate() }
        var sequence: UInt32 { gate.word.atomic.pointee.load(ordering: .relaxed) }
        var waiters: UInt32 { gate.waiters.pointee.load(ordering: .relaxed) }
    }

    @Test func aHeapWordHoldsItsInitialValueAndSleepsOnIt() {
        let word = FutexWord.allocate(initialValue: 41)
        defer { word.deallocate() }
        #expect(word.atomic.pointee.load(ordering: .relaxed) == 41)
        #expect(word.wait(expecting: 40, deadline: .after(.seconds(5))) == .valueChanged)
        #expect(word.wait(expecting: 41, deadline: .after(.milliseconds(20))) == .timedOut)
        #expect(word.wake() == 0)
        #expect(word.wakeAll() == 0)
    }

    @Test func theLayoutIsTheWordThenTheCountOnABlockOfItsOwn() {
        let gate = Gate()
        let base = UnsafeMutableRawPointer(gate.gate.word.address)
        #expect(Int(bitPattern: base) % 128 == 0)
        #expect(UnsafeMutableRawPointer(gate.gate.waiters) == base + 4)
        // The same words, named from their address as shared memory does.
        let named = WaiterGatedWake(at: base)
        named.waiters.pointee.store(7, ordering: .relaxed)
        #expect(gate.waiters == 7)
        named.waiters.pointee.store(0, ordering: .relaxed)
    }

    @Test func aWakeWithoutWaitersChangesNothingAndMakesNoSyscall() {
        let gate = Gate()
        gate.gate.wake(count: 1)
        gate.gate.wakeAfterChange(count: 1)
        #expect(gate.sequence == 0)
        #expect(!gate.gate.hasWaitersAfterPublishing)
    }

    @Test func aWakeWithAnAnnouncedWaiterBumpsTheSequence() {
        let gate = Gate()
        let observed = gate.gate.announce()
        #expect(gate.waiters == 1)
        gate.gate.wake(count: 1)
        #expect(gate.sequence == observed &+ 1)
        // The announced sleeper read the old value: its sleep returns at once.
        #expect(gate.gate.sleep(expecting: observed, deadline: .after(.seconds(5))) == .valueChanged)
        gate.gate.withdraw()
        #expect(gate.waiters == 0)
        // A value word: the waker changed it itself, so the wake does not bump it.
        _ = gate.gate.announce()
        gate.gate.wakeAfterChange(count: 1)
        #expect(gate.sequence == observed &+ 1)
        gate.gate.withdraw()
    }

    @Test func aSleeperThatFindsItsConditionTrueNeverSleeps() {
        let gate = Gate()
        let start = Deadline.now
        #expect(gate.gate.sleep(until: .after(.seconds(20))) { true } == .ready)
        #expect(millisecondsSince(start) < 5_000)
        #expect(gate.waiters == 0)
    }

    @Test func aSleeperTimesOutAndWithdraws() {
        let gate = Gate()
        #expect(gate.gate.sleep(until: .after(.milliseconds(20))) { false } == .timedOut)
        #expect(gate.waiters == 0)
    }

    @Test func aWakerWakesASleepingThread() {
        let gate = Gate()
        let flag = TestCounter()
        let results = Collector<WaiterGatedWake.SleepOutcome>()
        let sleeper = TestThread {
            while true {
                let outcome = gate.gate.sleep(until: .after(.seconds(20))) { flag.count != 0 }
                if outcome != .woken {
                    results.append(outcome)
                    return
                }
            }
        }
        #expect(eventually(timeout: .seconds(10)) { gate.waiters == 1 })
        flag.increment()
        gate.gate.wake(count: 1)
        sleeper.join()
        #expect(results.all == [.ready])
        #expect(gate.waiters == 0)
    }

    /// Another process can leave any value in shared memory: the counts wrap, never trap.
    @Test func countsAtTheirLimitsWrap() {
        let gate = Gate()
        gate.gate.word.atomic.pointee.store(UInt32.max, ordering: .relaxed)
        gate.gate.waiters.pointee.store(UInt32.max, ordering: .relaxed)
        let observed = gate.gate.announce()
        #expect(observed == UInt32.max)
        #expect(gate.waiters == 0)
        gate.gate.withdraw()
        #expect(gate.waiters == UInt32.max)
        gate.gate.wake(count: 1)
        #expect(gate.sequence == 0)
        gate.gate.waiters.pointee.store(0, ordering: .relaxed)
    }
}
