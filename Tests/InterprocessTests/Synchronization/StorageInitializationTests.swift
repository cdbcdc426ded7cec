import Interprocess
import Testing

/// `initializeStorage(in:at:)` checks the placement against the payload it is given, so a wrong
/// offset in a creator's initializer is a typed error, never a write past the segment.
@Suite struct StorageInitializationTests {
    @Test func offsetsOutsideThePayloadOrMisalignedAreRefused() throws {
        let segment = try SharedMemory.anonymous(size: 256)
        try segment.withUnsafeMutableBytes { (payload) throws(SharedMemoryError) in
            for offset in [-8, 4, 200, 256, 1 << 20] {
                func refused(_ body: () throws -> Void) -> Bool {
                    do {
                        try body()
                        return false
                    } catch {
                        guard case .invalidPlacement(let o, let size, _)? = error as? SharedMemoryError else {
                            return false
                        }
                        return o == offset && size == 64
                    }
                }
                #expect(refused { try ProcessMutex.initializeStorage(in: payload, at: offset) }, "mutex at \(offset)")
                #expect(
                    refused { try ProcessCondition.initializeStorage(in: payload, at: offset) },
                    "condition at \(offset)")
                #expect(
                    refused { try ProcessSemaphore.initializeStorage(in: payload, at: offset, initialValue: 1) },
                    "semaphore at \(offset)")
                #expect(
                    refused { try ProcessEvent.initializeStorage(in: payload, at: offset, resetMode: .manual) },
                    "event at \(offset)")
            }
            // The last place that fits.
            try ProcessSemaphore.initializeStorage(in: payload, at: 192, initialValue: 3)
        }
        let semaphore = try ProcessSemaphore(in: segment, at: 192)
        #expect(semaphore.tryWait())
    }
}
