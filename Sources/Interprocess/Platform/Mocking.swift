// Syscall mocking, compiled into debug builds only (`ENABLE_MOCKING`), so tests can drive the
// error paths the real kernel will not produce on demand (EACCES for root, ENOSPC, EINTR, …).
//
// The injection is a task-local value: Swift Testing runs tests concurrently in one process, and
// a task-local confines each test's injected failures to the code that test runs.

#if ENABLE_MOCKING
    import SystemPackage

    /// A syscall that tests may make fail (debug builds only).
    package enum MockedSyscall: Hashable, Sendable {
        case open, ftruncate, fallocate, fstat, fchmod, mmap, linkat, unlink, futexWait,
            memfdCreate, madvise, futexWaitv, pidfdOpen
    }

    /// Failures injected into the syscalls of the current task (debug builds only).
    package struct SyscallMocking: Sendable {
        /// For each mocked syscall, the errno values its next calls return, in order; a syscall
        /// whose list is exhausted runs for real again.
        package var failures: [MockedSyscall: [Errno]]

        /// A mocking configuration with the given failures.
        package init(_ failures: [MockedSyscall: [Errno]]) { self.failures = failures }

        @TaskLocal package static var current: Box? = nil

        /// The mutable state shared by the task that installed it and its children.
        package final class Box: @unchecked Sendable {
            // Guarded by `lock`: child tasks of one test may run syscalls on several threads.
            private let lock = _MockLock()
            private var mocking: SyscallMocking
            /// Calls that were answered with an injected failure, in order.
            package private(set) var injected: [MockedSyscall] = []

            package init(_ mocking: SyscallMocking) { self.mocking = mocking }

            func take(_ call: MockedSyscall) -> Errno? {
                lock.withLock {
                    guard var list = mocking.failures[call], !list.isEmpty else { return nil }
                    let e = list.removeFirst()
                    mocking.failures[call] = list
                    injected.append(call)
                    return e
                }
            }
        }

        /// Runs `body` with the failures installed for the current task.
        package static func with<R>(
            _ failures: [MockedSyscall: [Errno]], _ body: () throws -> R
        ) rethrows -> R {
            try $current.withValue(Box(SyscallMocking(failures)), operation: body)
        }
    }

    import Glibc

    /// A minimal lock so the mocking code does not depend on anything it mocks.
    final class _MockLock: @unchecked Sendable {
        private var mutex = pthread_mutex_t()
        init() { pthread_mutex_init(&mutex, nil) }
        deinit { pthread_mutex_destroy(&mutex) }
        func withLock<R>(_ body: () throws -> R) rethrows -> R {
            pthread_mutex_lock(&mutex)
            defer { pthread_mutex_unlock(&mutex) }
            return try body()
        }
    }

    /// The injected failure for `call`, if the current task installed one.
    @inline(__always)
    func mockedFailure(_ call: MockedSyscall) -> Errno? {
        SyscallMocking.current?.take(call)
    }
#endif
