import Foundation
import Synchronization
import Testing

@testable import Interprocess

/// Claiming an endpoint slot while its holder leaves: the slot is either taken or found held,
/// never reported as blocked by a read-only process (`lockInterference`).
///
/// `ObjectLocks.tryWriteLock` tries the write lock, and when that fails asks which lock is in
/// the way; a holder that unlocks between the two leaves no lock to find, which must not read as
/// a read-only process in the way (the fault-injection topic scenario's joiner rejoining while
/// subscribers leave hit it).
@Suite struct TopicSlotClaimRaceTests {
    @Test func aSlotReleasedDuringTheClaimIsNeverLockInterference() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        try TopicSubscriber<UInt64>(
            named: name, configuration: TopicConfiguration(capacity: 2, maximumSubscribers: 1), mode: .create
        ).close()
        let interference = Atomic<Int>(0)
        let deadline = ContinuousClock.now + .seconds(2)
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            while ContinuousClock.now < deadline && interference.load(ordering: .relaxed) == 0 {
                do throws(TopicError) {
                    try TopicSubscriber<UInt64>(named: name, mode: .open).close()
                } catch {
                    // `.endpointLimitReached`: the other thread holds the only slot, as expected.
                    if case .segment(.lockInterference) = error { interference.add(1, ordering: .relaxed) }
                }
            }
        }
        #expect(interference.load(ordering: .relaxed) == 0)
    }
}
