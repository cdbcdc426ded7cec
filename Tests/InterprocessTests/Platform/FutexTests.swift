import Glibc
import Synchronization
import Testing

@testable import Interprocess

@Suite struct FutexTests {
    /// A futex word in memory that outlives the threads using it.
    final class Word: @unchecked Sendable {
        // @unchecked: the word is only touched by futex syscalls and by this test.
        let pointer = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
        init(_ value: UInt32) { pointer.initialize(to: value) }
        deinit { pointer.deallocate() }
    }

    @Test func returnsValueChangedWhenTheWordDiffers() {
        let word = Word(7)
        #expect(Futex.wait(word.pointer, expecting: 8, deadline: .after(.seconds(5))) == .valueChanged)
        #expect(Futex.wait(word.pointer, expecting: 0, deadline: .never) == .valueChanged)
    }

    @Test func timesOutAfterTheDeadline() {
        let word = Word(0)
        let start = Deadline.now
        #expect(Futex.wait(word.pointer, expecting: 0, deadline: .after(.milliseconds(50))) == .timedOut)
        let elapsed = millisecondsSince(start)
        #expect(elapsed >= 50)
        #expect(elapsed < 5_000)
    }

    @Test func pastDeadlineTimesOutAtOnce() {
        let word = Word(0)
        let start = Deadline.now
        #expect(Futex.wait(word.pointer, expecting: 0, deadline: Deadline(uptimeNanoseconds: 1)) == .timedOut)
        #expect(millisecondsSince(start) < 1_000)
    }

    @Test func wakeWithoutWaitersWakesNobody() {
        let word = Word(0)
        #expect(Futex.wake(word.pointer) == 0)
        #expect(Futex.wakeAll(word.pointer) == 0)
    }

    @Test func anotherThreadWakesTheWaiter() {
        let word = Word(0)
        let results = Collector<Futex.WaitResult>()
        let waiter = TestThread {
            results.append(Futex.wait(word.pointer, expecting: 0, deadline: .after(.seconds(20))))
        }
        // Wake until the wake reports it found the sleeping waiter.
        let woke = eventually(timeout: .seconds(10)) { Futex.wake(word.pointer) == 1 }
        waiter.join()
        #expect(woke)
        #expect(results.all == [.woken])
    }

    @Test func wakeAllWakesEveryWaiter() {
        let word = Word(0)
        let results = Collector<Futex.WaitResult>()
        let waiters = (0..<3).map { _ in
            TestThread { results.append(Futex.wait(word.pointer, expecting: 0, deadline: .after(.seconds(20)))) }
        }
        var total = 0
        let allWoken = eventually(timeout: .seconds(10)) {
            total += Futex.wakeAll(word.pointer)
            return total == 3
        }
        for waiter in waiters { waiter.join() }
        #expect(allWoken)
        #expect(results.all == [.woken, .woken, .woken])
    }
}
