import Synchronization

/// A 32-bit atomic at a stable heap address, so that the kernel can sleep on it as a futex.
///
/// `Atomic` cannot be addressed from Swift while it is a stored property, and the futex call
/// needs its address; allocating the word on its own gives it one. Each owner documents the
/// word's values as a state machine where it declares it.
///
/// Unsafe: the owner calls `deallocate()` exactly once, after every thread that may still wait
/// on or wake the word is done with it.
struct _FutexWord: @unchecked Sendable {
    let storage: UnsafeMutablePointer<Atomic<UInt32>>

    init(_ initialValue: UInt32) {
        storage = .allocate(capacity: 1)
        storage.initialize(to: Atomic(initialValue))
    }

    func deallocate() {
        storage.deinitialize(count: 1)
        storage.deallocate()
    }

    /// The word as the kernel sees it.
    @inline(__always)
    var address: UnsafeMutablePointer<UInt32> {
        UnsafeMutableRawPointer(storage).assumingMemoryBound(to: UInt32.self)
    }

    @inline(__always)
    var atomic: UnsafeMutablePointer<Atomic<UInt32>> { storage }
}

/// Atomic integers each on its own pair of cache lines, so that words written by different
/// threads never share a line (adjacent-line prefetch makes 128 bytes the safe distance).
struct _PaddedCounters: @unchecked Sendable {
    static let stride = 128 / MemoryLayout<Atomic<Int>>.stride
    let base: UnsafeMutablePointer<Atomic<Int>>
    let count: Int

    init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 128 * count, alignment: 128)
        base = raw.bindMemory(to: Atomic<Int>.self, capacity: count * Self.stride)
        for i in 0..<(count * Self.stride) { (base + i).initialize(to: Atomic(0)) }
    }

    /// The counter in line `line`; `offset` (below `stride`) selects a neighbour that the same
    /// writer owns.
    @inline(__always)
    subscript(line: Int, offset: Int = 0) -> UnsafeMutablePointer<Atomic<Int>> {
        base + (line * Self.stride + offset)
    }

    func deallocate() {
        base.deinitialize(count: count * Self.stride)
        UnsafeMutableRawPointer(base).deallocate()
    }
}
