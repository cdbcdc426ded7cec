import Interprocess
import SystemPackage
import Testing

/// Every error of the library describes itself in one style: one lowercase sentence (or one that
/// starts with the object's quoted name) without a final period, so that it reads well after
/// "error: " and inside another message. `SharedMemoryError` is covered case by case in
/// `SharedMemoryTests.errorsDescribeThemselves`.
@Suite struct ErrorMessageStyleTests {
    static let descriptions: [String] = {
        let channel: [ChannelError] = [
            .closed, .senderDied, .receiverDied, .receiversClosed, .roleTaken(.sender),
            .messageTooLarge(size: 9, maximum: 8), .corrupt("d"),
            .topologyMismatch(expected: .singleProducerSingleConsumer, found: .multiProducerMultiConsumer),
            .cancelled, .segment(.notFound(name: "n"))
        ]
        let mutex: [ProcessMutexError] = [
            .notRecoverable, .previousOwnerDied, .notOwner, .alreadyOwned, .timedOut, .reacquireTimedOut,
            .unexpected(.ioError, operation: "op")
        ]
        let pool: [any Error & CustomStringConvertible] = [
            ThreadPool.StartError.threadCreationFailed(.resourceTemporarilyUnavailable),
            ThreadPool.SubmitError.shutDown, ThreadPool.SubmitError.queueFull,
            ThreadPool.TaskError.cancelled, ThreadPool.TaskError.discardedByShutdown,
            ThreadPool.RunError.rejected(.queueFull), ThreadPool.RunError.cancelled,
            ThreadPool.RunError.discardedByShutdown, ThreadPool.WaitError.calledFromWorker
        ]
        return channel.map(\.description) + mutex.map(\.description) + pool.map(\.description)
            + [ProcessSemaphoreError.overflow.description]
            + ([
                .writerActive, .keyNotFound("k"),
                .typeMismatch(key: "k", expected: ElementType(Int.self), found: ElementType(Double.self)),
                .invalidKeyName("k k", reason: "r"), .unsupportedValueType(ElementType(Int.self), reason: "r"),
                .keyCapacityReached(maximum: 2), .valueSpaceExhausted(needed: 2, available: 1), .foreignKey("k"),
                .valueUnstable(key: "k", attempts: 3), .invalidConfiguration("r"), .corrupt("d"), .cancelled,
                .segment(.notFound(name: "n"))
            ] as [BlackboardError]).map(\.description)
    }()

    @Test(arguments: descriptions) func describesItselfInTheLibrarysStyle(_ description: String) {
        #expect(!description.isEmpty)
        #expect(description.first == "'" || description.first!.isLowercase, "\(description)")
        #expect(!description.hasSuffix("."), "\(description)")
    }
}
