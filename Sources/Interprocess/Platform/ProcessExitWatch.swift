import Glibc
import Synchronization
import SystemPackage

/// Tells when other processes exit, without polling: one thread per process, started on first
/// use, blocks in `poll(2)` on a pidfd (Linux 5.3 and later) of every watched process and runs
/// the subscribers' handlers when one becomes readable (the process exited).
///
/// A pidfd names one process, never a later one that reuses its pid; the pid itself is only
/// trusted once the process it names is shown to be `identity`: after `pidfd_open`, its start
/// time (`/proc/PID/stat`) must be the one recorded. A process that was `identity` at that moment
/// is the one the descriptor refers to, because `identity` started before it was recorded, so
/// before the pidfd was opened; and the start time does not repeat for a pid.
///
/// What cannot be watched (``watch(_:onExit:)`` returns `nil`): a kernel without `pidfd_open`
/// (or a seccomp filter refusing it), a pid this process does not see (another PID namespace,
/// or an exited and reaped process), a start time that differs or cannot be read (a recycled
/// pid, another PID namespace, `/proc` hidden or missing), an identity without a start time.
/// Callers then fall back to checking on their own schedule.
///
/// An exit is a hint, never proof about shared state: the process may have handed its
/// descriptors to another (`fork`, `SCM_RIGHTS`), so callers re-check what they care about (the
/// kernel's locks) when told. A handler runs on the watcher thread: it must be short and must not
/// block (set a flag, wake a futex word).
///
/// Usable by any layer that sleeps and needs to wake when a peer dies: subscribe with the peer's
/// identity and a handler that wakes the word the sleeper waits on.
package final class ProcessExitWatch: @unchecked Sendable {
    // @unchecked Sendable: `state` is guarded by its lock; `control` is written once in `init`.

    /// The one watch of this process.
    package static let shared = ProcessExitWatch()

    /// One subscription to one process's exit; cancelled by ``cancel()`` or when released.
    package final class Subscription: Sendable {
        let watch: ProcessExitWatch
        let process: ProcessIdentity
        let id: Int
        let flag: ExitFlag

        init(watch: ProcessExitWatch, process: ProcessIdentity, id: Int, flag: ExitFlag) {
            self.watch = watch
            self.process = process
            self.id = id
            self.flag = flag
        }

        /// Whether the process exited (the handler has run or is about to).
        package var hasExited: Bool {
            // Relaxed: the handler's own wake-up orders what the caller needs; this is a state.
            flag.value.load(ordering: .relaxed)
        }

        /// Stops the handler from being called (a handler already running may finish).
        package func cancel() { watch.unsubscribe(process, id) }

        deinit { cancel() }
    }

    /// Set by the watcher thread when the process exited, before the handler runs.
    final class ExitFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    private struct Handler {
        let flag: ExitFlag
        let run: @Sendable () -> Void
    }

    private struct Watched {
        let fd: Int32
        var handlers: [Int: Handler]
    }

    private struct State {
        var byProcess: [ProcessIdentity: Watched] = [:]
        /// Descriptors of processes nobody watches any more: only the watcher thread closes
        /// pidfds, between two polls, so that a descriptor number it polls is never reused for
        /// another process while the poll still reports on it.
        var retired: [Int32] = []
        var nextID = 0
        var threadStarted = false
    }

    private let state = PlatformLock(State())
    /// The eventfd that ends the watcher's poll when the set of processes changes; -1 if none
    /// could be created (then nothing is watched).
    private let control: Int32
    /// Handlers run so far (for tests).
    private let notifications = Atomic<Int>(0)

    init() {
        control = system_eventfd()
    }

    /// Subscribes `handler` to the exit of `process`; `nil` if the process cannot be watched
    /// (see the type's documentation). The handler runs at most once, on the watcher thread.
    ///
    /// Costs a dictionary look-up for a process watched already; else `pidfd_open`, a read of
    /// `/proc/PID/stat` and a write to wake the watcher. Nothing is cached about a failure (a
    /// kernel without pidfds answers each call at the cost of one system call).
    package func watch(_ process: ProcessIdentity, onExit handler: @escaping @Sendable () -> Void) -> Subscription? {
        guard control >= 0, process.pid > 0, process.startTime != 0, startThreadOnce() else { return nil }
        let flag = ExitFlag()
        let existing: Int? = state.withLock { state in
            guard var watched = state.byProcess[process] else { return nil }
            let id = state.nextID
            state.nextID += 1
            watched.handlers[id] = Handler(flag: flag, run: handler)
            state.byProcess[process] = watched
            return id
        }
        if let existing { return Subscription(watch: self, process: process, id: existing, flag: flag) }
        guard let fd = open(process) else { return nil }
        let (id, spare): (Int, Int32?) = state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            // Another thread may have opened one meanwhile: keep the first.
            var watched = state.byProcess[process] ?? Watched(fd: fd, handlers: [:])
            watched.handlers[id] = Handler(flag: flag, run: handler)
            state.byProcess[process] = watched
            return (id, watched.fd == fd ? nil : fd)
        }
        if let spare { _ = system_close(spare) } else { poke() }
        return Subscription(watch: self, process: process, id: id, flag: flag)
    }

    /// A pidfd of `process`, checked to be that process; `nil` if it cannot be had.
    private func open(_ process: ProcessIdentity) -> Int32? {
        let fd = system_pidfd_open(process.pid)
        // ENOSYS (before Linux 5.3), EPERM (seccomp), ESRCH (not visible here), EMFILE: unwatched.
        guard fd >= 0 else { return nil }
        // After the open: see the type's documentation for why this order pins the process.
        guard let status = try? ProcessIdentity.stat(of: process.pid), status.startTime == process.startTime else {
            _ = system_close(fd)
            return nil
        }
        return fd
    }

    private func unsubscribe(_ process: ProcessIdentity, _ id: Int) {
        let changed: Bool = state.withLock { state in
            guard var watched = state.byProcess[process], watched.handlers.removeValue(forKey: id) != nil else {
                return false
            }
            if watched.handlers.isEmpty {
                state.byProcess[process] = nil
                state.retired.append(watched.fd)
                return true
            }
            state.byProcess[process] = watched
            return false
        }
        if changed { poke() }
    }

    /// Ends the watcher's current poll, so that it polls the new set.
    private func poke() {
        var one: UInt64 = 1
        // EAGAIN (the counter is full) still leaves the descriptor readable: nothing is lost.
        _ = withUnsafeBytes(of: &one) { system_write(control, $0.baseAddress!, 8) }
    }

    /// Starts the watcher thread unless it runs; `false` if it could not be started (no
    /// watching then; a later call tries again).
    private func startThreadOnce() -> Bool {
        let start: Bool = state.withLock { state in
            defer { state.threadStarted = true }
            return !state.threadStarted
        }
        guard start else { return true }
        do {
            try PlatformThread.spawnDetached(name: "ipc-exitwatch") { [self] in run() }
            return true
        } catch {
            state.withLock { $0.threadStarted = false }
            return false
        }
    }

    /// The watcher thread: polls forever (a process-wide thread, asleep while nothing exits).
    private func run() {
        var fds: [pollfd] = []
        var watchedFDs: [Int32] = []
        while true {
            let retired: [Int32] = state.withLock { state in
                watchedFDs = state.byProcess.values.map(\.fd)
                defer { state.retired.removeAll() }
                return state.retired
            }
            for fd in retired { _ = system_close(fd) }
            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: control, events: Int16(POLLIN), revents: 0))
            for fd in watchedFDs { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            let count = fds.count
            let rc = fds.withUnsafeMutableBufferPointer { system_poll($0.baseAddress!, count, -1) }
            if rc < 0 { continue }  // EINTR (or ENOMEM): poll again
            if fds[0].revents != 0 {
                var value: UInt64 = 0
                _ = withUnsafeMutableBytes(of: &value) { system_read(control, $0.baseAddress!, 8) }
            }
            var exited: [Handler] = []
            for entry in fds.dropFirst() where entry.revents != 0 {
                state.withLock { state in
                    guard let (process, watched) = state.byProcess.first(where: { $0.value.fd == entry.fd }) else {
                        return
                    }
                    state.byProcess[process] = nil
                    state.retired.append(watched.fd)
                    exited.append(contentsOf: watched.handlers.values)
                }
            }
            for handler in exited {
                // Relaxed: the state of a subscription (see `hasExited`).
                handler.flag.value.store(true, ordering: .relaxed)
                // Relaxed: a statistic for tests.
                notifications.add(1, ordering: .relaxed)
                handler.run()
            }
        }
    }

    /// The processes watched now (for tests).
    package var watchedCount: Int { state.withLock { $0.byProcess.count } }

    /// Exit handlers run so far (for tests).
    package var handlersRun: Int {
        // Relaxed: a statistic.
        notifications.load(ordering: .relaxed)
    }
}
