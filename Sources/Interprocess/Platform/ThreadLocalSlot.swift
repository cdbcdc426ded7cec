import Glibc
import SystemPackage

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
