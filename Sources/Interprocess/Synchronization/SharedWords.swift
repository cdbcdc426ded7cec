import Synchronization

/// A 32-bit atomic word in shared memory, usable both atomically and as a futex.
///
/// Process-shared objects are plain words at fixed offsets of a mapping; this names one and
/// offers the two views of it the primitives need.
struct SharedWord {
    let address: UnsafeMutablePointer<UInt32>

    init(_ base: UnsafeMutableRawPointer, offset: Int) {
        address = (base + offset).assumingMemoryBound(to: UInt32.self)
    }

    /// The word as an atomic (it was placed in memory by `initializeMemory`, never as a Swift
    /// value, so the pointer cast is the only way to name it).
    @inline(__always)
    var atomic: UnsafeMutablePointer<Atomic<UInt32>> {
        UnsafeMutableRawPointer(address).assumingMemoryBound(to: Atomic<UInt32>.self)
    }
}
