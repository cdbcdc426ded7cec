import SystemPackage

/// A fixed-size array of `Element`s in a named shared-memory segment.
///
/// Processes create or open it by name; the element type and count are recorded at creation and
/// checked on every open, and elements are read and written in place — no copies, no
/// serialisation.
///
/// ```swift
/// let data = try SharedArray<Int>(named: "demo.data", count: 5, initialValue: -1)
/// data[2] = 2
/// ```
///
/// Element accesses are plain loads and stores: protect concurrent writers and readers with a
/// ``ProcessMutex`` or use a channel.
///
/// An array handle is not `Sendable`: its subscript is unsynchronised, so the compiler keeps
/// two tasks or threads of this process from sharing one handle. Each thread that needs the
/// array opens its own handle (``init(named:owners:timeout:)``) and synchronises with the
/// others as it would with another process.
public final class SharedArray<Element: BitwiseCopyable> {

    /// The segment holding the elements.
    public let segment: SharedMemory
    /// The first element; stored (as is ``count``) so that the inlinable subscript specialises
    /// in the caller into a bounds check and a load or store.
    @usableFromInline let base: UnsafeMutablePointer<Element>

    /// The number of elements (the count recorded at creation, checked against the mapping when
    /// the array was opened).
    public let count: Int

    /// Creates the array `name` with `count` copies of `initialValue`, or opens it if it exists
    /// (`.openOrCreate`) with the same element type and count.
    ///
    /// - Throws: ``SharedMemoryError``: ``SharedMemoryError/Mismatch/elementType(expected:found:)``
    ///   if the existing array holds another type, ``SharedMemoryError/Mismatch/capacity(expected:found:)``
    ///   for another count, ``SharedMemoryError/invalidSize(_:reason:)`` for `count < 1`.
    public init(
        named name: String, count: Int, initialValue: Element, mode: SharedMemory.OpenMode = .openOrCreate,
        permissions: FilePermissions = [.ownerRead, .ownerWrite], lifetime: SharedMemory.Lifetime = .persistent,
        owners: SharedMemory.OwnerPolicy = .currentUser, timeout: Duration = .seconds(5)
    ) throws(SharedMemoryError) {
        guard count > 0 else { throw .invalidSize(count, reason: "an array holds at least one element") }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Element>.stride)
        guard !overflow else { throw .invalidSize(count, reason: "too many elements") }
        let layout = SharedMemory.Layout(
            kind: .array, payloadSize: max(bytes, 1), capacity: count, elementType: ElementType(Element.self),
            kindParameters: [], checksCapacity: true, lifetime: lifetime)
        segment = try SharedMemory(
            name: try SegmentName(name), mode: mode, layout: layout, permissions: permissions, owners: owners,
            timeout: timeout,
            initialize: { payload in
                payload.baseAddress!.initializeMemory(as: Element.self, repeating: initialValue, count: count)
            })
        base = segment.bytes.baseAddress!.assumingMemoryBound(to: Element.self)
        self.count = segment.capacity
    }

    /// Opens the existing array `name`, whatever its count.
    ///
    /// - Throws: ``SharedMemoryError``, such as ``SharedMemoryError/notFound(name:)`` or
    ///   ``SharedMemoryError/Mismatch/elementType(expected:found:)``.
    public init(
        named name: String, owners: SharedMemory.OwnerPolicy = .currentUser, timeout: Duration = .seconds(5)
    ) throws(SharedMemoryError) {
        let layout = SharedMemory.Layout(
            kind: .array, payloadSize: 0, capacity: 0, elementType: ElementType(Element.self),
            kindParameters: [], checksCapacity: false)
        segment = try SharedMemory(
            name: try SegmentName(name), mode: .open, layout: layout, permissions: [], owners: owners, timeout: timeout,
            initialize: { _ in })
        base = segment.bytes.baseAddress!.assumingMemoryBound(to: Element.self)
        self.count = segment.capacity
    }

    /// Reads or writes the element at `index`.
    ///
    /// - Precondition: `0 <= index < count`.
    @inlinable
    public subscript(index: Int) -> Element {
        get {
            precondition(index >= 0 && index < count, "SharedArray index \(index) out of range 0..<\(count)")
            return base[index]
        }
        set {
            precondition(index >= 0 && index < count, "SharedArray index \(index) out of range 0..<\(count)")
            base[index] = newValue
        }
    }

    /// Calls `body` with the elements in place.
    public func withUnsafeMutableBufferPointer<R, E: Error>(
        _ body: (UnsafeMutableBufferPointer<Element>) throws(E) -> R
    ) throws(E) -> R {
        try body(UnsafeMutableBufferPointer(start: base, count: count))
    }

    /// A copy of every element.
    public var elements: [Element] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// Removes the array's name (see ``SharedMemory/remove()``).
    /// - Throws: ``SharedMemoryError``.
    public func remove() throws(SharedMemoryError) { try segment.remove() }
}
