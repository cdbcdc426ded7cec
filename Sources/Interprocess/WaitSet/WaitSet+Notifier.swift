import Synchronization

extension WaitSet {
    /// A notification of your own, within this process: any thread calls ``notify()``, and the
    /// wait sets it was added to fire with the number of notifications since their last report.
    ///
    /// It also wakes the waits of conditions added with
    /// ``WaitSet/add(condition:signalledBy:)``: change the condition's state, then notify.
    ///
    /// A notify while no wait set sleeps costs an atomic increment, a barrier and a load (no
    /// system call).
    public final class Notifier: Sendable {
        /// The count of notifications (the futex word) and its sleepers, on a block of its own.
        let wake = WaiterGatedWake.allocate()

        /// A notifier that has not been notified.
        public init() {}

        deinit { wake.deallocate() }

        /// Notifications so far (wrapping at 2^32).
        var value: UInt32 {
            // SYNC POINT: acquiring; pairs with `notify`'s releasing increment, so a wait that
            // sees the notification sees what the notifier wrote before it.
            wake.word.atomic.pointee.load(ordering: .acquiring)
        }

        /// Notifies every wait set this notifier was added to; callable from any thread.
        public func notify() {
            // SYNC POINT: releasing; see `value`. The word is the value the sleepers wait on,
            // changed by the waker itself.
            wake.word.atomic.pointee.wrappingAdd(1, ordering: .releasing)
            wake.wakeAfterChange(count: Int32.max)
        }
    }
}
