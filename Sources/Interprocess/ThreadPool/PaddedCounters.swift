import Synchronization

/// Atomic integers each on its own pair of cache lines, so that words written by different
/// threads never share a line (adjacent-line prefetch makes 128 bytes the safe distance).
struct PaddedCounters: @unchecked Sendable {
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
