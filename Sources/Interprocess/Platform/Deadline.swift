import Glibc
import SystemPackage

/// A point in time on the monotonic clock, by which a blocking operation must finish.
///
/// Interprocess measures every timeout on `CLOCK_MONOTONIC`: setting the wall clock, NTP slews
/// and suspends of the system clock never lengthen or shorten a wait. A deadline is absolute, so
/// a wait that is interrupted or woken spuriously resumes against the same end time instead of
/// restarting its timeout.
///
/// `CLOCK_MONOTONIC` is the clock shared by every process on the machine, so a deadline is also
/// meaningful to the futex and pthread calls other processes make.
@usableFromInline
package struct Deadline: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Nanoseconds on `CLOCK_MONOTONIC`; `UInt64.max` stands for "never".
    @usableFromInline package let uptimeNanoseconds: UInt64

    /// A deadline at the given `CLOCK_MONOTONIC` time in nanoseconds.
    @usableFromInline package init(uptimeNanoseconds: UInt64) { self.uptimeNanoseconds = uptimeNanoseconds }

    /// A deadline that never passes.
    @usableFromInline package static let never = Deadline(uptimeNanoseconds: .max)

    /// The current time on the monotonic clock.
    @usableFromInline package static var now: Deadline {
        var ts = Glibc.timespec()
        // CLOCK_MONOTONIC cannot fail with a valid pointer.
        _ = system_clock_gettime(CLOCK_MONOTONIC, &ts)
        return Deadline(uptimeNanoseconds: UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
    }

    /// The deadline `timeout` from now; `nil` means never. Negative timeouts are already past.
    @usableFromInline package init(timeout: Duration?) {
        guard let timeout else {
            self = .never
            return
        }
        self = Deadline.now.advanced(by: timeout)
    }

    /// The deadline `duration` from now.
    @usableFromInline package static func after(_ duration: Duration) -> Deadline { Deadline(timeout: duration) }

    /// The deadline `nanoseconds` from now, without `Duration`'s 128-bit arithmetic: for the
    /// slices of waits that start once per message.
    @usableFromInline package static func after(nanoseconds: UInt64) -> Deadline {
        Deadline.now.advanced(byNanoseconds: nanoseconds)
    }

    /// This deadline moved `nanoseconds` later, saturating at `never`.
    @usableFromInline package func advanced(byNanoseconds nanoseconds: UInt64) -> Deadline {
        let (sum, overflow) = uptimeNanoseconds.addingReportingOverflow(nanoseconds)
        return overflow || sum == .max ? .never : Deadline(uptimeNanoseconds: sum)
    }

    /// This deadline moved by `duration`, saturating at `never` and at zero.
    @usableFromInline package func advanced(by duration: Duration) -> Deadline {
        guard self != .never else { return self }
        let (seconds, attoseconds) = duration.components
        if seconds < 0 || attoseconds < 0 {
            let magnitude = Deadline.nanoseconds(of: .zero - duration)
            return Deadline(uptimeNanoseconds: uptimeNanoseconds > magnitude ? uptimeNanoseconds - magnitude : 0)
        }
        let delta = Deadline.nanoseconds(of: duration)
        let (sum, overflow) = uptimeNanoseconds.addingReportingOverflow(delta)
        return overflow || sum == .max ? .never : Deadline(uptimeNanoseconds: sum)
    }

    /// Whether the deadline has passed.
    @usableFromInline package var hasPassed: Bool { self != .never && Deadline.now >= self }

    /// The time left until the deadline (zero once it has passed; `nil` for `never`).
    @usableFromInline package var remaining: Duration? {
        guard self != .never else { return nil }
        let now = Deadline.now.uptimeNanoseconds
        return now >= uptimeNanoseconds ? .zero : .nanoseconds(Int64(clamping: uptimeNanoseconds - now))
    }

    /// The deadline as the absolute `timespec` the kernel takes, or `nil` for `never`.
    var timespec: Glibc.timespec? {
        guard self != .never else { return nil }
        return Glibc.timespec(
            tv_sec: Int(uptimeNanoseconds / 1_000_000_000),
            tv_nsec: Int(uptimeNanoseconds % 1_000_000_000))
    }

    /// Calls `body` with a pointer to the absolute time, or `nil` for `never`.
    func withTimespecPointer<R>(_ body: (UnsafePointer<Glibc.timespec>?) -> R) -> R {
        guard var ts = timespec else { return body(nil) }
        return withUnsafePointer(to: &ts) { body($0) }
    }

    @usableFromInline package static func < (lhs: Deadline, rhs: Deadline) -> Bool {
        lhs.uptimeNanoseconds < rhs.uptimeNanoseconds
    }

    @usableFromInline package var description: String {
        self == .never ? "never" : "Deadline(in: \(remaining ?? .zero))"
    }

    private static func nanoseconds(of duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        let (ns, overflow) = UInt64(clamping: seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        let (total, overflow2) = ns.addingReportingOverflow(UInt64(clamping: attoseconds / 1_000_000_000))
        return overflow2 ? .max : total
    }
}
