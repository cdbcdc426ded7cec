import Glibc
import Synchronization
import Testing

@testable import Interprocess

@Suite struct FutexWaitVectorTests {
    @Test func wakesForTheWordThatIsWokenAndSaysWhich() {
        let words = (0..<3).map { _ in FutexWord.allocate(initialValue: 7) }
        defer { for word in words { word.deallocate() } }
        let vector = FutexWaitVector()
        for word in words { vector.append(word, expecting: 7) }
        let waker = TestThread {
            usleep(20_000)
            words[2].atomic.pointee.store(8, ordering: .releasing)
            words[2].wake(count: 1)
        }
        let result = vector.wait(deadline: .after(.seconds(5)))
        waker.join()
        #expect(result == .woken(2) || result == .valueChanged)
    }

    @Test func reportsAChangedWordAndTheDeadline() {
        let word = FutexWord.allocate(initialValue: 1)
        defer { word.deallocate() }
        let vector = FutexWaitVector()
        vector.append(word, expecting: 2)
        #expect(vector.wait(deadline: .after(.seconds(5))) == .valueChanged)
        vector.removeAll()
        vector.append(word, expecting: 1)
        let start = Deadline.now
        #expect(vector.wait(deadline: .after(.milliseconds(20))) == .timedOut)
        #expect(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds >= 19_000_000)
    }

    @Test func takesAtMostTheKernelsLimit() {
        let word = FutexWord.allocate(initialValue: 0)
        defer { word.deallocate() }
        let vector = FutexWaitVector()
        for _ in 0..<Futex.vectorLimit { vector.append(word, expecting: 0) }
        #expect(vector.isFull)
        #expect(vector.count == 128)
    }

    #if ENABLE_MOCKING
        @Test func reportsAMissingSyscall() {
            let word = FutexWord.allocate(initialValue: 0)
            defer { word.deallocate() }
            let vector = FutexWaitVector()
            vector.append(word, expecting: 0)
            let result = SyscallMocking.with([.futexWaitv: [.noFunction]]) {
                vector.wait(deadline: .after(.seconds(5)))
            }
            #expect(result == .unsupported)
        }
    #endif
}
