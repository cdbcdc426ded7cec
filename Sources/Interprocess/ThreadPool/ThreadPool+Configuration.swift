extension ThreadPool {
    /// What `execute` and `submit` do when a bounded queue is full.
    public enum FullQueuePolicy: Sendable, Hashable {
        /// Block the submitting thread until a slot frees (or the pool shuts down).
        ///
        /// A worker of the pool that submits to its own full queue runs the task itself
        /// instead, since blocking it could deadlock the pool.
        case block
        /// Throw `SubmitError.queueFull` and leave the task unqueued.
        case `throw`
        /// Run the task on the submitting thread before `execute`/`submit` returns.
        case runOnCaller
    }

    /// How a `ThreadPool` is built.
    public struct Configuration: Sendable, Hashable {
        /// The number of worker threads; at least 1.
        public var threadCount: Int
        /// The prefix of the worker threads' names; each name is the prefix plus the worker's
        /// index, cut to the 15 bytes Linux keeps.
        public var threadNamePrefix: String
        /// The queue's capacity (at least 2), or `nil` for an unbounded queue.
        public var queueCapacity: Int?
        /// What submissions do when a bounded queue is full (ignored when unbounded).
        public var whenFull: FullQueuePolicy

        /// A configuration; by default one worker per CPU this process may use (affinity and
        /// cgroup quota aware), an unbounded queue and threads named `pool-0`, `pool-1`, ….
        ///
        /// - Parameters:
        ///   - threadCount: The number of workers; `nil` uses one per CPU this process may use.
        ///   - threadNamePrefix: The prefix of the workers' thread names.
        ///   - queueCapacity: The bound of the queue, or `nil` for unbounded.
        ///   - whenFull: The policy for a full bounded queue.
        public init(
            threadCount: Int? = nil, threadNamePrefix: String = "pool-",
            queueCapacity: Int? = nil, whenFull: FullQueuePolicy = .block
        ) {
            self.threadCount = threadCount ?? CPU.availableCount
            self.threadNamePrefix = threadNamePrefix
            self.queueCapacity = queueCapacity
            self.whenFull = whenFull
        }
    }
}
