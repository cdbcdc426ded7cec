/// Why a ``ProcessSemaphore`` operation failed.
public enum ProcessSemaphoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Signalling would exceed ``ProcessSemaphore/maximumValue``.
    case overflow

    public var description: String { "the semaphore is at its maximum value" }
}
