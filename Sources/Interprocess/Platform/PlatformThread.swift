import Glibc
import SystemPackage

/// Starting operating-system threads and keeping a per-thread pointer.
///
/// The thread pool needs threads it names and controls, and a cheap way for a thread to find out
/// which pool (if any) it works for; Foundation's `Thread` and Swift concurrency offer neither
/// without pulling in more than Platform allows.
package enum PlatformThread {
    /// Starts a detached thread named `name` that runs `body` once and exits.
    ///
    /// The thread is detached: the kernel reclaims it when `body` returns, so callers that need
    /// to know when it ended signal that themselves from inside `body`.
    ///
    /// - Parameters:
    ///   - name: The thread's name; the kernel keeps at most 15 bytes of it.
    ///   - body: The work the thread does.
    /// - Throws: `Errno` from `pthread_create`, typically `.resourceTemporarilyUnavailable` when
    ///   the process or user thread limit is reached.
    ///
    /// The corresponding C function is `pthread_create`.
    package static func spawnDetached(
        name: String, _ body: @escaping @Sendable () -> Void
    ) throws(Errno) {
        let context = Unmanaged.passRetained(ThreadStart(name: name, body: body)).toOpaque()
        var thread = pthread_t()
        let rc = system_pthread_create(
            &thread,
            { argument in
                let start = Unmanaged<ThreadStart>.fromOpaque(argument!).takeRetainedValue()
                CurrentThread.name = start.name
                start.body()
                return nil
            }, context)
        guard rc == 0 else {
            Unmanaged<ThreadStart>.fromOpaque(context).release()
            throw Errno(rawValue: rc)
        }
        let detached = system_pthread_detach(thread)
        // ESRCH/EINVAL for a thread we just created and never joined can only be our bug.
        if detached != 0 { preconditionFailureForBug("pthread_detach", Errno(rawValue: detached)) }
    }

    private final class ThreadStart {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
}
