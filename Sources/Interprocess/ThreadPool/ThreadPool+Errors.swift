import SystemPackage

extension ThreadPool {
    /// Why a `ThreadPool` could not start.
    public enum StartError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The system refused to create a worker thread (the process or user thread limit).
        case threadCreationFailed(Errno)

        /// One sentence saying what happened, for logs and error messages.
        public var description: String {
            switch self {
            case .threadCreationFailed(let errno):
                return
                    "the system refused to create a worker thread (\(errno)); the process or user thread limit may be reached"
            }
        }
    }

    /// Why the pool did not accept a task.
    public enum SubmitError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The pool was shut down (`shutdown()` or `shutdownNow()`) and takes no new tasks.
        case shutDown
        /// The bounded queue was full and the pool's policy is `.throw`.
        case queueFull

        /// One sentence saying what happened, for logs and error messages.
        public var description: String {
            switch self {
            case .shutDown: return "the thread pool has been shut down and accepts no new tasks"
            case .queueFull: return "the thread pool's bounded queue is full; the task was not queued"
            }
        }
    }

    /// Why a submitted task never ran. (A task that ran and threw reports its own error, as
    /// itself.)
    public enum TaskError: Error, Sendable, Equatable, CustomStringConvertible {
        /// `cancel()` was called before the task started; it never ran.
        case cancelled
        /// The pool was shut down immediately (`shutdownNow()`) before the task started; it
        /// never ran.
        case discardedByShutdown

        /// One sentence saying what happened, for logs and error messages.
        public var description: String {
            switch self {
            case .cancelled: return "the task was cancelled before it started and never ran"
            case .discardedByShutdown:
                return "the pool was shut down immediately before the task started; it never ran"
            }
        }
    }

    /// Why the work given to `run(_:)` never ran. (Work that ran and threw reports its own
    /// error, as itself.)
    public enum RunError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The pool did not accept the task.
        case rejected(SubmitError)
        /// The calling Swift task was cancelled before the pool started the work; it never ran.
        case cancelled
        /// The pool was shut down immediately before the work started; it never ran.
        case discardedByShutdown

        /// One sentence saying what happened, for logs and error messages.
        public var description: String {
            switch self {
            case .rejected(let reason): return "the thread pool rejected the work: \(reason)"
            case .cancelled: return "the calling task was cancelled before the work started; it never ran"
            case .discardedByShutdown:
                return "the pool was shut down immediately before the work started; it never ran"
            }
        }
    }

    /// Why a pool-wide wait could not be performed.
    public enum WaitError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The caller is one of this pool's own workers: the wait would include the calling
        /// task itself (or the thread's own exit) and could never end.
        case calledFromWorker

        /// One sentence saying what happened, for logs and error messages.
        public var description: String {
            switch self {
            case .calledFromWorker:
                return
                    "a pool-wide wait was called from one of the pool's own workers; it would wait for the calling task itself"
            }
        }
    }
}
