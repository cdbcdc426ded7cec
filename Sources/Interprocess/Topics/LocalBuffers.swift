/// A fixed-size array of an endpoint's own state, allocated once: no copy-on-write, no
/// uniqueness check on a write, which the per-message paths of a topic cannot afford. The owner
/// deallocates it (``deallocate()``) when it goes.
struct LocalArray<Element: BitwiseCopyable> {
    let base: UnsafeMutablePointer<Element>
    let count: Int

    init(repeating value: Element, count: Int) {
        self.count = count
        base = .allocate(capacity: max(1, count))
        base.initialize(repeating: value, count: max(1, count))
    }

    subscript(index: Int) -> Element {
        @inline(__always) get { base[index] }
        @inline(__always) nonmutating set { base[index] = newValue }
    }

    func fill(with value: Element) { base.update(repeating: value, count: count) }

    func deallocate() { base.deallocate() }
}

/// A bounded stack (or list) of an endpoint's own state, allocated once (see ``LocalArray``).
struct LocalStack<Element: BitwiseCopyable> {
    let base: UnsafeMutablePointer<Element>
    let capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(capacity: max(1, capacity))
    }

    var isEmpty: Bool { count == 0 }

    /// - Precondition: `count < capacity` (every caller pushes at most what it holds).
    @inline(__always)
    mutating func append(_ value: Element) {
        precondition(count < capacity, "a local stack overflowed")
        base[count] = value
        count += 1
    }

    @inline(__always)
    mutating func popLast() -> Element? {
        guard count > 0 else { return nil }
        count -= 1
        return base[count]
    }

    subscript(index: Int) -> Element {
        @inline(__always) get { base[index] }
        @inline(__always) nonmutating set { base[index] = newValue }
    }

    /// The element `popLast()` would return.
    var last: Element? { count > 0 ? base[count - 1] : nil }

    var indices: Range<Int> { 0..<count }

    mutating func removeAll() { count = 0 }

    /// Keeps the elements for which `keep` is true, in order.
    mutating func retain(where keep: (Element) -> Bool) {
        var kept = 0
        for i in 0..<count where keep(base[i]) {
            base[kept] = base[i]
            kept += 1
        }
        count = kept
    }

    /// Reverses the elements from `start` on.
    func reverse(from start: Int) {
        var run = UnsafeMutableBufferPointer(start: base + start, count: count - start)
        run.reverse()
    }

    func deallocate() { base.deallocate() }
}
