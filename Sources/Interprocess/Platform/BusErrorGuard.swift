import CInterprocess
import Glibc
import SystemPackage

/// The process-wide SIGBUS guard: the ranges `FileSystem.map` registers, whose lost pages are
/// replaced with zero pages instead of killing the process.
///
/// A file another process truncates under its mappings (or whose pages it punches out of a
/// full tmpfs) makes the next touch of a lost page a `SIGBUS`, and the default action of
/// `SIGBUS` kills. The handler (C, in CInterprocess: async-signal-safe, a fixed table written
/// with C11 atomics) maps anonymous zero pages from the faulting page to the end of the range,
/// marks the range poisoned, and returns, so the faulting access completes on a zero page and
/// the object can report itself damaged. A `SIGBUS` at any other address goes to the
/// disposition installed before the guard, as if the guard were not there.
///
/// The handler is installed by the first registration and saves the disposition it replaces;
/// a handler installed for `SIGBUS` after that one replaces the guard (and should chain to it).
enum BusErrorGuard {
    /// How many ranges the guard watches at most (mappings beyond it are refused).
    static let capacity = Int(CIPC_SIGBUS_GUARD_CAPACITY)

    /// Why a range could not be registered.
    enum RegistrationError: Error {
        /// The table holds ``capacity`` ranges already.
        case full
        /// The handler could not be installed.
        case system(Errno)
    }

    /// Registers `[start, start + length)`, mapped with `protection`.
    static func register(
        _ start: UnsafeMutableRawPointer, length: Int, protection: Int32
    ) throws(RegistrationError) {
        let rc = cipc_sigbus_guard_register(start, length, protection)
        if rc == -ENOSPC { throw .full }
        if let e = Errno(shimResult: rc) { throw .system(e) }
    }

    /// Unregisters the range starting at `start`; once this returns no handler acts on it and
    /// it may be unmapped.
    static func unregister(_ start: UnsafeMutableRawPointer) {
        // Not registered can only mean unmapping something we did not map: a bug.
        let rc = cipc_sigbus_guard_unregister(start)
        if let e = Errno(shimResult: rc) { preconditionFailureForBug("SIGBUS guard unregistration", e) }
    }

    /// Whether a fault in the range starting at `start` was absorbed (or it was marked
    /// poisoned); `false` for an address that is not registered.
    static func isPoisoned(_ start: UnsafeRawPointer) -> Bool {
        cipc_sigbus_guard_is_poisoned(start) == 1
    }

    /// Marks the range starting at `start` poisoned: its damage was found another way.
    static func markPoisoned(_ start: UnsafeRawPointer) {
        _ = cipc_sigbus_guard_mark_poisoned(start)
    }
}
