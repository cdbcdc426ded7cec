import CInterprocess
import Glibc
import SystemPackage

/// Shared futex operations on 32-bit words that may live in memory other processes map.
///
/// Every operation is the shared (not `FUTEX_PRIVATE_FLAG`) form: a private futex is keyed on
/// the caller's address space and can never wake a waiter in another process.
@usableFromInline
package enum Futex {
    /// The outcome of a futex wait.
    @usableFromInline
    package enum WaitResult: Sendable, Equatable {
        /// Woken by a wake call, by a signal, or spuriously: re-check the word.
        case woken
        /// The word no longer held the expected value when the wait began.
        case valueChanged
        /// The deadline passed.
        case timedOut
    }

    /// Sleeps while the word at `word` equals `expected`, until woken or `deadline` passes.
    ///
    /// `EINTR` is reported as `.woken`: the caller re-checks its condition in any case, and the
    /// absolute deadline keeps the total wait bounded.
    ///
    /// A word whose page is gone — its file was truncated under the mapping, so the kernel
    /// cannot read it (`EFAULT`) — is reported as `.woken` too. The caller's re-check reads the
    /// word in user space, where Interprocess's `SIGBUS` guard replaces the page with a zero
    /// page (see <doc:Robustness>); the next wait then sleeps on that page, so this never
    /// loops hot.
    ///
    /// - Precondition: `word` is 4-byte aligned.
    @usableFromInline
    package static func wait(
        _ word: UnsafeMutablePointer<UInt32>, expecting expected: UInt32, deadline: Deadline
    ) -> WaitResult {
        let rc = deadline.withTimespecPointer { system_futex_wait(word, expected, $0) }
        switch Errno(shimResult: rc) {
        case nil, .interrupted?, .badAddress?: return .woken
        case .resourceTemporarilyUnavailable?: return .valueChanged
        case .timedOut?: return .timedOut
        case let error?:
            // EINVAL (misaligned word, bad timespec): our bug.
            preconditionFailureForBug("futex wait", error)
        }
    }

    /// Wakes at most `count` waiters on `word`; returns how many were woken.
    ///
    /// A word whose page is gone (`EFAULT`, see ``wait(_:expecting:deadline:)``) wakes nobody
    /// and returns 0 rather than stopping the process: waiters still asleep on the lost page
    /// cannot be reached any more, and the channels' waits, which are sliced, find the damage
    /// at their next liveness check.
    @usableFromInline @discardableResult
    package static func wake(_ word: UnsafeMutablePointer<UInt32>, count: Int32 = 1) -> Int {
        let rc = system_futex_wake(word, count)
        if rc == -EFAULT { return 0 }
        if let error = Errno(shimResult: rc) { preconditionFailureForBug("futex wake", error) }
        return Int(rc)
    }

    /// Wakes every waiter on `word`; returns how many were woken.
    @usableFromInline @discardableResult
    package static func wakeAll(_ word: UnsafeMutablePointer<UInt32>) -> Int {
        wake(word, count: Int32.max)
    }
}
