import CInterprocess
import Glibc

/// Names and ids of threads.
package enum CurrentThread {
    /// The kernel thread id of the calling thread.
    package static var id: Int32 { cipc_gettid() }

    /// The calling thread's name (at most 15 bytes, as the kernel keeps it).
    ///
    /// The corresponding C functions are `pthread_setname_np` and `pthread_getname_np`.
    package static var name: String {
        get {
            var buffer = [CChar](repeating: 0, count: 32)
            _ = cipc_get_current_thread_name(&buffer, Int32(buffer.count))
            return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        }
        set { _ = cipc_set_current_thread_name(newValue) }
    }

    /// Gives the CPU to another runnable thread, if any, and returns when scheduled again.
    ///
    /// Spin-wait loops call it once pure spinning has gone on for a while, so that on an
    /// oversubscribed machine the thread being waited for gets the core.
    ///
    /// The corresponding C function is `sched_yield`.
    @inline(__always)
    package static func yield() { _ = system_sched_yield() }
}
