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
        let rc = system_pthread_create(&thread, { argument in
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

/// A slot that holds one raw pointer per thread (a `pthread_key_t`).
///
/// Keys are a scarce process resource (`PTHREAD_KEYS_MAX`, 1024 on Linux): create one per
/// purpose, typically as a `static let`, never one per object.
package struct ThreadLocalSlot: @unchecked Sendable {
    // A pthread key is an index valid in every thread; sharing it across threads is its purpose.
    private let key: pthread_key_t

    /// Creates a slot whose value is `nil` in every thread.
    ///
    /// A failure (`EAGAIN`: the process ran out of keys) traps: slots are created once per
    /// purpose at start-up, and running out means a bug that leaks keys.
    ///
    /// The corresponding C function is `pthread_key_create`.
    package init() {
        var key = pthread_key_t()
        let rc = system_pthread_key_create(&key)
        if rc != 0 { preconditionFailureForBug("pthread_key_create", Errno(rawValue: rc)) }
        self.key = key
    }

    /// The calling thread's value.
    ///
    /// The corresponding C functions are `pthread_getspecific` and `pthread_setspecific`.
    package var currentValue: UnsafeMutableRawPointer? {
        @inline(__always) get { system_pthread_getspecific(key) }
        nonmutating set {
            let rc = system_pthread_setspecific(key, newValue)
            // ENOMEM is the only documented failure; the pool sets each worker's value once.
            if rc != 0 { preconditionFailureForBug("pthread_setspecific", Errno(rawValue: rc)) }
        }
    }
}

extension CurrentThread {
    /// Gives the CPU to another runnable thread, if any, and returns when scheduled again.
    ///
    /// Spin-wait loops call it once pure spinning has gone on for a while, so that on an
    /// oversubscribed machine the thread being waited for gets the core.
    ///
    /// The corresponding C function is `sched_yield`.
    @inline(__always)
    package static func yield() { _ = system_sched_yield() }
}
