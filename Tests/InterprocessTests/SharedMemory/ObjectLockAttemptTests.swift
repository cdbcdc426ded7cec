import Foundation
import Synchronization
import Testing

@testable import Interprocess

/// What `ObjectLocks.tryWriteLock` reports for each kind of holder, through two open file
/// descriptions of one file (OFD locks conflict between descriptions, as between processes).
@Suite struct ObjectLockAttemptTests {
    /// Two descriptions of a new file, removed when the value is.
    final class TwoDescriptions {
        let path = "/tmp/interprocess-lock-attempt-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let first: Int32
        let second: Int32
        init() {
            first = open(path, O_RDWR | O_CREAT | O_EXCL, 0o600)
            second = open(path, O_RDWR)
        }
        deinit {
            close(first)
            close(second)
            unlink(path)
        }
    }

    @Test func aWriterIsAHolderAndAReaderIsInterference() throws {
        let files = TwoDescriptions()
        try #require(files.first >= 0 && files.second >= 0)
        #expect(try ObjectLocks.tryWriteLock(files.first, byte: 7) == .taken)
        #expect(try ObjectLocks.tryWriteLock(files.second, byte: 7) == .heldByWriter)
        ObjectLocks.unlock(files.first, byte: 7)
        #expect(try FileSystem.tryLock(files.first, start: 9, length: 1, exclusive: false))
        #expect(try ObjectLocks.tryWriteLock(files.second, byte: 9) == .blockedByReader)
    }

    @Test func aWriterThatComesAndGoesIsNeverAReader() throws {
        let files = TwoDescriptions()
        try #require(files.first >= 0 && files.second >= 0)
        let stop = Atomic<Bool>(false)
        let first = files.first
        let finished = DispatchSemaphore(value: 0)
        let churn = Thread {
            // Relaxed: test choreography.
            while !stop.load(ordering: .relaxed) {
                if (try? ObjectLocks.tryWriteLock(first, byte: 3)) == .taken { ObjectLocks.unlock(first, byte: 3) }
            }
            finished.signal()
        }
        churn.start()
        defer {
            // The thread stops before the descriptions close (their numbers could be reused).
            stop.store(true, ordering: .relaxed)
            finished.wait()
        }
        var readers = 0
        for _ in 0..<20_000 {
            let attempt = try ObjectLocks.tryWriteLock(files.second, byte: 3)
            if attempt == .blockedByReader { readers += 1 }
            if attempt == .taken { ObjectLocks.unlock(files.second, byte: 3) }
        }
        #expect(readers == 0)
    }
}
