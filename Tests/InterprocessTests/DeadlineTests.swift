import Testing
@testable import Interprocess

@Suite struct DeadlineTests {
    @Test func neverNeverPasses() {
        #expect(!Deadline.never.hasPassed)
        #expect(Deadline.never.remaining == nil)
        #expect(Deadline(timeout: nil) == .never)
    }

    @Test func pastDeadlineHasPassed() {
        #expect(Deadline(timeout: .zero).hasPassed)
        #expect(Deadline(timeout: .milliseconds(-5)).hasPassed)
    }

    @Test func saturatesInsteadOfOverflowing() {
        #expect(Deadline.now.advanced(by: .seconds(Int64.max)) == .never)
    }
}
