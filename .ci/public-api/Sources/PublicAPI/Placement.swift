import Interprocess

/// The placement example of the "Shared memory and its lifecycle" article, and the payload
/// accessors, as a client writes them.
func placeInOwnLayout() throws {
    let segment = try SharedMemory(named: "queue", size: 4096) { (payload) throws(SharedMemoryError) in
        try ProcessMutex.initializeStorage(in: payload, at: 0)
        try ProcessCondition.initializeStorage(in: payload, at: 64)
    }
    let lock = try ProcessMutex(in: segment, at: 0)
    let ready = try ProcessCondition(in: segment, at: 64)
    segment.withUnsafeMutableBytes { $0.storeBytes(of: 42, toByteOffset: 128, as: Int.self) }
    _ = try lock.withLock { try ready.wait(on: lock, timeout: .milliseconds(1)) }
    try segment.remove()
}
