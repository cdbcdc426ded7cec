import CInterprocess
import Synchronization
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

extension Futex {
    /// The most words one ``FutexWaitVector`` waits on (the kernel's `FUTEX_WAITV_MAX`).
    package static let vectorLimit = Int(CIPC_FUTEX_WAITV_MAX)

    /// The outcome of a vectored wait.
    package enum VectorWaitResult: Sendable, Equatable {
        /// Woken (the index of a woken word, when the kernel says which), by a signal, or
        /// spuriously: re-check every word.
        case woken(Int?)
        /// A word no longer held its expected value when the wait began.
        case valueChanged
        /// The deadline passed.
        case timedOut
        /// The kernel has no `futex_waitv` (before Linux 5.16, or a seccomp filter refuses it).
        case unsupported
    }
}

/// The words of one `futex_waitv` call (Linux 5.16 and later): up to ``Futex/vectorLimit``
/// 32-bit shared futex words, each with the value it is expected to hold.
///
/// Every word is waited on in its shared form (`FUTEX2_SIZE_U32`, never `FUTEX2_PRIVATE`): the
/// words live in memory other processes map, and their wakers use the shared `FUTEX_WAKE`,
/// which reaches a vectored sleeper as it reaches a plain one.
///
/// Not thread-safe: one owner fills it and sleeps on it.
package final class FutexWaitVector: @unchecked Sendable {
    private let entries: UnsafeMutablePointer<cipc_futex_waiter>
    /// The number of words appended.
    package private(set) var count = 0

    /// An empty vector.
    package init() {
        entries = .allocate(capacity: Futex.vectorLimit)
    }

    deinit { entries.deallocate() }

    /// Whether another word fits.
    package var isFull: Bool { count == Futex.vectorLimit }

    /// Forgets every word.
    package func removeAll() { count = 0 }

    /// Adds `word`, expected to hold `expected`.
    ///
    /// - Precondition: the vector is not full.
    package func append(_ word: FutexWord, expecting expected: UInt32) {
        precondition(count < Futex.vectorLimit, "a futex_waitv call takes at most \(Futex.vectorLimit) words")
        entries[count] = cipc_futex_waiter(
            value: UInt64(expected), address: UInt64(UInt(bitPattern: word.address)),
            flags: cipc_futex_waitv_shared_u32(), reserved: 0)
        count += 1
    }

    /// Sleeps until a word no longer holds its expected value or is woken, or `deadline` passes.
    ///
    /// `EINTR` and a word whose page is gone (`EFAULT`) are reported as woken, as by
    /// ``Futex/wait(_:expecting:deadline:)``: the caller re-checks every word, and the absolute
    /// `CLOCK_MONOTONIC` deadline keeps the total wait bounded.
    package func wait(deadline: Deadline) -> Futex.VectorWaitResult {
        guard count > 0 else { return .valueChanged }
        let rc = deadline.withTimespecPointer { system_futex_waitv(entries, UInt32(count), $0) }
        if rc >= 0 { return .woken(Int(rc)) }
        switch Errno(rawValue: -rc) {
        case .interrupted, .badAddress: return .woken(nil)
        case .resourceTemporarilyUnavailable: return .valueChanged
        case .timedOut: return .timedOut
        case .noFunction: return .unsupported
        case let error:
            // EINVAL (a misaligned word, bad flags, too many words): our bug.
            preconditionFailureForBug("futex_waitv", error)
        }
    }
}

extension Futex {
    /// Whether the kernel has `futex_waitv` (Linux 5.16 and later, not refused by a seccomp
    /// filter): asked once per process, on first use, and cached.
    package static var hasVectoredWait: Bool { VectoredWaitSupport.shared.isSupported }
}

/// Whether `futex_waitv` exists, found out once by a probe and cached in an atomic word.
///
/// The probe is a call with no words: the kernel answers `EINVAL` where the call exists and
/// `ENOSYS` where it does not, without waiting. Racing first callers may each probe; they get
/// the same answer, and the first stored one is kept.
package final class VectoredWaitSupport: Sendable {
    /// The answer for this process.
    package static let shared = VectoredWaitSupport { system_futex_waitv_probe() != -ENOSYS }

    /// 0: not asked yet; 1: supported; 2: missing.
    private let answer = Atomic<UInt8>(0)
    private let probe: @Sendable () -> Bool
    private let probes = Atomic<Int>(0)

    /// A cache of `probe`'s answer (tests pass their own probe).
    package init(probe: @escaping @Sendable () -> Bool) { self.probe = probe }

    /// The cached answer, probing on first use.
    package var isSupported: Bool {
        // Relaxed: the word is the whole answer; nothing else is published with it.
        switch answer.load(ordering: .relaxed) {
        case 1: return true
        case 2: return false
        default:
            // Relaxed: a statistic for tests.
            probes.add(1, ordering: .relaxed)
            let supported = probe()
            // Relaxed: as above; a racing prober stored the same answer.
            let (_, original) = answer.compareExchange(
                expected: 0, desired: supported ? 1 : 2, ordering: .relaxed)
            return original == 0 ? supported : original == 1
        }
    }

    /// How many times the probe ran (for tests).
    package var probeCount: Int {
        // Relaxed: a statistic.
        probes.load(ordering: .relaxed)
    }
}
