import Synchronization
import Testing

@testable import Interprocess

/// The channel wait (`ChannelControl.wait`) keeps its caller's deadline whatever the futex word
/// does.
@Suite struct ChannelWaitDeadlineTests {
    /// Control words in private memory: the wait protocol needs nothing else.
    final class Words: @unchecked Sendable {
        let base: UnsafeMutableRawPointer
        init() {
            base = UnsafeMutableRawPointer.allocate(byteCount: ChannelLayout.controlSize, alignment: 128)
            base.initializeMemory(as: UInt8.self, repeating: 0, count: ChannelLayout.controlSize)
        }
        deinit { base.deallocate() }
        var control: ChannelControl { ChannelControl(payload: base) }
    }

    /// A word that changes before every sleep (as when wakers keep publishing for other
    /// sleepers) makes each futex wait return at once; the wait must still end at its deadline.
    /// It used to loop until the condition held, however long after the deadline (the safety
    /// valve below ends that loop after 3 s).
    @Test(arguments: [WaitStrategy.block, .adaptive, .spin])
    func aWordThatKeepsChangingDoesNotOutliveTheDeadline(strategy: WaitStrategy) {
        let words = Words()
        let control = words.control
        let start = Deadline.now
        let valve = Deadline.after(.seconds(3))
        let outcome = ChannelControl.wait(
            on: control.notEmpty, strategy: strategy, deadline: .after(.milliseconds(100))
        ) {
            // Relaxed: a single-threaded test of the loop, nothing to order.
            control.notEmpty.word.atomic.pointee.wrappingAdd(1, ordering: .relaxed)
            return valve.hasPassed
        }
        let elapsed = millisecondsSince(start)
        #expect(outcome == .timedOut || outcome == .checkLiveness)
        #expect(elapsed < 1_000)
    }

    /// A wait that starts after its deadline (the caller tried and failed just now) reports
    /// `.timedOut` without polling or sleeping.
    @Test func aWaitAfterTheDeadlineTimesOutAtOnce() {
        let words = Words()
        let control = words.control
        var checks = 0
        let outcome = ChannelControl.wait(
            on: control.notFull, strategy: .adaptive, deadline: Deadline(uptimeNanoseconds: 1)
        ) {
            checks += 1
            return false
        }
        #expect(outcome == .timedOut)
        #expect(checks == 0)
    }
}
