import Testing

@testable import Interprocess

@Suite struct DeadlineTests {
    @Test func neverNeverPasses() {
        #expect(!Deadline.never.hasPassed)
        #expect(Deadline.never.remaining == nil)
        #expect(Deadline(timeout: nil) == .never)
        #expect(Deadline.never.description == "never")
        #expect(Deadline.never.timespec == nil)
    }

    @Test func pastDeadlineHasPassed() {
        #expect(Deadline(timeout: .zero).hasPassed)
        #expect(Deadline(timeout: .milliseconds(-5)).hasPassed)
        #expect(Deadline(timeout: .milliseconds(-5)).remaining == .zero)
    }

    @Test func saturatesInsteadOfOverflowing() {
        #expect(Deadline.now.advanced(by: .seconds(Int64.max)) == .never)
        #expect(Deadline(uptimeNanoseconds: .max - 10).advanced(by: .nanoseconds(10)) == .never)
        #expect(Deadline(uptimeNanoseconds: .max - 10).advanced(by: .nanoseconds(20)) == .never)
        #expect(Deadline(timeout: .seconds(Int64.max)) == .never)
    }

    @Test func saturatesAtZeroGoingBackwards() {
        let d = Deadline(uptimeNanoseconds: 100)
        #expect(d.advanced(by: .nanoseconds(-40)).uptimeNanoseconds == 60)
        #expect(d.advanced(by: .nanoseconds(-100)).uptimeNanoseconds == 0)
        #expect(d.advanced(by: .nanoseconds(-1_000)).uptimeNanoseconds == 0)
        #expect(d.advanced(by: .seconds(-Int64.max)).uptimeNanoseconds == 0)
    }

    @Test func neverStaysNeverWhenMoved() {
        #expect(Deadline.never.advanced(by: .seconds(1)) == .never)
        #expect(Deadline.never.advanced(by: .seconds(-1)) == .never)
        #expect(Deadline.never.advanced(by: .zero) == .never)
    }

    @Test func arithmetic() {
        let base = Deadline(uptimeNanoseconds: 1_000_000_000)
        #expect(base.advanced(by: .milliseconds(1500)).uptimeNanoseconds == 2_500_000_000)
        #expect(base.advanced(by: .nanoseconds(1)).uptimeNanoseconds == 1_000_000_001)
        #expect(base.advanced(by: .zero) == base)
        #expect(base.advanced(by: .seconds(2)).advanced(by: .seconds(-2)) == base)
        // Sub-nanosecond parts are dropped, not rounded into overflow.
        #expect(base.advanced(by: .nanoseconds(1) / 2) == base)
    }

    @Test func orderingAndNow() {
        let a = Deadline.now
        let b = Deadline.now
        #expect(a <= b)
        #expect(Deadline(uptimeNanoseconds: 1) < Deadline(uptimeNanoseconds: 2))
        #expect(Deadline(uptimeNanoseconds: 2) < .never)
        #expect(Deadline.after(.seconds(1)) > a)
    }

    @Test func remainingCountsDown() throws {
        let d = Deadline(timeout: .seconds(10))
        let remaining = try #require(d.remaining)
        #expect(remaining > .seconds(9))
        #expect(remaining <= .seconds(10))
        #expect(!d.hasPassed)
    }

    @Test func timespecSplitsSecondsAndNanoseconds() throws {
        let ts = try #require(Deadline(uptimeNanoseconds: 3_000_000_007).timespec)
        #expect(ts.tv_sec == 3)
        #expect(ts.tv_nsec == 7)
    }

    @Test func hasPassedAfterTheTimeout() {
        let d = Deadline(timeout: .milliseconds(20))
        #expect(!d.hasPassed)
        let start = Deadline.now
        while !d.hasPassed {}
        #expect(millisecondsSince(start) >= 15)
        #expect(d.remaining == .zero)
    }
}
