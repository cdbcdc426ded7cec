import Glibc
import SystemPackage

// The single place where EINTR is handled: every blocking wrapper in Platform goes through
// `retryingOnInterrupt`, so a signal delivered to the process never surfaces as a spurious
// error from Interprocess.

/// Runs `call` (a syscall returning `-1` and setting `errno` on failure) until it does not fail
/// with `EINTR`, and returns its result or the errno it failed with.
@inline(__always)
func retryingOnInterrupt<I: FixedWidthInteger>(_ call: () -> I) -> Result<I, Errno> {
    while true {
        let result = call()
        if result != -1 { return .success(result) }
        let error = Errno(rawValue: errno)
        if error != .interrupted { return .failure(error) }
    }
}

/// Runs `call` once (for calls where retrying would be wrong, such as `close`).
@inline(__always)
func once<I: FixedWidthInteger>(_ call: () -> I) -> Result<I, Errno> {
    let result = call()
    return result == -1 ? .failure(Errno(rawValue: errno)) : .success(result)
}

extension Errno {
    /// The errno encoded in a shim return value (`-errno`), or `nil` for a non-negative value.
    @inline(__always)
    init?(shimResult: Int32) {
        guard shimResult < 0 else { return nil }
        self.init(rawValue: -shimResult)
    }
}

/// Stops the process with a message for an errno value that can only mean a bug in
/// Interprocess (for example `EINVAL` from a futex call on a word we aligned ourselves).
func preconditionFailureForBug(_ what: String, _ error: Errno) -> Never {
    preconditionFailure("Interprocess internal error: \(what) failed with \(error) (\(error.rawValue))")
}
